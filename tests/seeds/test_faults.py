"""A Redis outage is a 503 in each seed API's own format, and the views recover by themselves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.conftest import RedisProcess, make_settings, running_app

SHANNON = {"X-API-Key": "demo-key"}
AGENTLIN = {"Authorization": "Bearer demo-key", "X-Request-ID": "req-1"}


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    """A Redis of this test alone, restartable in place, fsynced on every write (the task survives)."""
    proc = RedisProcess("--appendonly", "yes", "--appendfsync", "always").start()
    yield proc
    proc.cleanup()


@pytest.fixture
async def http(own_redis: RedisProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(make_settings(redis_url=own_redis.url)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_outage_is_a_503_in_each_format_and_recovers(http: httpx.AsyncClient,
                                                           own_redis: RedisProcess) -> None:
    sent = await http.post("/api/v1/tasks", json={"query": "before"}, headers=SHANNON)
    task_id = sent.json()["task_id"]
    own_redis.kill()

    got = await http.get(f"/api/v1/tasks/{task_id}", headers=SHANNON)
    assert got.status_code == 503, got.text
    assert set(got.json()) == {"error"} and got.headers["Retry-After"] == "1"
    submit = await http.post("/api/v1/tasks", json={"query": "during"}, headers=SHANNON)
    assert submit.status_code == 503, submit.text
    assert set(submit.json()) == {"error"}
    rpc = await http.get(f"/tasks/{task_id}", headers=AGENTLIN)
    assert rpc.status_code == 503, rpc.text
    assert rpc.json()["error"]["code"] == -32603 and rpc.json()["id"] == "req-1"

    own_redis.start()
    deadline = time.monotonic() + 20
    while (await http.get(f"/api/v1/tasks/{task_id}", headers=SHANNON)).status_code != 200:
        assert time.monotonic() < deadline, "the Shannon view did not recover"
        await asyncio.sleep(0.05)
