"""Created agents across two replicas on one Redis: usable at once from the other replica,
changes and deletes seen there, a delete on one replica cancels a run on the other."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from a2a.types.a2a_pb2 import Task, TaskState

from tests.conftest import DEMO, V1, LiveServer, user_message_v1
from tests.llm.conftest import Provider
from tests.llm.test_agent_crud import CREATE, policy_file

SEND = {**DEMO, **V1}


@pytest.fixture
def pair(live_server_factory: Callable[..., LiveServer], tmp_path: Path, provider: Provider,
         monkeypatch: pytest.MonkeyPatch) -> tuple[LiveServer, LiveServer]:
    monkeypatch.setenv("STANDIN_API_KEY", "sk-standin")
    policy = policy_file(tmp_path, provider)
    return (live_server_factory("redis", tenant_agents_file=policy, lease_seconds=1.5),
            live_server_factory("redis", tenant_agents_file=policy, lease_seconds=1.5))


async def until(check: Callable[[], Any], seconds: float = 10) -> Any:
    """Poll ``check`` (an async callable) until it returns something truthy."""
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)


async def test_created_on_one_replica_served_by_the_other(
        pair: tuple[LiveServer, LiveServer], provider: Provider) -> None:
    a, b = pair
    provider.rule("hello", {"text": "Hi", "usage": {"prompt_tokens": 3, "completion_tokens": 1}})
    async with httpx.AsyncClient(timeout=30) as http:
        # B reads its card first: it caches the agent, so the change below must reach it.
        made = await http.post(f"{a.url}/agents", json=CREATE, headers=DEMO)
        agent_id = made.json()["id"]
        card = await http.get(f"{b.url}/agents/{agent_id}/agent-card.json", headers=DEMO)
        assert card.status_code == 200 and card.json()["name"] == "Triage"
        sent = await http.post(f"{b.url}/agents/{agent_id}/v1/message:send",
                               json=user_message_v1("hello"), headers=SEND)
        assert sent.status_code == 200, sent.text
        finished = sent.json()["task"]
        assert finished["status"]["state"] == "TASK_STATE_COMPLETED"

        patched = await http.patch(f"{a.url}/agents/{agent_id}", json={"name": "Sorter"},
                                   headers=DEMO)
        assert patched.status_code == 200

        async def renamed() -> bool:
            got = await http.get(f"{b.url}/agents/{agent_id}/agent-card.json", headers=DEMO)
            return bool(got.json()["name"] == "Sorter")

        assert await until(renamed)
        assert (await http.delete(f"{a.url}/agents/{agent_id}", headers=DEMO)).status_code == 204

        async def gone() -> bool:
            got = await http.post(f"{b.url}/agents/{agent_id}/v1/message:send",
                                  json=user_message_v1("hello"), headers=SEND)
            return got.status_code == 404

        assert await until(gone)
        assert (await http.get(f"{b.url}/agents/{agent_id}", headers=DEMO)).status_code == 404
        kept = await http.get(f"{b.url}/agents/{agent_id}/v1/tasks/{finished['id']}", headers=SEND)
        assert kept.status_code == 200 and kept.json()["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_delete_on_one_replica_cancels_a_run_on_the_other(
        pair: tuple[LiveServer, LiveServer], provider: Provider, redis_url: str) -> None:
    a, b = pair
    provider.rule("wait", {"kind": "hang", "seconds": 8})
    async with httpx.AsyncClient(timeout=30) as http:
        agent_id = (await http.post(f"{a.url}/agents", json=CREATE, headers=DEMO)).json()["id"]
        body = {**user_message_v1("wait for it"), "configuration": {"returnImmediately": True}}
        sent = await http.post(f"{b.url}/agents/{agent_id}/v1/message:send", json=body,
                               headers=SEND)
        task_id = sent.json()["task"]["id"]

        async def calling() -> bool:
            return bool(provider.requests())

        assert await until(calling)
        assert (await http.delete(f"{a.url}/agents/{agent_id}", headers=DEMO)).status_code == 204

    client = redis.Redis.from_url(redis_url)
    raw = client.hget(f"a2a:{{t:demo:{agent_id}:{task_id}}}:task", "d")
    client.close()
    assert raw is not None
    task = Task()
    task.ParseFromString(raw)
    assert task.status.state == TaskState.TASK_STATE_CANCELED
