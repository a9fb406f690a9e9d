"""Two replicas on one Redis: each counts its own work; the store gauges follow an outage."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DEMO, REPO, V1, RedisProcess, make_settings, running_app, user_message_v1
from tests.observability.metrics_text import scrape, value


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    proc = RedisProcess().start()
    yield proc
    proc.cleanup()


@contextlib.asynccontextmanager
async def _replica(url: str, agents: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(make_settings(redis_url=url, agents_dir=agents)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def _until_metric(http: httpx.AsyncClient, name: str, want: float, **labels: str) -> str:
    deadline = time.monotonic() + 20
    while True:
        text = await scrape(http)
        if value(text, name, **labels) == want:
            return text
        assert time.monotonic() < deadline, (name, labels, value(text, name, **labels))
        await asyncio.sleep(0.05)


async def test_running_gauge_per_replica_and_store_gauges_through_an_outage(
    own_redis: RedisProcess, tmp_path: Path
) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    for name in ("echo.json", "echo.binding.yaml", "conformance.json"):
        shutil.copy(REPO / "agent_cards" / name, agents / name)
    (agents / "conformance.binding.yaml").write_text(
        "executor: conformance\noptions:\n  resubscribe_seconds: 2\n")
    async with _replica(own_redis.url, agents) as a, _replica(own_redis.url, agents) as b:
        body: dict[str, Any] = user_message_v1("slow")
        body["message"]["messageId"] = "test-resubscribe-message-id-x"
        body["configuration"] = {"returnImmediately": True}
        sent = await a.post("/agents/conformance/v1/message:send", json=body, headers={**DEMO, **V1})
        assert sent.status_code == 200, sent.text
        task_id = sent.json()["task"]["id"]
        got = await b.get(f"/agents/conformance/v1/tasks/{task_id}", headers={**DEMO, **V1})
        assert got.status_code == 200
        on_a, on_b = await scrape(a), await scrape(b)
        assert value(on_a, "a2a_tasks_running", agent="conformance") == 1
        assert value(on_b, "a2a_tasks_running", agent="conformance") == 0
        await _until_metric(a, "a2a_tasks_finished_total", 1, agent="conformance",
                            state="completed")
        on_a, on_b = await scrape(a), await scrape(b)
        assert value(on_a, "a2a_tasks_running", agent="conformance") == 0
        assert value(on_b, "a2a_tasks_finished_total") == 0  # B only read the task
        for text in (on_a, on_b):
            assert value(text, "a2a_store_available", store="redis") == 1
            assert value(text, "a2a_store_unavailable_seconds_total", store="redis") == 0

        own_redis.kill()
        for http in (a, b):
            failed = await http.get(f"/agents/conformance/v1/tasks/{task_id}", headers=DEMO)
            assert failed.status_code == 503
            down = await scrape(http)
            assert value(down, "a2a_store_available", store="redis") == 0
            assert value(down, "a2a_store_call_errors_total", store="redis") >= 1
        await asyncio.sleep(0.2)
        assert value(await scrape(a), "a2a_store_unavailable_seconds_total", store="redis") > 0

        own_redis.start()
        for http in (a, b):
            up = await _until_metric(http, "a2a_store_available", 1, store="redis")
            assert value(up, "a2a_store_unavailable_seconds_total", store="redis") >= 0.2
