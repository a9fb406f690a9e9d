"""``a2a-server serve --workers 2`` on a real Redis: two processes, one port, one server.

Which worker answered is read from the opt-in ``A2A-Server-Worker`` header (its pid).
The kernel hands each connection to one worker, so a client that wants a given worker
opens connections until one lands there and keeps using it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import JWT_SECRET, REPO, RedisProcess, free_port, user_message_v1
from tests.protocol.sse import read_events_sync
from tests.test_replicas import HEADERS, agents_with_slow, state_of

WORKER = "a2a-server-worker"
PROBE_ROUTE = "/agents/{agent_id}/v1/tasks/{id}"


class Workers:
    """One ``serve --workers 2`` process tree on the session's Redis."""

    def __init__(self, redis_url: str, agents: Path, *extra: str, dev_keys: bool = False,
                 tenants: Path = REPO / "tenants") -> None:
        import redis

        client = redis.Redis.from_url(redis_url)
        client.flushall()
        client.close()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "A2A_SERVER_JWT_SECRET": JWT_SECRET,
               "A2A_SERVER_WORKER_HEADER": "true", "A2A_SERVER_LOG_LEVEL": "warning",
               "A2A_SERVER_ACCESS_LOG": "false"}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the launcher makes its own
        if dev_keys:  # dev mode: every worker generates a key; the store picks one
            del env["A2A_SERVER_JWT_SECRET"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "a2a_server", "serve", "--workers", "2", "--port",
             str(self.port), "--redis-url", redis_url, "--agents-dir", str(agents),
             "--tenants-dir", str(tenants), *extra],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_until_both_answer()

    def _wait_until_both_answer(self) -> None:
        seen: set[str] = set()
        deadline = time.monotonic() + 60
        while len(seen) < 2:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the workers did not start: {self.stderr()}")
            try:
                seen.add(pid_of(httpx.get(f"{self.url}/healthz", timeout=2)))
            except httpx.HTTPError:
                time.sleep(0.1)

    def stderr(self, whole: bool = False) -> str:
        self.stop()
        assert self.proc.stderr is not None
        text = self.proc.stderr.read().decode(errors="replace")
        return text if whole else text[-2000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def pid_of(response: httpx.Response) -> str:
    return response.headers[WORKER]


@pytest.fixture(scope="module")
def workers(redis_proc: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    """Two workers whose 'slow' tasks take 120 s (only a cancel ends them early)."""
    server = Workers(redis_proc.url, agents_with_slow(tmp_path_factory.mktemp("agents"), 120))
    yield server
    server.stop()


def client_on(workers: Workers, wanted: str | None = None, *, not_on: str | None = None,
              attempts: int = 200) -> tuple[httpx.Client, str]:
    """A client holding one connection to a worker (``wanted``, or any but ``not_on``)."""
    for _ in range(attempts):
        http = httpx.Client(base_url=workers.url, timeout=30,
                            limits=httpx.Limits(max_connections=1))
        pid = pid_of(http.get("/healthz"))
        if (wanted is None or pid == wanted) and pid != not_on:
            return http, pid
        http.close()
    raise AssertionError(f"no connection reached the worker wanted after {attempts} attempts")


def scrape(http: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = http.get("/metrics")
    assert answer.status_code == 200, answer.text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples}


def probe_count(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    return sum(value for (name, labels), value in samples.items()
               if name == "a2a_http_requests_total" and ("route", PROBE_ROUTE) in labels
               and ("status", "4xx") in labels)


def test_requests_land_on_both_workers_and_each_one_reports_the_sum(workers: Workers) -> None:
    served: dict[str, int] = {}
    sent = 0
    while len(served) < 2 or sent < 20:
        assert sent < 400, f"every request landed on one worker: {served}"
        with httpx.Client(base_url=workers.url, timeout=30) as http:  # a new connection each
            missing = http.get("/agents/echo/v1/tasks/no-such-task", headers=HEADERS)
        assert missing.status_code == 404
        served[pid_of(missing)] = served.get(pid_of(missing), 0) + 1
        sent += 1
    assert len(served) == 2
    first, first_pid = client_on(workers)
    second, _ = client_on(workers, not_on=first_pid)
    with closing(first), closing(second):
        assert probe_count(scrape(first)) == sent  # both workers' requests, on either worker
        assert probe_count(scrape(second)) == sent


def test_a_stream_on_one_worker_is_cancelled_on_the_other(workers: Workers) -> None:
    streaming, stream_pid = client_on(workers)
    other, other_pid = client_on(workers, not_on=stream_pid)
    with closing(streaming), closing(other), streaming.stream(
            "POST", "/agents/echo/v1/message:stream", headers=HEADERS,
            json=user_message_v1("slow, cancelled from the other worker")) as response:
        assert response.status_code == 200
        assert pid_of(response) == stream_pid
        events = read_events_sync(response)
        first = next(events)
        task_id = first.data["task"]["id"]
        working = next(events)
        assert state_of(working) == "TASK_STATE_WORKING"
        running = scrape(other)[("a2a_tasks_running", (("agent", "echo"),))]
        assert running == 1  # the run on the stream's worker, seen from the other one

        cancelled = other.post(f"/agents/echo/v1/tasks/{task_id}:cancel", headers=HEADERS)
        assert pid_of(cancelled) == other_pid
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"]["state"] == "TASK_STATE_CANCELED"
        rest = list(events)
    assert state_of(rest[-1]) == "TASK_STATE_CANCELED"  # the stream on the first worker ends
    deadline = time.monotonic() + 10
    with closing(client_on(workers, stream_pid)[0]) as same:
        while scrape(same)[("a2a_tasks_running", (("agent", "echo"),))]:
            assert time.monotonic() < deadline, "the run on the stream's worker did not stop"
            time.sleep(0.1)


def test_the_in_memory_store_refuses_several_workers() -> None:
    env = {**os.environ, "A2A_SERVER_JWT_SECRET": JWT_SECRET}
    env.pop("A2A_SERVER_REDIS_URL", None)
    done = subprocess.run([sys.executable, "-m", "a2a_server", "serve", "--workers", "2",
                           "--port", str(free_port())], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--workers / A2A_SERVER_WORKERS" in lines[0]
    assert "needs the Redis store" in lines[0]


def test_a_killed_worker_is_replaced_and_its_open_streams_drop_out(
    redis_proc: RedisProcess, tmp_path: Path
) -> None:
    server = Workers(redis_proc.url, agents_with_slow(tmp_path / "agents", 120))
    try:
        streaming, doomed = client_on(server)
        other, survivor = client_on(server, not_on=doomed)
        with closing(streaming), closing(other), streaming.stream(
                "POST", "/agents/echo/v1/message:stream", headers=HEADERS,
                json=user_message_v1("slow, on a worker about to die")) as response:
            events = read_events_sync(response)  # kept: a dropped reader closes the connection
            next(events)
            assert scrape(other)[("a2a_http_open_streams", ())] == 1
            os.kill(int(doomed), signal.SIGKILL)
            deadline = time.monotonic() + 30
            while scrape(other)[("a2a_http_open_streams", ())] != 0:  # its gauge dropped
                assert time.monotonic() < deadline, "the dead worker's open stream still counts"
                time.sleep(0.2)
        pids: set[str] = set()
        while len(pids) < 2:  # a replacement serves next to the survivor
            assert time.monotonic() < deadline, f"no replacement worker: {pids}"
            with httpx.Client(base_url=server.url, timeout=10) as http:
                pids.add(pid_of(http.get("/healthz")))
        assert survivor in pids and doomed not in pids
    finally:
        server.stop()


def listeners(port: int) -> int:
    """Sockets listening on ``port`` (any address), from /proc/net/tcp and tcp6."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                local, state = line.split()[1], line.split()[3]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


def test_every_worker_serves_grpc_on_the_shared_port(
    redis_proc: RedisProcess, tmp_path: Path
) -> None:
    import grpc
    from a2a.types import a2a_pb2, a2a_pb2_grpc

    grpc_port = free_port()
    server = Workers(redis_proc.url, agents_with_slow(tmp_path / "agents", 120),
                     "--grpc-port", str(grpc_port))
    try:
        assert listeners(grpc_port) == 2  # one per worker (SO_REUSEPORT), both bound
        for attempt in range(6):  # new channels: new connections, spread by the kernel
            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                stub = a2a_pb2_grpc.A2AServiceStub(channel)  # type: ignore[no-untyped-call]
                request = a2a_pb2.SendMessageRequest(
                    tenant="demo/echo", message=a2a_pb2.Message(
                        role=a2a_pb2.Role.ROLE_USER, message_id=f"grpc-{attempt}",
                        parts=[a2a_pb2.Part(text="hello over gRPC")]))
                answer = stub.SendMessage(request, metadata=[("x-api-key", "demo-key")],
                                          timeout=30)
                assert answer.task.status.state == a2a_pb2.TaskState.TASK_STATE_COMPLETED
    finally:
        server.stop()


def test_dev_mode_tokens_from_one_worker_are_accepted_by_the_other(
    redis_proc: RedisProcess, tmp_path: Path
) -> None:
    server = Workers(redis_proc.url, agents_with_slow(tmp_path / "agents", 120), dev_keys=True)
    try:
        issuer, issuer_pid = client_on(server)
        verifier, _ = client_on(server, not_on=issuer_pid)
        with closing(issuer), closing(verifier):
            issued = issuer.post("/realms/demo/protocol/openid-connect/token", data={
                "grant_type": "client_credentials", "client_id": "demo-client",
                "client_secret": "demo-secret"})
            assert issued.status_code == 200, issued.text
            assert pid_of(issued) == issuer_pid
            token = issued.json()["access_token"]
            listed = verifier.get("/agents/echo/v1/tasks", headers={
                "Authorization": f"Bearer {token}", "A2A-Version": "1.0"})
            assert listed.status_code == 200, listed.text
            assert pid_of(listed) != issuer_pid
        # Said once, by the supervisor (it built an app to prove the configuration), not
        # again by each worker.
        assert server.stderr(whole=True).count("dev mode: tokens are signed") == 1
    finally:
        server.stop()


def test_sighup_to_the_supervisor_reloads_every_workers_tenants_and_keeps_streams(
    redis_proc: RedisProcess, tmp_path: Path
) -> None:
    tenants = tmp_path / "tenants"
    shutil.copytree(REPO / "tenants", tenants)
    os.environ["A2A_SERVER_TENANTS_RELOAD_SECONDS"] = "0"  # SIGHUP only: no polling
    try:
        server = Workers(redis_proc.url, agents_with_slow(tmp_path / "agents", 120),
                         tenants=tenants)
    finally:
        del os.environ["A2A_SERVER_TENANTS_RELOAD_SECONDS"]
    try:
        streaming, stream_pid = client_on(server)
        same, _ = client_on(server, stream_pid)  # the streaming client's one connection is busy
        other, other_pid = client_on(server, not_on=stream_pid)
        added = subprocess.run(
            [sys.executable, "-m", "a2a_server", "tenants", "add-key", "--tenants-dir",
             str(tenants), "demo", "rotated"], capture_output=True, text=True, check=True)
        key = added.stdout.strip().splitlines()[-1].split()[-1]
        new_key = {"X-API-Key": key, "Tenant-Name": "demo", "A2A-Version": "1.0"}
        with closing(streaming), closing(same), closing(other), streaming.stream(
                "POST", "/agents/echo/v1/message:stream", headers=HEADERS,
                json=user_message_v1("slow, across a reload")) as response:
            events = read_events_sync(response)
            task_id = next(events).data["task"]["id"]
            for http in (same, other):  # not reloaded yet: unknown key
                assert http.get("/agents/echo/v1/tasks", headers=new_key).status_code == 401

            server.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 20
            for http, pid in ((same, stream_pid), (other, other_pid)):
                while (answer := http.get("/agents/echo/v1/tasks", headers=new_key)).status_code != 200:
                    assert answer.status_code == 401, answer.text
                    assert time.monotonic() < deadline, f"worker {pid} did not reload"
                    time.sleep(0.1)
                assert pid_of(answer) == pid  # the same worker: reloaded, not replaced

            cancelled = other.post(f"/agents/echo/v1/tasks/{task_id}:cancel", headers=new_key)
            assert cancelled.status_code == 200, cancelled.text
            rest = list(events)
        assert state_of(rest[-1]) == "TASK_STATE_CANCELED"  # the stream lived through the reload
    finally:
        server.stop()
