"""A real MCP server for tests: the ``mcp`` package's ``MCPServer`` over streamable HTTP.

Run as ``python -m tests.mcp_server --port N [--token T] [--client-id ID --client-secret S]``.
With ``--token``, every request to ``/mcp`` must carry ``Authorization: Bearer T``.
With client credentials, ``POST /token`` is a small OAuth 2.0 token endpoint
(client credentials grant) that hands out ``T`` (``expires_in`` 3600) and
``GET /token-count`` says how many tokens it issued. With ``--stdio`` the same
tools are served over stdin/stdout instead.

Tools: ``add`` (structured int result), ``slow`` (sleeps), ``fail`` (raises),
``big`` (a long text), ``dotted.name`` (a name OpenAI does not allow), ``traceparent``
(the W3C ``traceparent`` the call's ``_meta`` carried, or "none").
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import uvicorn
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

server: MCPServer = MCPServer("test-tools")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def fail(reason: str) -> str:
    """Always fails."""
    raise ValueError(f"it failed: {reason}")


@server.tool()
def big(size: int) -> str:
    """A text of ``size`` characters."""
    return "x" * size


@server.tool()
def traceparent(ctx: Context) -> str:
    """The trace context this call carried in its ``_meta``."""
    meta = ctx.request_context.meta or {}
    value = meta.get("traceparent")
    return value if isinstance(value, str) else "none"


@server.tool(name="dotted.name")
def dotted() -> str:
    """A tool whose name has a dot."""
    return "dotted ok"


class BearerCheck:
    """Refuses requests under ``/mcp`` without the expected bearer token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/mcp"):
            headers = dict(scope["headers"])
            if headers.get(b"authorization", b"").decode() != f"Bearer {self.token}":
                await Response("unauthorized", status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_app(token: str | None, client_id: str | None, client_secret: str | None) -> ASGIApp:
    mcp_app = server.streamable_http_app()
    issued = {"count": 0}

    async def token_endpoint(request: Request) -> Response:
        form = await request.form()
        if (form.get("grant_type") != "client_credentials" or form.get("client_id") != client_id
                or form.get("client_secret") != client_secret):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        issued["count"] += 1
        body: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "expires_in": 3600,
                                "scope": form.get("scope", "")}
        return JSONResponse(body)

    async def token_count(request: Request) -> Response:
        return JSONResponse(issued)

    app = Starlette(
        routes=[Route("/token", token_endpoint, methods=["POST"]),
                Route("/token-count", token_count), Mount("/", mcp_app)],
        lifespan=lambda _: mcp_app.router.lifespan_context(mcp_app),
    )
    return BearerCheck(app, token) if token else app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token")
    parser.add_argument("--client-id")
    parser.add_argument("--client-secret")
    parser.add_argument("--stdio", action="store_true")
    args = parser.parse_args()
    if args.stdio:
        server.run(transport="stdio")
        return
    uvicorn.run(build_app(args.token, args.client_id, args.client_secret), host="127.0.0.1",
                port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
