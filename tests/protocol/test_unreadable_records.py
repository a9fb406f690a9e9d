"""A stored record that cannot be rendered fails its own read only; lists and contexts skip it."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.server.cluster import TaskVersion
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import Message, Part, Role, Task, TaskState, TaskStatus

from a2a_server.settings import Settings
from a2a_server.stores.base import SCOPE_KEY, Scope
from tests.conftest import DEMO, V1, running_app, user_message_v03

AGENT = "/agents/echo/v1"


def _poisoned(kind: str) -> Task:
    """A task written before the edge refused its content (or by a faulty agent)."""
    message = Message(message_id=f"m-{kind}", role=Role.ROLE_USER, context_id="ctx-poison",
                      parts=[Part(text="ok")])
    if kind == "empty-part":  # unrenderable in 0.3
        message.parts.append(Part())
    else:  # NaN: unprintable as JSON in both versions
        message.metadata.update({"x": math.nan})
    return Task(id=f"t-{kind}", context_id="ctx-poison", history=[message],
                status=TaskStatus(state=TaskState.TASK_STATE_COMPLETED))


@pytest.fixture
async def app_http(backend: str, settings_for: Callable[..., Settings],
                   agents_dir: Path) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    async with running_app(settings_for(backend, agents_dir=agents_dir)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


@pytest.mark.parametrize("kind", ["empty-part", "nan"])
async def test_one_bad_record_does_not_break_the_list(
    app_http: tuple[Any, httpx.AsyncClient], kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, http = app_http
    good = await http.post(f"{AGENT}/message:send", headers=DEMO,
                           json=user_message_v03("fine", contextId="ctx-poison"))
    good_id = good.json()["task"]["id"]
    stores = app.state.server.stores
    context = ServerCallContext(state={SCOPE_KEY: Scope("demo", "echo")})
    await stores.tasks.save(_poisoned(kind), event=None, prev=None,
                            prev_version=TaskVersion.MISSING, context=context)
    await stores.contexts.add_task(Scope("demo", "echo"), "ctx-poison", f"t-{kind}")
    caplog.set_level(logging.WARNING)
    for version in ({}, V1):
        listed = await http.get(f"{AGENT}/tasks", headers={**DEMO, **version})
        assert listed.status_code == 200, listed.text
        ids = [t["id"] for t in listed.json()["tasks"]]
        assert good_id in ids
        renderable = kind == "empty-part" and version == V1  # 1.0 prints an empty part
        assert (f"t-{kind}" in ids) == renderable
        context_page = await http.get(f"{AGENT}/contexts/ctx-poison", headers={**DEMO, **version})
        assert context_page.status_code == 200, context_page.text
        good_read = await http.get(f"{AGENT}/tasks/{good_id}", headers={**DEMO, **version})
        assert good_read.status_code == 200
    bad = await http.get(f"{AGENT}/tasks/t-{kind}", headers=DEMO)  # 0.3: both kinds fail
    assert bad.status_code == 500
    assert "cannot render" in bad.json()["error"]["message"]
    assert "Traceback" not in bad.text
    assert f"t-{kind}" in caplog.text
