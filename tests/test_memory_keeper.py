"""An idle replica gives a burst's memory back: caches that only save work are emptied, then
glibc's free pages returned (a2a_server.memory); the task caches' budget and fill in /metrics."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from a2a_server import memory
from a2a_server.memory import MemoryKeeper
from a2a_server.observability.metrics import Metrics
from a2a_server.protocol import protojson, shapes
from a2a_server.settings import Settings
from tests.conftest import DEMO, V1, running_app, user_message_v1
from tests.observability.metrics_text import scrape, value

HEADERS = {**DEMO, **V1}


async def test_a_quiet_replica_empties_its_print_caches_and_trims(
    backend: str, settings_for: Callable[..., Settings]
) -> None:
    assert memory.malloc_trim is not None  # glibc (the test machine's Linux)
    # The loop would tick in an hour: the test ticks by hand.
    async with running_app(settings_for(backend, memory_trim_seconds=3600)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            sent = await http.post("/agents/echo/v1/message:send",
                                   json=user_message_v1("remember me"), headers=HEADERS)
            assert sent.status_code == 200, sent.text
            task_id = sent.json()["task"]["id"]
            first = await http.get(f"/agents/echo/v1/tasks/{task_id}", headers=HEADERS)
            assert first.status_code == 200
            assert protojson.cached_prints() > 0
            assert shapes.render_cache_size() > 0

            released = await app.state.memory.tick()

            assert released is not None and released >= 0
            assert protojson.cached_prints() == 0
            assert shapes.render_cache_size() == 0
            text = await scrape(http)
            assert value(text, "a2a_memory_trims_total") == 1
            again = await http.get(f"/agents/echo/v1/tasks/{task_id}", headers=HEADERS)
            assert again.json() == first.json()  # rendered afresh, the same


async def test_a_busy_replica_is_left_alone() -> None:
    shed: list[str] = []
    started = [0]
    metrics = Metrics()
    keeper = MemoryKeeper(10.0, lambda: started[0], metrics, None,
                          (lambda: shed.append("emptied"),))
    started[0] = 50  # 5 requests a second over the 10 s tick: busy
    assert await keeper.tick() is None
    assert shed == []
    started[0] = 55  # 0.5 a second since: quiet
    assert await keeper.tick() is not None
    assert shed == ["emptied"]
    assert await keeper.tick() is None  # quiet, but nothing grew since the last trim
    assert shed == ["emptied"]


async def test_the_task_cache_budget_and_fill_are_in_metrics(
    backend: str, settings_for: Callable[..., Settings]
) -> None:
    async with running_app(settings_for(backend, task_cache_mb=3)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            sent = await http.post("/agents/echo/v1/message:send",
                                   json=user_message_v1("cache me"), headers=HEADERS)
            task_id = sent.json()["task"]["id"]
            rpc = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": task_id}}
            got = await http.post("/agents/echo/v1", json=rpc, headers=HEADERS)  # a whole task
            assert got.json()["result"]["id"] == task_id
            text = await scrape(http)
    if backend == "memory":  # no task cache (the store holds the tasks themselves)
        assert value(text, "a2a_task_cache_budget_bytes") == 0
        assert value(text, "a2a_task_cache_bytes") == 0
        return
    assert value(text, "a2a_task_cache_budget_bytes") == 2 * 3 * 1024 * 1024
    held = app.state.server.stores.tasks.cache_bytes()
    assert held > 0
    assert value(text, "a2a_task_cache_bytes") == held
