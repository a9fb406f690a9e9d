"""``GET /openapi.json``, ``GET /docs`` (Swagger UI) and its assets, served locally (no CDN).

Swagger UI's files come from the ``fastapi-offline`` package (swagger-ui 5, which
renders OpenAPI 3.1; AGENT-NOTES B.3).
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
import orjson
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from a2a_server.openapi.document import build_document

ASSETS = Path(fastapi_offline.__file__).parent / "static"
_ASSET_PREFIX = "/static-docs"


def docs_routes(*, title: str, version: str, token_url: str) -> list[BaseRoute]:
    """The three routes; the document is built once, on first request."""
    cached: list[bytes] = []

    async def openapi(request: Request) -> Response:
        del request
        if not cached:
            cached.append(orjson.dumps(build_document(title=title, version=version,
                                                      token_url=token_url)))
        return Response(cached[0], media_type="application/json")

    async def docs(request: Request) -> Response:
        del request
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{title} API",
                                   swagger_js_url=f"{_ASSET_PREFIX}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{_ASSET_PREFIX}/swagger-ui.css",
                                   swagger_favicon_url=f"{_ASSET_PREFIX}/favicon.png")

    return [Route("/openapi.json", openapi, methods=["GET"]),
            Route("/docs", docs, methods=["GET"]),
            Mount(_ASSET_PREFIX, StaticFiles(directory=ASSETS), name="static-docs")]
