"""Request size limits, enforced before any handler runs."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from a2a_server.errors import PayloadTooLarge, jsonrpc_error, rest_error
from a2a_server.observability.http import STATUS_KEY
from a2a_server.seeds.errors import shannon_error


def _is_jsonrpc_path(path: str) -> bool:
    path = path.rstrip("/")
    return path.endswith(("/v1", "/a2a"))


class BodySizeLimit:
    """Buffers request bodies up to ``max_bytes``; larger ones get 413 in the binding's format."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._reject(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLarge(self.max_bytes)
        if scope["path"].startswith("/api/v1/"):  # Shannon's API: {"error": "..."}
            response = shannon_error(error)
        elif _is_jsonrpc_path(scope["path"]):
            response = jsonrpc_error(None, error)
        else:
            response = rest_error(error)
        scope[STATUS_KEY] = response.status_code  # for RequestObserver.record_fast
        await response(scope, receive, send)
