"""Redis faults: an outage is a fast 503 in each binding, /readyz says so, and the server
comes back by itself; with AOF (appendfsync always) nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.conftest import DEMO, V1, RedisProcess, make_settings, running_app, user_message_v03

RPC = {"A2A-Version": "1.0", **DEMO}


@pytest.fixture
def restartable_redis() -> Iterator[RedisProcess]:
    """A Redis of this test alone, AOF on and fsynced on every write, restartable in place."""
    proc = RedisProcess("--appendonly", "yes", "--appendfsync", "always").start()
    yield proc
    proc.cleanup()


@pytest.fixture
async def http(restartable_redis: RedisProcess) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(redis_url=restartable_redis.url)
    async with running_app(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def _send(http: httpx.AsyncClient, text: str = "hi") -> str:
    sent = await http.post("/agents/echo/v1/message:send", json=user_message_v03(text),
                           headers=DEMO)
    assert sent.status_code == 200, sent.text
    return str(sent.json()["task"]["id"])


async def _until(http: httpx.AsyncClient, path: str, status: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        got = await http.get(path, headers=DEMO)
        if got.status_code == status:
            return
        assert time.monotonic() < deadline, f"{path} stayed {got.status_code}: {got.text}"
        await asyncio.sleep(0.05)


async def test_outage_is_a_503_in_each_binding_and_recovers_without_restart(
    http: httpx.AsyncClient, restartable_redis: RedisProcess
) -> None:
    task_id = await _send(http)
    assert (await http.get("/readyz")).status_code == 200
    restartable_redis.kill()

    got = await http.get(f"/agents/echo/v1/tasks/{task_id}", headers=DEMO)
    assert got.status_code == 503, got.text
    assert got.json()["error"]["status"] == "UNAVAILABLE"
    assert got.headers["retry-after"] == "1"

    rest_v1 = await http.get(f"/agents/echo/v1/tasks/{task_id}", headers={**DEMO, **V1})
    assert rest_v1.status_code == 503 and rest_v1.json()["error"]["code"] == 503

    rpc = await http.post("/agents/echo/v1", headers=RPC, json={
        "jsonrpc": "2.0", "id": 7, "method": "GetTask", "params": {"id": task_id}})
    assert rpc.status_code == 503 and rpc.json()["id"] == 7 and "error" in rpc.json()

    ready = await http.get("/readyz")
    assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
    assert "store" not in ready.json()  # no store address for anonymous callers
    ready = await http.get("/readyz", headers={"X-API-Key": "demo-key"})
    assert "redis" in ready.json()["store"]

    restartable_redis.start()  # same port, same AOF directory
    await _until(http, "/readyz", 200)
    await _until(http, f"/agents/echo/v1/tasks/{task_id}", 200)
    assert await _send(http, "after the outage")


async def test_acknowledged_tasks_survive_a_redis_crash_with_aof(
    http: httpx.AsyncClient, restartable_redis: RedisProcess
) -> None:
    task_ids = [await _send(http, f"keep {i}") for i in range(5)]
    restartable_redis.kill()  # SIGKILL: no shutdown save
    restartable_redis.start()
    for task_id in task_ids:
        await _until(http, f"/agents/echo/v1/tasks/{task_id}", 200)
        got = await http.get(f"/agents/echo/v1/tasks/{task_id}", headers=DEMO)
        assert got.json()["status"]["state"] == "completed"
    listed = await http.get("/agents/echo/v1/tasks", headers={**DEMO, **V1})
    assert sorted(t["id"] for t in listed.json()["tasks"]) == sorted(task_ids)


async def test_a_redis_error_mid_request_is_a_503_not_a_500(
    http: httpx.AsyncClient, restartable_redis: RedisProcess
) -> None:
    task_id = await _send(http)
    restartable_redis.kill()
    # The backend still believes Redis is up: the store call itself fails and is mapped.
    got = await http.get(f"/agents/echo/v1/tasks/{task_id}?historyLength=1", headers=DEMO)
    assert got.status_code == 503, got.text
    restartable_redis.start()
    await _until(http, f"/agents/echo/v1/tasks/{task_id}", 200)


def test_every_unavailability_error_of_redis_py_is_mapped() -> None:
    from redis import exceptions as rexc

    from a2a_server.errors import StoreUnavailable
    from a2a_server.stores.redis import map_redis_errors

    for error in (rexc.ConnectionError, rexc.TimeoutError, rexc.BusyLoadingError,
                  rexc.ClusterDownError, rexc.TryAgainError, rexc.ReadOnlyError,
                  rexc.MasterDownError):
        with pytest.raises(StoreUnavailable), map_redis_errors():
            raise error("boom")


async def test_a_redis_error_inside_the_sdk_is_a_503(
    http: httpx.AsyncClient, restartable_redis: RedisProcess
) -> None:
    from tests.conftest import user_message_v1

    restartable_redis.kill()
    sent = await http.post("/agents/echo/v1/message:send", json=user_message_v1("x"),
                           headers={**DEMO, **V1})
    assert sent.status_code == 503, sent.text
    restartable_redis.start()
    await _until(http, "/readyz", 200)
    restartable_redis.kill()
    rpc = await http.post("/agents/echo/v1", headers=RPC, json={
        "jsonrpc": "2.0", "id": 8, "method": "SendMessage",
        "params": user_message_v1("y")})
    # The SDK's JsonRpcDispatcher renders the outage as an InternalError; ours answers 503.
    assert rpc.status_code == 503, rpc.text
    assert rpc.json()["id"] == 8 and "unavailable" in rpc.json()["error"]["message"]
    again = await http.post("/agents/echo/v1", headers=RPC, json={
        "jsonrpc": "2.0", "id": 9, "method": "SendMessage",
        "params": user_message_v1("z")})
    assert again.status_code == 503, again.text


async def test_an_outage_is_one_warning_line_not_a_traceback_per_request(
    http: httpx.AsyncClient, restartable_redis: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    task_id = await _send(http)
    restartable_redis.kill()
    caplog.set_level("INFO")
    for method, params in (("GetTask", {"id": task_id}), ("ListTasks", {}), ("GetTask", {"id": "x"})):
        rpc = await http.post("/agents/echo/v1", headers=RPC, json={
            "jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        assert rpc.status_code == 503, rpc.text
    legacy = await http.post("/agents/echo/v1", headers=DEMO, json={
        "jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {"id": task_id}})
    assert legacy.status_code == 503
    assert [r for r in caplog.records if r.exc_info] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= 40] == []
    outage = [r for r in caplog.records if r.getMessage().startswith("redis unavailable")]
    assert len(outage) == 1 and outage[0].levelname == "WARNING"
