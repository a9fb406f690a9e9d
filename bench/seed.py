"""Tasks written straight through a server's task store before load (no HTTP).

Each server under test exposes ``POST /__bench/seed`` (only in the benchmark's app
factories, never in the product) that calls ``build_tasks`` and saves the result
through that server's own store API, so the stored form is exactly what the
server itself would write.
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from a2a.types.a2a_pb2 import Artifact, Message, Part, Role, Task, TaskState, TaskStatus
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SEED_PATH = "/__bench/seed"

SaveTask = Callable[[Task], Awaitable[None]]


def _message(index: int, task_id: str, context_id: str) -> Message:
    role = Role.ROLE_USER if index % 2 == 0 else Role.ROLE_AGENT
    text = f"message {index}: the quick brown fox jumps over the lazy dog"
    return Message(message_id=f"seed-{task_id[:8]}-{index}", role=role, task_id=task_id,
                   context_id=context_id, parts=[Part(text=text)])


def build_task(messages: int, state: TaskState.ValueType) -> Task:
    """A task holding ``messages`` history entries (alternating user/agent), in ``state``."""
    task_id, context_id = str(uuid.uuid4()), str(uuid.uuid4())
    task = Task(id=task_id, context_id=context_id, status=TaskStatus(state=state))
    task.status.timestamp.GetCurrentTime()
    task.history.extend(_message(i, task_id, context_id) for i in range(messages))
    task.artifacts.append(Artifact(artifact_id=str(uuid.uuid4()), name="echo",
                                   parts=[Part(text="echo: seeded")]))
    return task


async def seed(save: SaveTask, spec: dict[str, Any]) -> dict[str, Any]:
    """Save the tasks ``spec`` asks for; return their ids.

    spec: ``{"completed": [1000, 10000], "open": {"count": 64, "messages": 1000}}``.
    """
    out: dict[str, Any] = {"completed": {}, "open": []}
    for size in spec.get("completed", []):
        task = build_task(int(size), TaskState.TASK_STATE_COMPLETED)
        await save(task)
        out["completed"][str(size)] = {"id": task.id, "contextId": task.context_id}
    open_spec = spec.get("open") or {}
    for _ in range(int(open_spec.get("count", 0))):
        task = build_task(int(open_spec["messages"]), TaskState.TASK_STATE_INPUT_REQUIRED)
        await save(task)
        out["open"].append({"id": task.id, "contextId": task.context_id})
    return out


def seed_route(save: SaveTask) -> Route:
    """The ``POST /__bench/seed`` route bound to one server's ``save``."""

    async def endpoint(request: Request) -> Response:
        result = await seed(save, orjson.loads(await request.body()))
        # Set-up, not load: the collector walks what the seed left young (hundreds of
        # thousands of new containers, ~20 ms) now, not in the first measured cell's streams.
        gc.collect()
        return Response(orjson.dumps(result), media_type="application/json")

    return Route(SEED_PATH, endpoint, methods=["POST"])
