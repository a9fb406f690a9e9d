"""The web console at ``/console``: static files, served from the package, same origin as the API.

The console is only a client of the API (see ``docs/console.md``): plain ES modules
and CSS under ``static/``, no build step and nothing loaded from elsewhere. Its
pages are served with a Content-Security-Policy that allows only this origin, so
a script injected through rendered agent output could neither run nor send the
credentials the console keeps in ``sessionStorage`` anywhere else.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Small files, changed with each release: revalidate (ETag) rather than serve stale.
    "Cache-Control": "no-cache",
}


_RAW_HEADERS = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]


class ConsoleFiles(StaticFiles):
    """``StaticFiles`` (index.html for the directory) with the console's security headers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a file, adding the headers to the response start."""

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *_RAW_HEADERS]}
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


async def _to_index(request: Request) -> Response:
    del request
    return RedirectResponse("/console/", status_code=308)


def console_routes() -> list[BaseRoute]:
    """``/console`` (redirect) and ``/console/...`` (the files)."""
    return [
        Route("/console", _to_index, methods=["GET", "HEAD"]),
        Mount("/console", app=ConsoleFiles(directory=STATIC_DIR, html=True), name="console"),
    ]
