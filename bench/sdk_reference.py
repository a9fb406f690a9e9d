"""The a2a-sdk reference server, built from the SDK itself, for comparison.

``bench.sdk_reference:create_memory`` uses ``InMemoryTaskStore``;
``bench.sdk_reference:create_sqlite`` uses ``DatabaseTaskStore`` on SQLite
(``sqlite+aiosqlite``, file given by ``BENCH_SQLITE_PATH``). Both serve the
A2A 1.0 HTTP+JSON and JSON-RPC routes at the root with ``DefaultRequestHandlerV2``
and the same executor class as our server (``bench.agents.BenchEchoExecutor``,
i.e. our echo agent). No authentication: the SDK has none to offer.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from a2a.server.context import ServerCallContext
from a2a.server.request_handlers import DefaultRequestHandlerV2
from a2a.server.routes import create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import DatabaseTaskStore, InMemoryTaskStore, TaskStore
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface, AgentSkill, Task
from starlette.applications import Starlette

from bench.agents import BenchEchoExecutor
from bench.seed import seed_route


def _card() -> AgentCard:
    url = os.environ.get("BENCH_PUBLIC_URL", "http://127.0.0.1")
    return AgentCard(
        name="Echo", description="Echoes your text back as an artifact.", version="1.0.0",
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"], default_output_modes=["text/plain"],
        supported_interfaces=[AgentInterface(url=url, protocol_binding="HTTP+JSON",
                                             protocol_version="1.0")],
        skills=[AgentSkill(id="echo", name="Echo", description="Repeats the user's text.",
                           tags=["demo"])],
    )


def _create(store: TaskStore, engine: object | None = None) -> Starlette:
    handler = DefaultRequestHandlerV2(
        agent_executor=BenchEchoExecutor(), task_store=store, agent_card=_card()
    )

    async def save(task: Task) -> None:
        await store.save(task, ServerCallContext())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        del app
        if isinstance(store, DatabaseTaskStore):
            await store.initialize()
        try:
            yield
        finally:
            if engine is not None:
                await engine.dispose()  # type: ignore[attr-defined]

    routes = [seed_route(save), *create_jsonrpc_routes(handler, "/"),
              *create_rest_routes(handler)]
    return Starlette(routes=routes, lifespan=lifespan)


def create_memory() -> Starlette:
    """The SDK server on ``InMemoryTaskStore``."""
    return _create(InMemoryTaskStore())


def create_sqlite() -> Starlette:
    """The SDK server on ``DatabaseTaskStore`` (SQLite via aiosqlite)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(f"sqlite+aiosqlite:///{os.environ['BENCH_SQLITE_PATH']}")
    return _create(DatabaseTaskStore(engine), engine)
