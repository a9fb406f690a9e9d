"""The seed views across replicas: two live servers on one real Redis.

A task created through A2A on replica A is read (and polled to its end by the
page's own sample) through Shannon's view on replica B, and the reverse; a
Shannon cancel on B stops a task running on A.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.seeds.test_samples import a2a_send, python_sample
from tests.test_replicas import agents_with_slow, get, wait_state

pytestmark = pytest.mark.timeout(120)
SHANNON = {"X-API-Key": "demo-key"}


def _pair(factory: Callable[..., LiveServer], agents: Path) -> tuple[LiveServer, LiveServer]:
    return (factory("redis", agents_dir=agents, lease_seconds=1.5),
            factory("redis", agents_dir=agents, lease_seconds=1.5))


async def shannon_status(http: httpx.AsyncClient, server: LiveServer, task_id: str) -> dict[str, Any]:
    got = await http.get(f"{server.url}/api/v1/tasks/{task_id}", headers=SHANNON)
    assert got.status_code == 200, got.text
    return got.json()  # type: ignore[no-any-return]


async def test_a2a_on_a_is_polled_to_its_end_through_shannon_on_b(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    a, b = _pair(live_server_factory, agents_with_slow(tmp_path / "agents", 3))
    task = await a2a_send(a, "slow across replicas")
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await shannon_status(http, b, task["id"]))["status"] == "TASK_STATUS_RUNNING"
    done = await asyncio.to_thread(python_sample, "wait_for_completion.py", tmp_path, b.url,
                                   task["id"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Result: echo: slow across replicas\n"


async def test_shannon_on_b_is_an_a2a_task_on_a(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    a, b = _pair(live_server_factory, agents_with_slow(tmp_path / "agents", 3))
    async with httpx.AsyncClient(timeout=10) as http:
        sent = await http.post(f"{b.url}/api/v1/tasks", headers=SHANNON,
                               json={"query": "hello from b", "session_id": "sess-b"})
        assert sent.status_code == 200, sent.text
        task = await get(http, a, sent.json()["task_id"])
        assert task["contextId"] == "sess-b"
        assert task["status"]["state"] == "TASK_STATE_COMPLETED"
        assert task["history"][0]["parts"] == [{"text": "hello from b"}]
        rpc = await http.get(f"{a.url}/tasks/{task['id']}", headers={"Authorization": "Bearer demo-key"})
        assert rpc.json()["result"]["status"] == "completed"
        assert rpc.json()["result"]["session_id"] == "sess-b"


async def test_shannon_cancel_on_b_cancels_the_task_running_on_a(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    a, b = _pair(live_server_factory, agents_with_slow(tmp_path / "agents", 120))
    async with httpx.AsyncClient(timeout=10) as http:
        sent = await http.post(f"{a.url}/api/v1/tasks", headers=SHANNON, json={"query": "slow"})
        task_id = sent.json()["task_id"]
        cancel = await http.post(f"{b.url}/api/v1/tasks/{task_id}/cancel", headers=SHANNON)
        assert cancel.status_code == 202, cancel.text
        task = await wait_state(http, a, task_id, {"TASK_STATE_CANCELED"})
        assert task["status"]["state"] == "TASK_STATE_CANCELED"
        assert (await shannon_status(http, a, task_id))["status"] == "TASK_STATUS_CANCELLED"
