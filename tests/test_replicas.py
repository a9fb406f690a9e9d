"""Several real replicas (uvicorn servers) on one real Redis: any call may reach any replica."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DEMO, JWT_SECRET, REPO, V1, LiveServer, free_port, user_message_v1
from tests.protocol.sse import SseEvent, read_events

HEADERS = {**DEMO, **V1}
TERMINAL = {"TASK_STATE_COMPLETED", "TASK_STATE_CANCELED", "TASK_STATE_FAILED",
            "TASK_STATE_REJECTED"}


def agents_with_slow(tmp: Path, seconds: float) -> Path:
    """A copy of the echo agent whose 'slow' messages take ``seconds``."""
    tmp.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "agent_cards" / "echo.json", tmp / "echo.json")
    (tmp / "echo.binding.yaml").write_text(f"executor: echo\noptions:\n  slow_seconds: {seconds}\n")
    return tmp


def _pair(factory: Callable[..., LiveServer], agents: Path) -> tuple[LiveServer, LiveServer]:
    a = factory("redis", agents_dir=agents, lease_seconds=1.5)
    b = factory("redis", agents_dir=agents, lease_seconds=1.5)
    return a, b


@pytest.fixture
def pair(live_server_factory: Callable[..., LiveServer],
         tmp_path: Path) -> tuple[LiveServer, LiveServer]:
    """Replicas A and B on one Redis; 'slow' tasks take 2 s."""
    return _pair(live_server_factory, agents_with_slow(tmp_path / "agents", 2))


@pytest.fixture
def slow_pair(live_server_factory: Callable[..., LiveServer],
              tmp_path: Path) -> tuple[LiveServer, LiveServer]:
    """Replicas A and B whose 'slow' tasks take 120 s: only a cancel ends them early."""
    return _pair(live_server_factory, agents_with_slow(tmp_path / "agents", 120))


def url(server: LiveServer | str, path: str) -> str:
    base = server if isinstance(server, str) else server.url
    return f"{base}/agents/echo/v1{path}"


async def send(http: httpx.AsyncClient, server: LiveServer | str, text: str,
               wait: bool = True) -> dict[str, Any]:
    body = user_message_v1(text)
    if not wait:
        body["configuration"] = {"returnImmediately": True}
    sent = await http.post(url(server, "/message:send"), json=body, headers=HEADERS)
    assert sent.status_code == 200, sent.text
    return sent.json()["task"]  # type: ignore[no-any-return]


async def get(http: httpx.AsyncClient, server: LiveServer | str, task_id: str) -> dict[str, Any]:
    got = await http.get(url(server, f"/tasks/{task_id}"), headers=HEADERS)
    assert got.status_code == 200, got.text
    return got.json()  # type: ignore[no-any-return]


async def wait_state(http: httpx.AsyncClient, server: LiveServer | str, task_id: str,
                     states: set[str], seconds: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        task = await get(http, server, task_id)
        if task["status"]["state"] in states or time.monotonic() > deadline:
            return task
        await asyncio.sleep(0.05)


def state_of(event: SseEvent) -> str | None:
    data = event.data
    for key in ("task", "statusUpdate"):
        if key in data:
            return data[key]["status"]["state"]  # type: ignore[no-any-return]
    return None


async def collect(http: httpx.AsyncClient, method: str, target: str,
                  headers: dict[str, str] | None = None, body: Any = None,
                  limit: int | None = None) -> list[SseEvent]:
    events: list[SseEvent] = []
    async with http.stream(method, target, headers={**HEADERS, **(headers or {})},
                           json=body) as response:
        assert response.status_code == 200, await response.aread()
        async for event in read_events(response):
            events.append(event)
            if limit is not None and len(events) >= limit:
                break
    return events


async def test_send_on_a_then_get_and_list_on_b(pair: tuple[LiveServer, LiveServer]) -> None:
    a, b = pair
    async with httpx.AsyncClient(timeout=30) as http:
        task = await send(http, a, "hello")
        got = await get(http, b, task["id"])
        assert got["status"]["state"] == "TASK_STATE_COMPLETED"
        assert got["artifacts"][0]["parts"][0]["text"] == "echo: hello"
        listed = await http.get(url(b, "/tasks"), headers=HEADERS)
        assert [t["id"] for t in listed.json()["tasks"]] == [task["id"]]
        other = await http.get(url(b, f"/tasks/{task['id']}"),
                               headers={"Tenant-Name": "acme", "X-API-Key": "acme-key", **V1})
        assert other.status_code == 404


async def test_subscribe_on_b_sees_every_event_of_a_task_running_on_a(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    a, b = pair
    async with httpx.AsyncClient(timeout=30) as http:
        task = await send(http, a, "slow please", wait=False)
        await wait_state(http, b, task["id"], {"TASK_STATE_WORKING"})
        events = await collect(http, "GET", url(b, f"/tasks/{task['id']}:subscribe"))
    ids = [int(e.id) for e in events if e.id is not None]
    assert len(ids) == len(events) and ids == sorted(set(ids))  # ordered, no duplicate
    assert state_of(events[0]) == "TASK_STATE_WORKING"  # the snapshot
    assert state_of(events[-1]) == "TASK_STATE_COMPLETED"
    assert any("artifactUpdate" in e.data for e in events)


async def test_stream_on_a_matches_the_log_read_on_b(pair: tuple[LiveServer, LiveServer]) -> None:
    a, b = pair
    async with httpx.AsyncClient(timeout=30) as http:
        streamed = await collect(http, "POST", url(a, "/message:stream"),
                                 body=user_message_v1("slow stream"))
        task_id = streamed[0].data["task"]["id"]
        replay = await collect(http, "GET", url(b, f"/tasks/{task_id}:subscribe"),
                               headers={"Last-Event-ID": "0"})
    assert [e.id for e in streamed] == [e.id for e in replay]
    assert [e.data for e in streamed] == [e.data for e in replay]
    assert state_of(streamed[-1]) == "TASK_STATE_COMPLETED"


async def test_resubscribe_with_last_event_id_loses_nothing(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    a, b = pair
    async with httpx.AsyncClient(timeout=30) as http:
        first = await collect(http, "POST", url(a, "/message:stream"),
                              body=user_message_v1("slow resume"), limit=2)
        task_id = first[0].data["task"]["id"]
        resumed = await collect(http, "GET", url(b, f"/tasks/{task_id}:subscribe"),
                                headers={"Last-Event-ID": first[-1].id or ""})
        everything = await collect(http, "GET", url(b, f"/tasks/{task_id}:subscribe"),
                                   headers={"Last-Event-ID": "0"})
    assert [e.id for e in first + resumed] == [e.id for e in everything]
    assert state_of(resumed[-1]) == "TASK_STATE_COMPLETED"


async def test_resume_after_the_log_expired_gets_the_final_task(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    agents = agents_with_slow(tmp_path / "agents", 0.5)
    a = live_server_factory("redis", agents_dir=agents, finished_events_seconds=0.05)
    async with httpx.AsyncClient(timeout=30) as http:
        first = await collect(http, "POST", url(a, "/message:stream"),
                              body=user_message_v1("slow short"), limit=1)
        task_id = first[0].data["task"]["id"]
        await wait_state(http, a, task_id, TERMINAL)
        redis_url = a.settings.redis_url
        assert redis_url is not None
        await wait_key_gone(redis_url, f"*{task_id}*:events")
        resumed = await collect(http, "GET", url(a, f"/tasks/{task_id}:subscribe"),
                                headers={"Last-Event-ID": first[0].id or ""})
    assert len(resumed) == 1 and resumed[0].data["task"]["status"]["state"] == (
        "TASK_STATE_COMPLETED")
    assert int(resumed[0].id or 0) > int(first[0].id or 0)


async def wait_key_gone(redis_url: str, pattern: str, seconds: float = 20) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not [k async for k in client.scan_iter(match=pattern)]:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{pattern} never went away")
    finally:
        await client.aclose()


@pytest.mark.parametrize("attempt", range(5))
async def test_cancel_on_b_during_a_slow_task_sticks(
    slow_pair: tuple[LiveServer, LiveServer], attempt: int
) -> None:
    del attempt
    a, b = slow_pair
    async with httpx.AsyncClient(timeout=30) as http:
        task = await send(http, a, "slow cancel me", wait=False)
        await wait_state(http, b, task["id"], {"TASK_STATE_WORKING"})
        canceled = await http.post(url(b, f"/tasks/{task['id']}:cancel"), headers=HEADERS)
        assert canceled.status_code == 200, canceled.text
        assert canceled.json()["status"]["state"] == "TASK_STATE_CANCELED"
        # A's executor is told to stop: it releases its lease (the task would run 120 s).
        redis_url = a.settings.redis_url
        assert redis_url is not None
        await wait_lease_released(redis_url, task["id"])
        for server in (a, b):
            assert (await get(http, server, task["id"]))["status"]["state"] == (
                "TASK_STATE_CANCELED")
        again = await http.post(url(b, f"/tasks/{task['id']}:cancel"), headers=HEADERS)
        assert again.status_code == 400, again.text  # TaskNotCancelable: it stays canceled


async def wait_lease_released(redis_url: str, task_id: str, seconds: float = 20) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            keys = [k async for k in client.scan_iter(match=f"*{task_id}*:lease")]
            if not keys:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the lease on {task_id} was never released")
    finally:
        await client.aclose()


@pytest.fixture
def killable_replica(
    redis_url: str, tmp_path: Path
) -> Iterator[Callable[[], tuple[str, subprocess.Popen[bytes]]]]:
    """A replica in its own process (so it can be SIGKILLed), with a 30 s slow task."""
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> tuple[str, subprocess.Popen[bytes]]:
        port = free_port()
        env = {**os.environ, "A2A_SERVER_JWT_SECRET": JWT_SECRET, "A2A_SERVER_LEASE_SECONDS": "1",
               "A2A_SERVER_LOG_LEVEL": "warning"}
        agents = agents_with_slow(tmp_path / "slow-agents", 30)
        proc = subprocess.Popen(
            [sys.executable, "-m", "a2a_server", "serve", "--port", str(port), "--redis-url",
             redis_url, "--agents-dir", str(agents), "--tenants-dir", str(REPO / "tenants")],
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


async def test_a_task_whose_replica_died_is_failed_after_its_lease(
    killable_replica: Callable[[], tuple[str, subprocess.Popen[bytes]]],
    live_server_factory: Callable[..., LiveServer],
    tmp_path: Path,
) -> None:
    a_url, a_proc = killable_replica()
    b = live_server_factory("redis", agents_dir=agents_with_slow(tmp_path / "b", 30),
                            lease_seconds=1)
    async with httpx.AsyncClient(timeout=30) as http:
        task = await send(http, a_url, "slow and doomed", wait=False)
        await wait_state(http, b, task["id"], {"TASK_STATE_WORKING"})
        target = url(b, f"/tasks/{task['id']}:subscribe")
        async with http.stream("GET", target, headers=HEADERS) as response:
            events = aiter(read_events(response))
            snapshot = await anext(events)  # subscribed (snapshot received) before the kill
            assert state_of(snapshot) == "TASK_STATE_WORKING"
            a_proc.send_signal(signal.SIGKILL)
            a_proc.wait(10)
            rest = [event async for event in events]
        failed = await get(http, b, task["id"])
        assert failed["status"]["state"] == "TASK_STATE_FAILED"
        reason = failed["status"]["message"]["parts"][0]["text"]
        assert "lease expired" in reason
    assert state_of(rest[-1]) == "TASK_STATE_FAILED"  # subscribers are told, and end



@pytest.mark.cluster
async def test_two_replicas_on_a_redis_cluster(
    live_server_factory: Callable[..., LiveServer], redis_cluster_url: str, tmp_path: Path
) -> None:
    agents = agents_with_slow(tmp_path / "agents", 1)
    a, b = (live_server_factory("memory", redis_url=redis_cluster_url, redis_cluster=True,
                                agents_dir=agents) for _ in range(2))
    async with httpx.AsyncClient(timeout=30) as http:
        streamed = await collect(http, "POST", url(a, "/message:stream"),
                                 body=user_message_v1("slow on a cluster"))
        task_id = streamed[0].data["task"]["id"]
        got = await get(http, b, task_id)
        assert got["status"]["state"] == "TASK_STATE_COMPLETED"
        listed = await http.get(url(b, "/tasks"), headers=HEADERS)
        assert [t["id"] for t in listed.json()["tasks"]] == [task_id]
        replay = await collect(http, "GET", url(b, f"/tasks/{task_id}:subscribe"),
                               headers={"Last-Event-ID": "0"})
        assert [e.id for e in replay] == [e.id for e in streamed]
        ready = await http.get(f"{b.url}/readyz")
        assert ready.status_code == 200


class _Hooks:
    """A real webhook receiver on a free port, recording every POST body."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.bodies: list[bytes] = []
        bodies = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(self.rfile.read(int(self.headers.get("content-length", 0))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                del args

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_push_config_set_on_b_is_delivered_once_by_a(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    agents = agents_with_slow(tmp_path / "agents", 1)  # acme's tenant file names echo
    shutil.copy(REPO / "agent_cards" / "conformance.json", agents / "conformance.json")
    (agents / "conformance.binding.yaml").write_text(
        "executor: conformance\noptions:\n  resubscribe_seconds: 2\n")
    a, b = (live_server_factory("redis", agents_dir=agents, push_url_allowlist="127.0.0.0/8")
            for _ in range(2))
    hooks = _Hooks()
    base = "/agents/conformance/v1"
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            body = user_message_v1("push please")
            body["message"]["messageId"] = f"test-resubscribe-message-id-{os.urandom(4).hex()}"
            body["configuration"] = {"returnImmediately": True}
            sent = await http.post(f"{a.url}{base}/message:send", json=body, headers=HEADERS)
            assert sent.status_code == 200, sent.text
            task_id = sent.json()["task"]["id"]
            config = await http.post(f"{b.url}{base}/tasks/{task_id}/pushNotificationConfigs",
                                     json={"url": hooks.url, "token": "tok"}, headers=HEADERS)
            assert config.status_code == 200, config.text
            listed = await http.get(f"{a.url}{base}/tasks/{task_id}/pushNotificationConfigs",
                                    headers=HEADERS)
            assert hooks.url in listed.text  # A sees B's registration
            deadline = time.monotonic() + 20
            while not any(b"TASK_STATE_COMPLETED" in x for x in hooks.bodies):
                assert time.monotonic() < deadline, hooks.bodies
                await asyncio.sleep(0.05)
    finally:
        hooks.close()
    assert sum(b"TASK_STATE_COMPLETED" in x for x in hooks.bodies) == 1
    assert len(hooks.bodies) == len(set(hooks.bodies))  # no notification sent twice


async def test_a_remote_cancel_releases_the_running_replicas_lease_at_once(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    agents = agents_with_slow(tmp_path / "agents", 120)
    # A lease far longer than the wait below: only an explicit release passes.
    a = live_server_factory("redis", agents_dir=agents, lease_seconds=120)
    b = live_server_factory("redis", agents_dir=agents, lease_seconds=120)
    async with httpx.AsyncClient(timeout=30) as http:
        task = await send(http, a, "slow cancel me", wait=False)
        await wait_state(http, b, task["id"], {"TASK_STATE_WORKING"})
        canceled = await http.post(url(b, f"/tasks/{task['id']}:cancel"), headers=HEADERS)
        assert canceled.status_code == 200, canceled.text
        assert a.settings.redis_url is not None
        await wait_lease_released(a.settings.redis_url, task["id"], seconds=15)
