"""An app with the shipped agents plus test agents (chat, direct)."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from a2a_server.settings import Settings
from tests.conftest import DEMO, REPO, running_app, user_message_v03


@pytest.fixture
def agents_dir(tmp_path: Path) -> Path:
    return make_agents_dir(tmp_path)


def make_agents_dir(tmp_path: Path) -> Path:
    """The shipped agents plus the test agents chat and direct, in ``tmp_path/agents``."""
    directory = tmp_path / "agents"
    shutil.copytree(REPO / "agent_cards", directory)
    card = json.loads((REPO / "agent_cards" / "echo.json").read_text())
    for agent_id, executor in (("chat", "tests.agents:ChatExecutor"),
                               ("direct", "tests.agents:DirectReplyExecutor")):
        (directory / f"{agent_id}.json").write_text(json.dumps({**card, "name": agent_id}))
        (directory / f"{agent_id}.binding.yaml").write_text(f"executor: {executor}\n")
    return directory


@pytest.fixture
async def http(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings_for(backend, agents_dir=agents_dir)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def chat_task(http: httpx.AsyncClient, turns: int) -> dict[str, Any]:
    """A chat task after ``turns`` user turns: history u1,a1,...,u_n and status message a_n."""
    sent = await http.post("/agents/chat/v1/message:send", json=user_message_v03("turn 1"),
                           headers=DEMO)
    task = sent.json()["task"]
    for turn in range(2, turns + 1):
        body = user_message_v03(f"turn {turn}", taskId=task["id"])
        sent = await http.post("/agents/chat/v1/message:send", json=body, headers=DEMO)
        assert sent.status_code == 200, sent.text
        task = sent.json()["task"]
    return task  # type: ignore[no-any-return]
