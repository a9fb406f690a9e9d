"""The outbox across replicas: a replica killed with undelivered notifications loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import JWT_SECRET, REPO, LiveServer, free_port
from tests.push.conftest import (
    AUTH,
    BASE,
    CHUNKED,
    FAST,
    OPEN,
    Receiver,
    message,
    send,
    state_of,
    version_of,
    with_webhook,
)

_ENV = {
    "A2A_SERVER_PUSH_URL_ALLOWLIST": "127.0.0.0/8",
    "A2A_SERVER_PUSH_RETRY_BASE_SECONDS": "0.05",
    "A2A_SERVER_PUSH_RETRY_MAX_SECONDS": "0.3",
    "A2A_SERVER_PUSH_POLL_SECONDS": "0.05",
    "A2A_SERVER_PUSH_LEASE_SECONDS": "1",
}


@pytest.fixture
def replica_process(redis_url: str) -> Iterator[Callable[[], tuple[str, subprocess.Popen[bytes]]]]:
    """A replica in its own process (so it can be SIGKILLed) that delivers fast."""
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> tuple[str, subprocess.Popen[bytes]]:
        port = free_port()
        env = {**os.environ, **_ENV, "A2A_SERVER_JWT_SECRET": JWT_SECRET,
               "A2A_SERVER_LOG_LEVEL": "warning"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "a2a_server", "serve", "--port", str(port), "--redis-url",
             redis_url, "--tenants-dir", str(REPO / "tenants")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    return base, proc
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the replica process did not start")

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)


async def _retrying(http: httpx.AsyncClient, base: str, task_id: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        log = await http.get(f"{base}{BASE}/tasks/{task_id}/pushNotificationConfigs/hook/"
                             "deliveries", headers=AUTH)
        if log.status_code == 200 and log.json()["state"] == "retrying":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the first replica never tried to deliver")


async def test_a_replica_killed_with_undelivered_notifications_loses_none(
        replica_process: Callable[[], tuple[str, subprocess.Popen[bytes]]],
        live_server_factory: Callable[..., LiveServer], receiver: Receiver) -> None:
    receiver.stop()  # nothing can be delivered while the first replica lives
    a_url, a_proc = replica_process()
    async with httpx.AsyncClient(base_url=a_url, timeout=30) as http:
        task = await send(http, with_webhook(OPEN, receiver.url))
        await send(http, message(OPEN, task["id"]))
        await _retrying(http, "", task["id"])
    a_proc.send_signal(signal.SIGKILL)
    a_proc.wait(10)
    receiver.start()
    live_server_factory("redis", **FAST)  # the survivor: it never saw these tasks
    got = await receiver.until(lambda r: len({x.delivery_id for x in r}) >= 3)
    ids = [r.delivery_id for r in got]
    assert len(set(ids)) == 3  # the task, input-required, input-required after the follow-up
    first = list(dict.fromkeys(ids))
    assert [version_of(next(r for r in got if r.delivery_id == i)) for i in first] == [
        (1, 1), (2, 1), (3, 1)]


@pytest.mark.cluster
async def test_deliveries_on_a_redis_cluster(
        live_server_factory: Callable[..., LiveServer], redis_cluster_url: str,
        receiver: Receiver) -> None:
    server = live_server_factory("memory", redis_url=redis_cluster_url, redis_cluster=True,
                                 **FAST)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        task = await send(http, with_webhook(CHUNKED, receiver.url))
        got = await receiver.until(lambda r: any(state_of(x.json) == "TASK_STATE_COMPLETED"
                                                 for x in r))
        log = await http.get(f"{BASE}/tasks/{task['id']}/pushNotificationConfigs/hook/"
                             "deliveries", headers=AUTH)
    assert [version_of(r) for r in got] == [(v, 1) for v in range(1, 6)]
    assert log.json()["delivered"] == 5
