"""A task that vanishes from the store while it runs ends with a defined 503, never a 500,
and every open stream of it hears so at once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import httpx
import pytest
from a2a.server.context import ServerCallContext
from a2a.types import a2a_pb2_grpc
from a2a.types.a2a_pb2 import (
    Message,
    Part,
    Role,
    SendMessageRequest,
    SubscribeToTaskRequest,
)

from a2a_server.settings import Settings
from a2a_server.stores.base import SCOPE_KEY, Scope
from tests.conftest import (
    DEMO,
    V1,
    LiveServer,
    free_port,
    running_app,
    user_message_v03,
    user_message_v1,
)
from tests.protocol.sse import SseEvent, read_events
from tests.test_replicas import agents_with_slow

AGENT = "/agents/echo/v1"


@pytest.fixture
async def app_http(backend: str, settings_for: Callable[..., Settings],
                   tmp_path: Path) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    agents = agents_with_slow(tmp_path / "agents", 1.0)
    async with running_app(settings_for(backend, agents_dir=agents)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     timeout=30) as client:
            yield app, client


async def _vanish_once_working(app: Any, http: httpx.AsyncClient) -> None:
    """Wait until the slow task is stored as working, then remove it behind the run's back."""
    scope = Scope("demo", "echo")
    for _ in range(200):
        listed = (await http.get(f"{AGENT}/tasks", headers=DEMO)).json()["tasks"]
        if listed and listed[0]["status"]["state"] == "working":
            context = ServerCallContext(state={SCOPE_KEY: scope})
            await app.state.server.stores.tasks.delete(listed[0]["id"], context)
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the slow task never showed up as working")


async def test_a_blocking_send_whose_task_vanishes_gets_503(
    app_http: tuple[Any, httpx.AsyncClient],
) -> None:
    app, http = app_http
    send = asyncio.create_task(http.post(f"{AGENT}/message:send", headers=DEMO,
                                         json=user_message_v03("slow please")))
    await _vanish_once_working(app, http)
    response = await send
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["status"] == "UNAVAILABLE" and "lost task" in error["message"]


async def test_a_stream_whose_task_vanishes_ends_with_a_503_event(
    app_http: tuple[Any, httpx.AsyncClient],
) -> None:
    app, http = app_http
    stream = asyncio.create_task(http.post(f"{AGENT}/message:stream", headers=DEMO,
                                           json=user_message_v03("slow please")))
    await _vanish_once_working(app, http)
    response = await stream
    assert response.status_code == 200
    frames = [block for block in response.text.split("\r\n\r\n") if block.strip()]
    last = frames[-1]
    assert "event: error" in last, response.text
    data = json.loads(last.split("data: ", 1)[1])
    assert data["error"]["code"] == 503 and "lost task" in data["error"]["message"]


# -- open streams hear it at once (a real Redis emptied by FLUSHDB, two live replicas) ---------
#
# The agent would work for 120 s: a stream that ends within the guard below ended because the
# loss was noticed (the running replica's lease renewal, every lease/3 = 0.5 s here; a
# subscriber's XREAD round, 2 s), not because the agent finished.

_GUARD_S = 30.0


@dataclass
class Opened:
    """One open stream: the frames it received, and whether its first one arrived."""

    name: str
    events: list[SseEvent] = field(default_factory=list)
    first: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None

    async def closed(self) -> list[SseEvent]:
        assert self.reader is not None
        await asyncio.wait_for(self.reader, _GUARD_S)
        return self.events


def _open(http: httpx.AsyncClient, name: str, method: str, url: str,
          headers: dict[str, str], body: Any = None) -> Opened:
    opened = Opened(name)

    async def read() -> None:
        async with http.stream(method, url, headers=headers, json=body) as response:
            assert response.status_code == 200, (name, await response.aread())
            async for event in read_events(response):
                opened.events.append(event)
                opened.first.set()

    opened.reader = asyncio.create_task(read())
    return opened


@pytest.fixture
def lossy_pair(live_server_factory: Callable[..., LiveServer],
               tmp_path: Path) -> tuple[LiveServer, LiveServer]:
    """Replicas A and B (HTTP and gRPC) on one Redis without persistence; 'slow' takes 120 s."""
    agents = agents_with_slow(tmp_path / "agents", 120)

    def replica() -> LiveServer:
        port = free_port()
        return live_server_factory("redis", agents_dir=agents, lease_seconds=1.5, grpc_port=port,
                                   grpc_public_address=f"127.0.0.1:{port}")

    return replica(), replica()


def _task_id(event: SseEvent) -> str:
    data = event.data.get("result", event.data)  # JSON-RPC wraps the StreamResponse
    task = data.get("task", data)  # 1.0: {"task": {...}}; 0.3: the task itself
    return str(task["id"])


async def _wait_working(http: httpx.AsyncClient, server: LiveServer, task_id: str) -> None:
    for _ in range(400):
        got = await http.get(f"{server.url}{AGENT}/tasks/{task_id}", headers={**DEMO, **V1})
        if got.status_code == 200 and got.json()["status"]["state"] == "TASK_STATE_WORKING":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the slow task never showed up as working")


async def _flush(server: LiveServer) -> None:
    import redis.asyncio as aioredis

    assert server.settings.redis_url is not None
    client = aioredis.Redis.from_url(server.settings.redis_url)
    try:
        await client.flushdb()  # a Redis without persistence that restarted empty
    finally:
        await client.aclose()


async def _nothing_left(server: LiveServer, runner_of: LiveServer, task_id: str) -> None:
    """The run on ``runner_of`` stopped, and nothing of the task was written after the loss."""
    import redis.asyncio as aioredis

    runner = runner_of.app.state.server.runtimes["echo"].handler.runner
    assert runner.running(Scope("demo", "echo"), task_id) is None
    assert server.settings.redis_url is not None
    client = aioredis.Redis.from_url(server.settings.redis_url)
    try:
        assert [k async for k in client.scan_iter(match=f"*{task_id}*")] == []
    finally:
        await client.aclose()


def _assert_lost_sse(opened: Opened, events: list[SseEvent], jsonrpc: bool) -> None:
    assert events, opened.name
    last = events[-1]
    assert "error" in last.data, (opened.name, events)
    error = last.data["error"]
    if jsonrpc:  # JSON-RPC has no "unavailable" code: -32603 with the store's message
        assert error["code"] == -32603, (opened.name, error)
        # (the SDK's 0.3 adapter sends the error response as a plain data frame)
        assert last.event == ("error" if "/" not in opened.name else None), opened.name
    else:
        assert last.event == "error", (opened.name, events)
        assert error["code"] == 503 and error["status"] == "UNAVAILABLE", (opened.name, error)
    assert "the task store lost task" in error["message"], (opened.name, error)
    assert all("error" not in e.data for e in events[:-1]), opened.name


@pytest.mark.parametrize("sender_version", ["1.0", "0.3"])
async def test_every_rest_stream_of_a_lost_task_gets_the_error_at_once(
    lossy_pair: tuple[LiveServer, LiveServer], sender_version: str,
) -> None:
    a, b = lossy_pair
    v1 = {**DEMO, **V1}
    async with httpx.AsyncClient(timeout=_GUARD_S) as http:
        body = (user_message_v1 if sender_version == "1.0" else user_message_v03)("slow please")
        sender = _open(http, f"sender {sender_version}", "POST",
                       f"{a.url}{AGENT}/message:stream",
                       v1 if sender_version == "1.0" else DEMO, body)
        await asyncio.wait_for(sender.first.wait(), _GUARD_S)
        task_id = _task_id(sender.events[0])
        await _wait_working(http, a, task_id)
        subscribers = [
            _open(http, f"subscribe {name} {version}", "GET",
                  f"{server.url}{AGENT}/tasks/{task_id}:subscribe",
                  v1 if version == "1.0" else DEMO)
            for name, server in (("A", a), ("B", b)) for version in ("1.0", "0.3")]
        for opened in subscribers:
            await asyncio.wait_for(opened.first.wait(), _GUARD_S)  # the snapshot: now tailing
        await _flush(a)
        for opened in [sender, *subscribers]:
            _assert_lost_sse(opened, await opened.closed(), jsonrpc=False)
    await _nothing_left(a, a, task_id)


@pytest.mark.parametrize("sender_version", ["1.0", "0.3"])
async def test_every_jsonrpc_stream_of_a_lost_task_gets_the_error_at_once(
    lossy_pair: tuple[LiveServer, LiveServer], sender_version: str,
) -> None:
    a, b = lossy_pair
    v1 = {**DEMO, **V1}

    def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}

    async with httpx.AsyncClient(timeout=_GUARD_S) as http:
        if sender_version == "1.0":
            sender = _open(http, "SendStreamingMessage", "POST", f"{a.url}{AGENT}", v1,
                           call("SendStreamingMessage", user_message_v1("slow please")))
        else:
            sender = _open(http, "message/stream", "POST", f"{a.url}{AGENT}", DEMO,
                           call("message/stream", user_message_v03("slow please")))
        await asyncio.wait_for(sender.first.wait(), _GUARD_S)
        task_id = _task_id(sender.events[0])
        await _wait_working(http, a, task_id)
        subscribers = [
            _open(http, f"{method} on {name}", "POST", f"{server.url}{AGENT}", headers,
                  call(method, {"id": task_id}))
            for name, server in (("A", a), ("B", b))
            for method, headers in (("SubscribeToTask", v1), ("tasks/resubscribe", DEMO))]
        for opened in subscribers:
            await asyncio.wait_for(opened.first.wait(), _GUARD_S)
        await _flush(a)
        for opened in [sender, *subscribers]:
            _assert_lost_sse(opened, await opened.closed(), jsonrpc=True)
    await _nothing_left(a, a, task_id)


async def test_every_grpc_stream_of_a_lost_task_ends_unavailable_at_once(
    lossy_pair: tuple[LiveServer, LiveServer],
) -> None:
    a, b = lossy_pair
    metadata = (("x-api-key", "demo-key"), ("x-agent-id", "echo"))
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{s.settings.grpc_port}") for s in (a, b)]
    stub_a, stub_b = (a2a_pb2_grpc.A2AServiceStub(c) for c in channels)  # type: ignore[no-untyped-call]
    try:
        request = SendMessageRequest(message=Message(
            message_id=uuid.uuid4().hex, role=Role.ROLE_USER, parts=[Part(text="slow please")]))
        calls = [stub_a.SendStreamingMessage(request, metadata=metadata)]
        first = await asyncio.wait_for(calls[0].read(), _GUARD_S)
        task_id = first.task.id
        async with httpx.AsyncClient(timeout=_GUARD_S) as http:
            await _wait_working(http, a, task_id)
        for stub in (stub_a, stub_b):
            call = stub.SubscribeToTask(SubscribeToTaskRequest(id=task_id), metadata=metadata)
            await asyncio.wait_for(call.read(), _GUARD_S)  # the snapshot: now tailing
            calls.append(call)
        await _flush(a)
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                while True:
                    item = await asyncio.wait_for(call.read(), _GUARD_S)
                    assert item is not grpc.aio.EOF, "the stream ended without the error"
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "the task store lost task" in (raised.value.details() or "")
    finally:
        for channel in channels:
            await channel.close()
    await _nothing_left(a, a, task_id)
