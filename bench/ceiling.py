"""The ceilings: a fixed 1 KB JSON body, served by bare Starlette (``bench.ceiling:create``)
and by a raw ASGI callable with no framework at all (``bench.ceiling:create_raw``, the floor
of anything served by uvicorn + httptools on this command line)."""

from __future__ import annotations

from typing import Any

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


_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def _raw(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":  # lifespan: accept start-up and shut-down
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif kind == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def create_raw() -> Any:
    """A raw ASGI app: every HTTP request gets the same 1,024 bytes of JSON, no routing."""
    return _raw
