"""uvicorn factory for this server under benchmark: ``bench.ours:create``.

Settings come from the environment exactly as for ``a2a-server serve``
(``A2A_SERVER_REDIS_URL`` selects Redis); the harness points
``A2A_SERVER_AGENTS_DIR`` at ``bench/agent_cards``. The only addition is the
benchmark's seeding route, which writes through the configured store.
"""

from __future__ import annotations

from a2a.server.cluster import TaskVersion
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import Task
from fastapi import FastAPI

from a2a_server.app import create_app
from a2a_server.settings import Settings
from a2a_server.stores.base import SCOPE_KEY, Scope, set_current_scope
from bench.seed import seed_route

TENANT, AGENT = "demo", "echo"


def create() -> FastAPI:
    """Our app, plus ``POST /__bench/seed``."""
    app = create_app(Settings())
    stores = app.state.server.stores
    scope = Scope(TENANT, AGENT)

    async def save(task: Task) -> None:
        set_current_scope(scope)
        await stores.tasks.save(task, event=None, prev=None, prev_version=TaskVersion.MISSING,
                                context=ServerCallContext(state={SCOPE_KEY: scope}))

    app.router.routes.insert(0, seed_route(save))
    return app
