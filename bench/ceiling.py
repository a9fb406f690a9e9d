"""The ceiling: a bare Starlette app returning a fixed 1 KB body (``bench.ceiling:create``)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = b'{"padding":"' + b"x" * (1024 - 14) + b'"}'


async def _fixed(request: Request) -> Response:
    del request
    return Response(BODY, media_type="application/json")


def create() -> Starlette:
    """One route, ``GET /``, 1,024 bytes of JSON."""
    return Starlette(routes=[Route("/", _fixed, methods=["GET"])])
