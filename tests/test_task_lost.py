"""A task that vanishes from the store while it runs ends with a defined 503, never a 500."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.server.context import ServerCallContext

from a2a_server.settings import Settings
from a2a_server.stores.base import SCOPE_KEY, Scope
from tests.conftest import DEMO, running_app, user_message_v03
from tests.test_replicas import agents_with_slow

AGENT = "/agents/echo/v1"


@pytest.fixture
async def app_http(backend: str, settings_for: Callable[..., Settings],
                   tmp_path: Path) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    agents = agents_with_slow(tmp_path / "agents", 1.0)
    async with running_app(settings_for(backend, agents_dir=agents)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     timeout=30) as client:
            yield app, client


async def _vanish_once_working(app: Any, http: httpx.AsyncClient) -> None:
    """Wait until the slow task is stored as working, then remove it behind the run's back."""
    scope = Scope("demo", "echo")
    for _ in range(200):
        listed = (await http.get(f"{AGENT}/tasks", headers=DEMO)).json()["tasks"]
        if listed and listed[0]["status"]["state"] == "working":
            context = ServerCallContext(state={SCOPE_KEY: scope})
            await app.state.server.stores.tasks.delete(listed[0]["id"], context)
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the slow task never showed up as working")


async def test_a_blocking_send_whose_task_vanishes_gets_503(
    app_http: tuple[Any, httpx.AsyncClient],
) -> None:
    app, http = app_http
    send = asyncio.create_task(http.post(f"{AGENT}/message:send", headers=DEMO,
                                         json=user_message_v03("slow please")))
    await _vanish_once_working(app, http)
    response = await send
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["status"] == "UNAVAILABLE" and "lost task" in error["message"]


async def test_a_stream_whose_task_vanishes_ends_with_a_503_event(
    app_http: tuple[Any, httpx.AsyncClient],
) -> None:
    app, http = app_http
    stream = asyncio.create_task(http.post(f"{AGENT}/message:stream", headers=DEMO,
                                           json=user_message_v03("slow please")))
    await _vanish_once_working(app, http)
    response = await stream
    assert response.status_code == 200
    frames = [block for block in response.text.split("\r\n\r\n") if block.strip()]
    last = frames[-1]
    assert "event: error" in last, response.text
    data = json.loads(last.split("data: ", 1)[1])
    assert data["error"]["code"] == 503 and "lost task" in data["error"]["message"]
