"""The REST streams' SSE response: bytes, pings, disconnects, errors, shutdown and HEAD.

The response is driven through a bare ASGI ``receive``/``send`` pair where the test needs
to play the client (leave, stay idle), and through a real uvicorn for the wire bytes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from a2a.utils.errors import TaskNotFoundError

from a2a_server.errors import rest_error
from a2a_server.protocol import sse
from a2a_server.protocol.sse import EventStreamResponse, error_frame, event_frame
from a2a_server.settings import Settings
from tests.conftest import (
    DEMO,
    V1,
    LiveServer,
    free_port,
    running_app,
    user_message_v03,
    user_message_v1,
)
from tests.limited_tenants import LIMITED, tenants_with_limits
from tests.observability.metrics_text import value
from tests.test_replicas import agents_with_slow

SCOPE = {"type": "http", "method": "GET", "path": "/s", "headers": []}


class Client:
    """The ASGI side a client makes: what was sent, and a disconnect on demand."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.gone = asyncio.Event()
        self.complete = asyncio.Event()
        self.body_read = False
        self.sent = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        if not self.body_read:
            self.body_read = True
            return {"type": "http.request", "body": b"", "more_body": False}
        done = asyncio.ensure_future(self.complete.wait())
        left = asyncio.ensure_future(self.gone.wait())
        try:
            await asyncio.wait({done, left}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            done.cancel()
            left.cancel()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.complete.set()
        self.sent.set()

    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.messages if m["type"] == "http.response.body"]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(5):
            while not predicate():
                self.sent.clear()
                await self.sent.wait()


class Source:
    """An event source that yields on demand and says whether it was closed."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str | Exception | None] = asyncio.Queue()
        self.closed = False

    async def events(self) -> AsyncIterator[str]:
        try:
            while (item := await self.queue.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            self.closed = True


def response(source: Source, **kwargs: Any) -> EventStreamResponse[str]:
    return EventStreamResponse(source.events(), lambda item: event_frame(item.encode(), "7"),
                               lambda exc: error_frame(bytes(rest_error(exc).body)), **kwargs)


async def test_events_then_the_end_and_the_iterator_closed() -> None:
    source, client = Source(), Client()
    for item in ('{"a":1}', '{"b":2}', None):
        source.queue.put_nowait(item)
    await response(source)(SCOPE, client.receive, client.send)
    start = client.messages[0]
    assert start == {"type": "http.response.start", "status": 200, "headers": [
        (b"cache-control", b"no-store"), (b"connection", b"keep-alive"),
        (b"x-accel-buffering", b"no"), (b"content-type", b"text/event-stream; charset=utf-8")]}
    assert client.bodies() == [b'id: 7\r\ndata: {"a":1}\r\n\r\n', b'id: 7\r\ndata: {"b":2}\r\n\r\n', b""]
    assert source.closed


async def test_an_idle_stream_is_pinged() -> None:
    source, client = Source(), Client()
    source.queue.put_nowait("{}")
    serving = asyncio.create_task(response(source, ping_seconds=0.05)(SCOPE, client.receive,
                                                                      client.send))
    await client.wait_for(lambda: len(client.bodies()) >= 3)  # the event, then two pings
    pings = client.bodies()[1:]
    assert all(p.startswith(b": ping - ") and p.endswith(b"+00:00\r\n\r\n") for p in pings)
    source.queue.put_nowait(None)
    await asyncio.wait_for(serving, 5)
    assert client.bodies()[-1] == b"" and source.closed


class SlowPingClient(Client):
    """A client whose socket takes a while to take a ping; it counts overlapping sends."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = self.most_in_flight = 0
        self.pinging = asyncio.Event()

    async def send(self, message: dict[str, Any]) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if message.get("body", b"").startswith(b": ping"):
                self.pinging.set()
                await asyncio.sleep(0.1)
            await super().send(message)
        finally:
            self.in_flight -= 1


async def test_an_event_due_while_a_ping_is_written_waits_for_it() -> None:
    """The ping and the events never share ``send`` at once: an event that arrives while
    a ping is being written is written after it, whole."""
    source, client = Source(), SlowPingClient()
    source.queue.put_nowait('{"a":1}')
    serving = asyncio.create_task(response(source, ping_seconds=0.02)(SCOPE, client.receive,
                                                                      client.send))
    async with asyncio.timeout(5):
        await client.pinging.wait()
    source.queue.put_nowait('{"b":2}')
    await client.wait_for(lambda: b'id: 7\r\ndata: {"b":2}\r\n\r\n' in client.bodies())
    source.queue.put_nowait(None)
    await asyncio.wait_for(serving, 5)
    bodies = client.bodies()
    assert bodies[0] == b'id: 7\r\ndata: {"a":1}\r\n\r\n' and bodies[1].startswith(b": ping - ")
    assert bodies[2] == b'id: 7\r\ndata: {"b":2}\r\n\r\n' and bodies[-1] == b""
    assert client.most_in_flight == 1 and source.closed


async def test_a_client_leaving_closes_the_event_source() -> None:
    """The client leaves while the stream waits for its next event: the wait ends, the
    source is closed (a store subscription with it), nothing more is written."""
    source, client = Source(), Client()
    source.queue.put_nowait("{}")
    serving = asyncio.create_task(response(source)(SCOPE, client.receive, client.send))
    await client.wait_for(lambda: len(client.bodies()) == 1)
    await asyncio.sleep(0.01)  # the stream is now waiting for its next event
    client.gone.set()
    await asyncio.wait_for(serving, 5)  # returns (no CancelledError escapes to the server)
    assert source.closed
    assert client.bodies() == [b'id: 7\r\ndata: {}\r\n\r\n']


async def test_an_error_mid_stream_ends_it_as_an_error_event() -> None:
    source, client = Source(), Client()
    source.queue.put_nowait("{}")
    source.queue.put_nowait(TaskNotFoundError(message="task t not found"))
    await response(source)(SCOPE, client.receive, client.send)
    bodies = client.bodies()
    assert bodies[0] == b'id: 7\r\ndata: {}\r\n\r\n' and bodies[2] == b""
    assert bodies[1].startswith(b"event: error\r\ndata: ") and bodies[1].endswith(b"\r\n\r\n")
    error = orjson.loads(bodies[1].removeprefix(b"event: error\r\ndata: "))
    assert error == orjson.loads(rest_error(TaskNotFoundError(message="task t not found")).body)
    assert error["error"]["code"] == 404
    assert source.closed


async def test_the_server_cancelling_the_request_still_closes_the_source() -> None:
    source, client = Source(), Client()
    source.queue.put_nowait("{}")
    serving = asyncio.create_task(response(source)(SCOPE, client.receive, client.send))
    await client.wait_for(lambda: len(client.bodies()) == 1)
    serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await serving
    assert source.closed


async def test_shutdown_ends_open_streams_with_a_clean_end(monkeypatch: pytest.MonkeyPatch) -> None:
    source, client = Source(), Client()
    source.queue.put_nowait("{}")
    monkeypatch.setattr(sse, "SHUTDOWN_POLL_SECONDS", 0.02)
    serving = asyncio.create_task(response(source)(SCOPE, client.receive, client.send))
    await client.wait_for(lambda: len(client.bodies()) == 1)
    monkeypatch.setattr(sse, "_server_exiting", lambda: True)
    await asyncio.wait_for(serving, 5)  # within one poll of the watcher (0.5 s at most)
    assert client.bodies() == [b'id: 7\r\ndata: {}\r\n\r\n', b""]
    assert source.closed


async def test_head_answers_the_headers_alone() -> None:
    source, client = Source(), Client()
    source.queue.put_nowait("{}")
    await response(source)({**SCOPE, "method": "HEAD"}, client.receive, client.send)
    assert client.messages[0]["status"] == 200 and client.bodies() == [b""]
    assert source.queue.qsize() == 1  # never read


async def test_rest_streams_on_the_wire(live_server_factory: Callable[..., LiveServer]) -> None:
    """The bytes a client reads: sse-starlette's headers, ``id:`` then ``data:``, CRLF."""
    server = live_server_factory("memory")
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        for headers, body in ((DEMO, user_message_v03("hi")), ({**DEMO, **V1}, user_message_v1("hi"))):
            async with client.stream("POST", "/agents/echo/v1/message:stream", json=body,
                                     headers=headers) as answer:
                raw = b"".join([chunk async for chunk in answer.aiter_raw()])
            assert answer.headers["content-type"] == "text/event-stream; charset=utf-8"
            assert answer.headers["cache-control"] == "no-store"
            assert answer.headers["x-accel-buffering"] == "no"
            assert answer.headers["connection"] == "keep-alive"
            frames = raw.split(b"\r\n\r\n")
            assert frames[-1] == b"" and len(frames) == 4
            for version, frame in enumerate(frames[:-1], start=1):
                event_id, data = frame.split(b"\r\n")
                assert event_id == f"id: {version}".encode()
                assert data.startswith(b"data: {") and data.endswith(b"}")


def test_a_client_leaving_a_subscription_ends_it_on_the_server(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    """A subscriber to a long task leaves: the server ends the stream (not counted as open
    any more) long before the task ends."""
    server = live_server_factory("memory", agents_dir=agents_with_slow(tmp_path / "agents", 60))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        body = user_message_v03("slow please")
        body["configuration"] = {"blocking": False}
        task = http.post("/agents/echo/v1/message:send", json=body, headers=DEMO).json()["task"]
        with http.stream("GET", f"/agents/echo/v1/tasks/{task['id']}:subscribe",
                         headers=DEMO) as answer:
            assert answer.status_code == 200
            lines = answer.iter_lines()  # kept: a dropped iterator closes the connection
            next(lines)
            assert value(http.get("/metrics").text, "a2a_http_open_streams") == 1
        # leaving the block closed the connection
        deadline = time.monotonic() + 10
        while value(http.get("/metrics").text, "a2a_http_open_streams") != 0:
            assert time.monotonic() < deadline, "the stream the client left is still open"
            time.sleep(0.05)
        state = http.get(f"/agents/echo/v1/tasks/{task['id']}", headers=DEMO).json()["status"]
        assert state["state"] == "working"


async def test_a_client_leaving_message_stream_gives_its_stream_slot_back(
    backend: str, settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    """``open_streams: 1``: a sender that leaves its ``message:stream`` mid-run (the run goes
    on) frees the slot for the next stream."""
    settings = settings_for(backend, tenants_dir=tenants_with_limits(tmp_path / "tenants",
                                                                     open_streams=1),
                            agents_dir=agents_with_slow(tmp_path / "agents", 30))
    async with running_app(settings) as app:
        first = Client()
        first.body_read = True  # the body comes from receive_body
        scope = {**SCOPE, "method": "POST", "path": "/agents/echo/v1/message:stream",
                 "raw_path": b"/agents/echo/v1/message:stream", "query_string": b"",
                 "root_path": "", "http_version": "1.1", "scheme": "http",
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
                 "headers": [(k.lower().encode(), v.encode()) for k, v in
                             {**LIMITED, **V1, "Content-Type": "application/json"}.items()]}

        def receive_body(client: Client, text: str) -> Callable[[], Any]:
            sent = False

            async def receive() -> dict[str, Any]:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": orjson.dumps(user_message_v1(text)),
                            "more_body": False}
                return await client.receive()
            return receive

        streaming = asyncio.create_task(app(scope, receive_body(first, "slow please"), first.send))
        await first.wait_for(lambda: len(first.bodies()) >= 2)  # the task, then working
        assert first.messages[0]["status"] == 200
        first.gone.set()
        await asyncio.wait_for(streaming, 5)
        async with asyncio.timeout(5):  # the slot's keeper gives it back a few turns later
            while True:
                second = Client()
                second.body_read = True
                await app(scope, receive_body(second, "hi"), second.send)
                if second.messages[0]["status"] != 429:
                    break
                await asyncio.sleep(0.01)
        assert second.messages[0]["status"] == 200, second.bodies()
        assert b"TASK_STATE_COMPLETED" in b"".join(second.bodies())


def test_sigterm_ends_open_streams_cleanly(tmp_path: Path) -> None:
    """``a2a-server serve`` stopped with SIGTERM while a subscriber waits on a long task:
    the stream ends with a complete chunked body (no truncated response) and the server
    exits without waiting out uvicorn's graceful-shutdown timeout."""
    port = free_port()
    env = {**os.environ, "A2A_SERVER_LOG_LEVEL": "warning", "A2A_SERVER_ACCESS_LOG": "false"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "a2a_server", "serve", "--port", str(port), "--agents-dir",
         str(agents_with_slow(tmp_path / "agents", 60))],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "no server"
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        with httpx.Client(base_url=url, timeout=30) as http:
            body = user_message_v03("slow please")
            body["configuration"] = {"blocking": False}
            task = http.post("/agents/echo/v1/message:send", json=body, headers=DEMO).json()["task"]
            with http.stream("GET", f"/agents/echo/v1/tasks/{task['id']}:subscribe",
                             headers=DEMO) as answer:
                lines = answer.iter_lines()
                assert next(lines) == "id: 2"
                server.send_signal(signal.SIGTERM)
                rest = list(lines)  # raises if the body is cut short
        assert rest[-1] == ""
        assert server.wait(10) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
    assert server.stderr is not None
    assert b"timeout graceful shutdown exceeded" not in server.stderr.read()
