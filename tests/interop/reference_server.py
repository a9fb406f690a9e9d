"""A plain ``a2a-sdk`` reference server: nothing of a2a_server, only the SDK's own pieces.

``create_jsonrpc_routes`` + ``create_rest_routes`` + ``create_agent_card_routes``,
``DefaultRequestHandler`` over an ``InMemoryTaskStore``, a tiny echo executor,
a Starlette app under uvicorn on a free port. Used to show that
``a2a-server check`` works on a server we did not write.

Deliberate faults, for negative tests:

- ``require_api_key=None`` while the card declares an API-key requirement:
  security declared but not enforced.
- ``handler_streaming=False`` while the card declares streaming: the SDK's
  handler refuses streaming the card promises.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn
from a2a.helpers.proto_helpers import get_message_text, new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    APIKeySecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


class EchoExecutor(AgentExecutor):
    """Answers with a completed task whose artifact echoes the text."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        assert message is not None
        if context.current_task is None:
            await event_queue.enqueue_event(new_task_from_user_message(message))
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        text = get_message_text(message)
        await updater.start_work(updater.new_agent_message([new_text_part("echoing")]))
        await updater.add_artifact([new_text_part(f"echo: {text}")], name="echo")
        await updater.complete(updater.new_agent_message([new_text_part(f"echo: {text}")]))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()


def reference_card(base_url: str, *, streaming: bool = True, api_key_header: str | None = None
                   ) -> AgentCard:
    """The card the reference server serves."""
    card = AgentCard(
        name="SDK reference echo",
        description="A plain a2a-sdk server (tests only)",
        version="1.0.0",
        capabilities=AgentCapabilities(streaming=streaming, push_notifications=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="echo", name="Echo", description="Echoes", tags=["test"])],
        supported_interfaces=[
            AgentInterface(url=f"{base_url}/a2a/jsonrpc", protocol_binding="JSONRPC",
                           protocol_version="1.0"),
            AgentInterface(url=f"{base_url}/a2a/rest", protocol_binding="HTTP+JSON",
                           protocol_version="1.0"),
        ],
    )
    if api_key_header:
        card.security_schemes["key"].CopyFrom(SecurityScheme(
            api_key_security_scheme=APIKeySecurityScheme(location="header", name=api_key_header)))
        card.security_requirements.append(SecurityRequirement(schemes={"key": StringList()}))
    return card


def build_app(base_url: str, *, card_streaming: bool = True, handler_streaming: bool = True,
              card_api_key_header: str | None = None, require_api_key: str | None = None
              ) -> ASGIApp:
    """The reference app; see the module docstring for the fault switches."""
    card = reference_card(base_url, streaming=card_streaming, api_key_header=card_api_key_header)
    handler_card = AgentCard()
    handler_card.CopyFrom(card)
    handler_card.capabilities.streaming = handler_streaming
    handler = DefaultRequestHandler(agent_executor=EchoExecutor(), task_store=InMemoryTaskStore(),
                                    agent_card=handler_card)
    routes: list[Any] = [
        *create_agent_card_routes(card),
        *create_jsonrpc_routes(handler, rpc_url="/a2a/jsonrpc"),
        *create_rest_routes(handler, path_prefix="/a2a/rest"),
    ]
    app = Starlette(routes=routes)
    if require_api_key:
        return _RequireApiKey(app, card_api_key_header or "X-API-Key", require_api_key)
    return app


class _RequireApiKey:
    """ASGI middleware: every /a2a/ request must carry the API key (the card stays public)."""

    def __init__(self, app: ASGIApp, header: str, key: str) -> None:
        self.app = app
        self.header = header.lower().encode()
        self.key = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/a2a/"):
            headers = dict(scope["headers"])
            if headers.get(self.header) != self.key:
                await JSONResponse({"error": "unauthenticated"}, status_code=401)(
                    scope, receive, send)
                return
        await self.app(scope, receive, send)


class ReferenceServer:
    """The reference app under uvicorn in a thread."""

    def __init__(self, port: int, **options: Any) -> None:
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(build_app(self.url, **options), host="127.0.0.1", port=port,
                                log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ReferenceServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the reference server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
