"""The REST streams' server-sent events response, written in the request's own task.

``EventStreamResponse`` replaces sse-starlette's ``EventSourceResponse`` for
``message:stream`` and ``tasks/{id}:subscribe`` (JSON-RPC streams stay the SDK's). That
one ran every response in an anyio task group of four tasks (the stream, a ping, a
disconnect listener and a shutdown listener) and cancelled three of them when the stream
ended; the cancellations left ~110 objects of cyclic garbage per stream, a young
collection every ~45 streams (docs/performance.md, "Stream tails"). Here:

- the events are read, encoded and written by the request's task itself;
- one listener task, started once the first event is written (nothing runs beside the
  first event), waits on ``receive``: ``http.disconnect`` ends the stream, and it sends
  the keep-alive ping when ``receive`` was quiet for ``ping_seconds``; after the last
  event it ends by itself (the server answers ``receive`` with ``http.disconnect`` once
  the response is complete), so no task is cancelled when a stream ends;
- the two never write at once, without a lock on the events' path: the listener pings
  only while the request's task waits for its next event (so no event is being written;
  a ping that falls while one is, is dropped: the stream is not idle), and the request's
  task, before it writes, waits for a ping still being written (``_ping``, set only
  while one is);
- one watcher per event loop ends every open stream when the server shuts down, as
  sse-starlette's did: uvicorn's exit flag (found through its signal handler) or
  sse-starlette's ``AppStatus.should_exit``, polled every half second.

Whatever ends a stream (its last event, an error, the client leaving, shutdown), the
event iterator is closed (``aclose``) before the response returns, so a store
subscription and the stream's quota slot end with it.

The bytes are those sse-starlette wrote: the same headers (``Cache-Control: no-store``,
``Connection: keep-alive``, ``X-Accel-Buffering: no``, ``Content-Type:
text/event-stream; charset=utf-8``), ``\\r\\n`` line ends, ``id:`` before ``event:``
before ``data:``, and the ping comment ``: ping - <UTC time>`` every 15 s. The data of an
event is one line: it is always compact JSON (orjson writes no raw line breaks).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import weakref
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sse_starlette.sse import AppStatus
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

T = TypeVar("T")

PING_SECONDS = 15.0  # sse-starlette's default interval, which clients and proxies have seen
SHUTDOWN_POLL_SECONDS = 0.5

_HEADERS = ((b"cache-control", b"no-store"), (b"connection", b"keep-alive"),
            (b"x-accel-buffering", b"no"), (b"content-type", b"text/event-stream; charset=utf-8"))
_END: dict[str, Any] = {"type": "http.response.body", "body": b"", "more_body": False}

# Why a stream ended early (the response's ``_ended``)
_CLIENT = "client"
_SHUTDOWN = "shutdown"
_DONE = "done"


def event_frame(data: bytes, event_id: str | None = None) -> bytes:
    """One event: ``id: <event_id>`` (if any) and ``data: <data>`` (one line of JSON)."""
    if event_id is None:
        return b"data: " + data + b"\r\n\r\n"
    return b"id: " + event_id.encode() + b"\r\ndata: " + data + b"\r\n\r\n"


def error_frame(data: bytes) -> bytes:
    """The event that ends a stream on an error: ``event: error`` and its JSON body."""
    return b"event: error\r\ndata: " + data + b"\r\n\r\n"


def ping_frame() -> bytes:
    """The keep-alive comment, as sse-starlette wrote it."""
    return f": ping - {datetime.now(UTC)}\r\n\r\n".encode()


class EventStreamResponse(Response, Generic[T]):
    """Server-sent events of ``events``, each encoded by ``render``.

    An exception from ``events`` or ``render`` ends the stream with ``render_error(exc)``
    (an ``event: error`` frame). A HEAD request is answered with the headers alone.

    Args:
        events: what to send; closed when the stream ends, however it ends.
        render: one item to its frame (``event_frame``).
        render_error: an exception to its frame (``error_frame``).
        ping_seconds: idle time before a keep-alive comment (0: none).
    """

    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[T], render: Callable[[T], bytes],
                 render_error: Callable[[Exception], bytes], *,
                 ping_seconds: float = PING_SECONDS) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = list(_HEADERS)
        self.events = events
        self._render = render
        self._render_error = render_error
        self.ping_seconds = ping_seconds
        self._ended: str | None = None
        self._waiting = False  # the task is waiting for the next event (and may be cancelled)
        self._task: asyncio.Task[Any] | None = None
        self._ping: asyncio.Future[None] | None = None  # done when the ping being sent is

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Write the stream; return once it ended and ``events`` is closed."""
        start = {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
        if scope["method"] == "HEAD":  # no stream: a HEAD would otherwise never end
            await self._close_events()
            await send(start)
            await send(_END)
            return
        self._task = asyncio.current_task()
        open_streams = _open_streams()
        open_streams.add(self)
        listener: asyncio.Task[None] | None = None
        try:
            await send(start)
            listener = await self._write_events(receive, send)
        finally:
            open_streams.discard(self)
            await self._close_events()
        if self._ended != _CLIENT:
            self._ended = _DONE
            if self._ping is not None:
                await self._ping
            await send(_END)
        if listener is not None:
            await listener  # ends on its own: receive() answers http.disconnect now

    async def _write_events(self, receive: Receive, send: Send) -> asyncio.Task[None] | None:
        """Every event until the last, an error, or an end from outside; the listener."""
        events = self.events
        render = self._render
        listener: asyncio.Task[None] | None = None
        try:
            while self._ended is None:
                self._waiting = True
                try:
                    item = await anext(events)
                except StopAsyncIteration:
                    break
                finally:
                    self._waiting = False
                frame = render(item)
                if self._ping is not None:  # the listener is writing a ping: after it
                    await self._ping
                await send({"type": "http.response.body", "body": frame, "more_body": True})
                if listener is None:
                    listener = asyncio.get_running_loop().create_task(self._listen(receive, send))
        except asyncio.CancelledError:
            if self._ended is None:  # not ours: the server is cancelling the request
                raise
            current = asyncio.current_task()
            assert current is not None
            current.uncancel()
        except Exception as exc:  # noqa: BLE001 - ends the stream as an error event
            frame = self._render_error(exc)
            if self._ended is None:
                if self._ping is not None:
                    await self._ping
                await send({"type": "http.response.body", "body": frame, "more_body": True})
        return listener

    async def _listen(self, receive: Receive, send: Send) -> None:
        """Until the stream ends: the client leaving ends it; idle, a ping now and then."""
        timeout = self.ping_seconds or None
        while self._ended is None:
            try:
                async with asyncio.timeout(timeout):
                    message = await receive()
            except TimeoutError:
                if self._ended is None and self._waiting:  # idle: no event being written
                    await self._send_ping(send)
                continue
            if message["type"] == "http.disconnect":
                self.end(_CLIENT)
                return

    async def _send_ping(self, send: Send) -> None:
        self._ping = ping = asyncio.get_running_loop().create_future()
        try:
            await send({"type": "http.response.body", "body": ping_frame(), "more_body": True})
        finally:
            self._ping = None
            if not ping.done():  # a writer waiting on it may have been cancelled (and it)
                ping.set_result(None)

    def end(self, why: str) -> None:
        """End the stream from outside: the client left (no end is sent) or shutdown."""
        if self._ended is not None:
            return
        self._ended = why
        if self._waiting and self._task is not None:
            self._task.cancel()  # wake it from the wait for the next event

    async def _close_events(self) -> None:
        aclose = getattr(self.events, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(RuntimeError):  # already closing (a nested generator)
                await aclose()


# The open streams of each event loop, and the shutdown watcher that ends them
_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, set[EventStreamResponse[Any]]] = (
    weakref.WeakKeyDictionary())


def _open_streams() -> set[EventStreamResponse[Any]]:
    loop = asyncio.get_running_loop()
    streams = _loops.get(loop)
    if streams is None:
        streams = _loops[loop] = set()
        # Not kept here (a value holding the loop would keep the weak key alive): between
        # its polls the task is held by the loop through the timer of its sleep.
        loop.create_task(_watch_shutdown(streams))  # noqa: RUF006
    return streams


def _server_exiting() -> bool:
    """Is uvicorn shutting down? Its exit flag, found through its SIGTERM handler (a bound
    method of the server), or sse-starlette's (set by its patch of uvicorn's handler)."""
    if AppStatus.should_exit:
        return True
    server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return bool(getattr(server, "should_exit", False))


async def _watch_shutdown(streams: set[EventStreamResponse[Any]]) -> None:
    """While the loop runs: every half second with streams open, end them if the server
    is shutting down (the flag is read each time: a loop may outlive one server)."""
    while True:
        await asyncio.sleep(SHUTDOWN_POLL_SECONDS)
        if streams and _server_exiting():
            for stream in list(streams):
                stream.end(_SHUTDOWN)
