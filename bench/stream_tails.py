"""Why a stream's first event is late: where each stream's time goes, and what the loop did.

``python -m bench.stream_tails [--store memory|redis] [--count 200] [--quick]
[--client aiohttp|httpx]``

Not a throughput figure (timings of a shared machine say little): it explains each late
first event by mechanisms that show regardless of load. It starts our server exactly as
``make bench`` does (uvicorn, uvloop, httptools, pinned to the server core), with this
module's factory around ``bench.ours:create``, which records in the server process:

- per stream, wall-clock stamps of each step of its first event: uvicorn accepting its
  connection, reading the bytes that begin the request (``data_received``: the loop saw the
  socket readable) and parsing its headers (the ASGI task created), the request reaching the
  ASGI app, the handler entered (``ServerRequestHandler.stream``), the run started, the
  first commit's write started and returned, and the first SSE body written to the socket;
- an event-loop lag monitor (a 5 ms sleep that overshoots means the loop was busy) with a
  watchdog thread that, when the loop has not come back for 30 ms, records the main
  thread's stack (what blocked it: py-spy's answer without py-spy);
- every garbage collection of 5 ms or more (``gc.callbacks``), with its generation.

The client (pinned to the other core, as in scenario (e); aiohttp on uvloop as (e) has it,
or ``--client httpx``, (e)'s client until 2026-12-03) stamps each stream's start, the
connection it got (reused or new), the request headers written to the socket (on loopback
the server's socket is readable once ``send()`` returns) and the first event, and measures
its own CPU per stream. The report joins both by ``messageId`` and splits each stream's
first-event time into: the client's own part (start -> connection -> headers sent), the
kernel and the server's loop (sent -> read), uvicorn (read -> parsed -> app), server work
(app -> first SSE write) and server -> client (that write reaching the client's parser);
the slowest streams are listed with the loop stalls and collections that overlapped them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import gc
import os
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson
import uvloop

from bench.servers import CLIENT_CPU, Redis, Server, seed

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PROBE_PATH = "/__probe"
_LAG_PERIOD_S = 0.005
_LAG_RECORD_S = 0.010
_WATCHDOG_STALL_S = 0.030

_record: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "stream_tails_record", default=None)


def _stamp(step: str) -> None:
    record = _record.get()
    if record is not None and step not in record:
        record[step] = time.time()


def _runqueue_wait_ns() -> int:
    """Nanoseconds this process's main thread has waited runnable for a CPU (Linux)."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as f:
            return int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0


async def lag_monitor(lags: list[dict[str, Any]],
                      on_beat: Callable[[float], None] = lambda _now: None) -> None:
    """Record every time a 5 ms sleep overshoots by 10 ms or more, with how much of the
    overshoot the thread spent runnable but not running (the scheduler: another process
    had the core) rather than running (this loop was busy)."""
    waited = _runqueue_wait_ns()
    while True:
        before = time.perf_counter()
        await asyncio.sleep(_LAG_PERIOD_S)
        now = time.perf_counter()
        on_beat(now)
        was, waited = waited, _runqueue_wait_ns()
        lag = now - before - _LAG_PERIOD_S
        if lag >= _LAG_RECORD_S:
            lags.append({"at": time.time(), "ms": lag * 1000,
                         "descheduled_ms": (waited - was) / 1e6})


class _Probe:
    """What the server process records (one instance, reset by each GET /__probe)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lags: list[dict[str, Any]] = []
        self.gcs: list[dict[str, Any]] = []
        self.stacks: list[dict[str, Any]] = []
        self._gc_start = self._gc_cpu = 0.0
        # every collection, by generation: [count, CPU ms in all, the longest's CPU ms]
        self.gc_totals: dict[int, list[float]] = {0: [0, 0.0, 0.0], 1: [0, 0.0, 0.0],
                                                  2: [0, 0.0, 0.0]}
        self._beat = time.perf_counter()
        self._main = threading.main_thread().ident
        self._started = False

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        gc.callbacks.append(self._on_gc)
        if os.environ.get("BENCH_GC_THRESHOLDS"):  # experiments: other collector thresholds
            gc.set_threshold(*(int(x) for x in os.environ["BENCH_GC_THRESHOLDS"].split(",")))
        asyncio.get_running_loop().create_task(self._lag_monitor())
        threading.Thread(target=self._watchdog, daemon=True, name="stall-watchdog").start()

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start, self._gc_cpu = time.perf_counter(), time.thread_time()
            return
        took = time.perf_counter() - self._gc_start
        cpu_ms = (time.thread_time() - self._gc_cpu) * 1000
        totals = self.gc_totals.setdefault(int(info.get("generation", 0)), [0, 0.0, 0.0])
        totals[0] += 1
        totals[1] += cpu_ms
        totals[2] = max(totals[2], cpu_ms)
        if took >= 0.005:  # wall time; cpu_ms excludes the time the thread was descheduled
            self.gcs.append({"at": time.time(), "ms": took * 1000, "cpu_ms": cpu_ms,
                             "generation": info.get("generation"),
                             "collected": info.get("collected")})

    async def _lag_monitor(self) -> None:
        await lag_monitor(self.lags, self._on_beat)

    def _on_beat(self, now: float) -> None:
        self._beat = now

    def _watchdog(self) -> None:
        reported = 0.0
        while True:
            time.sleep(0.005)
            beat = self._beat
            if time.perf_counter() - beat < _WATCHDOG_STALL_S or beat == reported:
                continue
            reported = beat
            frame = sys._current_frames().get(self._main or 0)
            if frame is not None:  # innermost frames of our code and libraries, not importlib's
                stack = [f for f in traceback.extract_stack(frame)
                         if not f.filename.startswith("<frozen")][-8:]
                self.stacks.append({"at": time.time(), "stack": [
                    f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno} {f.name}"
                    for f in stack]})

    def reset(self) -> bytes:
        """Forget what was recorded so far (the warm-up, the preload); no collection. The
        answer: the collections since the last reset, by generation."""
        self.requests, self.lags, self.gcs, self.stacks = [], [], [], []
        totals = self._totals()
        self.gc_totals = {g: [0, 0.0, 0.0] for g in self.gc_totals}
        return orjson.dumps(totals)

    def _totals(self) -> dict[str, dict[str, float]]:
        return {str(g): {"count": int(t[0]), "cpu_ms": t[1], "max_cpu_ms": t[2]}
                for g, t in sorted(self.gc_totals.items())}

    def take(self) -> bytes:
        stats = gc.get_stats()
        objects = gc.get_objects()
        tracked = len(objects)
        kinds: dict[str, int] = {}
        for obj in objects:  # what the collector walks: the most common tracked types
            name = type(obj).__qualname__
            kinds[name] = kinds.get(name, 0) + 1
        del objects
        top = sorted(kinds.items(), key=lambda kv: kv[1], reverse=True)[:12]
        totals = self._totals()
        started = time.thread_time()  # the CPU a full collection costs at this heap: the
        gc.collect()                  # stall one would cause during the streams, unloaded
        full_ms = (time.thread_time() - started) * 1000
        body = orjson.dumps({"requests": self.requests, "lags": self.lags, "gcs": self.gcs,
                             "stacks": self.stacks, "gc_stats": stats, "tracked": tracked,
                             "frozen": gc.get_freeze_count(), "full_collection_ms": full_ms,
                             "thresholds": gc.get_threshold(), "gc_totals": totals,
                             "tracked_kinds": top})
        self.requests, self.lags, self.gcs, self.stacks = [], [], [], []
        self.gc_totals = {g: [0, 0.0, 0.0] for g in self.gc_totals}
        return body


class _ProbeApp:
    """ASGI wrapper: stamps each message:stream, serves the records at GET /__probe."""

    def __init__(self, app: Any, probe: _Probe) -> None:
        self.app = app
        self.probe = probe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.probe.start()
        if scope["path"] == PROBE_PATH:
            reset = scope.get("query_string") == b"reset"
            body = self.probe.reset() if reset else self.probe.take()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        if not scope["path"].endswith("/message:stream"):
            await self.app(scope, receive, send)
            return
        record: dict[str, Any] = {"app": time.time(), **scope.get("probe", {})}
        _record.set(record)

        async def receive_body() -> Message:
            message = await receive()
            if message["type"] == "http.request" and "message_id" not in record:
                try:
                    record["message_id"] = orjson.loads(message.get("body", b"{}"))[
                        "message"]["messageId"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    record["message_id"] = None
            return message

        async def send_stamped(message: Message) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                _stamp("write")
            await send(message)
            if message["type"] == "http.response.body" and message.get("body"):
                _stamp("written")

        try:
            await self.app(scope, receive_body, send_stamped)
        finally:
            self.probe.requests.append(record)


def _instrument() -> None:
    """Stamp the handler, the run's start and its first commit (this process only)."""
    from a2a_server.protocol.handler import ServerRequestHandler
    from a2a_server.runs.run import TaskRun

    stream = ServerRequestHandler.stream
    start = TaskRun.start
    commit_once = TaskRun._commit_once

    async def stamped_stream(self: Any, *args: Any, **kwargs: Any) -> Any:
        _stamp("handler")
        return await stream(self, *args, **kwargs)

    def stamped_start(self: Any) -> None:
        _stamp("run_started")
        start(self)

    async def stamped_commit(self: Any, *args: Any, **kwargs: Any) -> None:
        _stamp("commit_start")
        try:
            await commit_once(self, *args, **kwargs)
        finally:
            _stamp("commit_end")

    ServerRequestHandler.stream = stamped_stream  # type: ignore[method-assign]
    TaskRun.start = stamped_start  # type: ignore[method-assign]
    TaskRun._commit_once = stamped_commit  # type: ignore[method-assign]


def _instrument_uvicorn() -> None:
    """Stamp uvicorn's side of each request (httptools protocol): the connection's accept
    (``connection_made``), the read that began the request (``data_received``: the loop saw
    the socket readable and read it) and its headers parsed (the ASGI task created). The
    stamps travel in the request's scope, under ``probe``."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    made = HttpToolsProtocol.connection_made
    received = HttpToolsProtocol.data_received
    begin = HttpToolsProtocol.on_message_begin
    headers_complete = HttpToolsProtocol.on_headers_complete

    def stamped_made(self: Any, transport: Any) -> None:
        self._probe_made, self._probe_nth = time.time(), 0
        made(self, transport)

    def stamped_received(self: Any, data: bytes) -> None:
        self._probe_rx = time.time()
        received(self, data)

    def stamped_begin(self: Any) -> None:
        begin(self)
        self._probe_nth += 1
        self.scope["probe"] = {"accepted": self._probe_made, "read": self._probe_rx,
                               "nth_on_connection": self._probe_nth}

    def stamped_headers(self: Any) -> None:
        self.scope["probe"]["parsed"] = time.time()
        headers_complete(self)

    HttpToolsProtocol.connection_made = stamped_made  # type: ignore[method-assign]
    HttpToolsProtocol.data_received = stamped_received  # type: ignore[method-assign]
    HttpToolsProtocol.on_message_begin = stamped_begin  # type: ignore[method-assign]
    HttpToolsProtocol.on_headers_complete = stamped_headers  # type: ignore[method-assign]


def create() -> Any:
    """uvicorn factory: ``bench.ours:create`` with the probe around it."""
    from bench.ours import create as create_ours

    _instrument()
    _instrument_uvicorn()
    return _ProbeApp(create_ours(), _Probe())


# -- the client ----------------------------------------------------------------------------

HEADERS = {"X-API-Key": "demo-key", "Tenant-Name": "demo", "A2A-Version": "1.0"}


class _HttpxClient:
    """Scenario (e)'s client until 2026-12-03 evening: httpx on asyncio. httpcore's trace
    extension stamps the connection's set-up and the request's write."""

    _STEPS = {"connection.connect_tcp.started": "connect",
              "http11.send_request_headers.started": "acquired",
              "http11.send_request_headers.complete": "sent"}

    def __init__(self, concurrency: int) -> None:
        limits = httpx.Limits(max_connections=concurrency,
                              max_keepalive_connections=concurrency)
        self.client = httpx.AsyncClient(headers=HEADERS, timeout=30, limits=limits)

    async def stream(self, url: str, body: bytes, row: dict[str, Any]) -> None:
        async def trace(event: str, _info: dict[str, Any]) -> None:
            if event in self._STEPS:
                row.setdefault(self._STEPS[event], time.time())

        async with self.client.stream("POST", url, content=body, extensions={"trace": trace},
                                      headers={"Content-Type": "application/json"}) as response:
            async for line in response.aiter_lines():
                if line == "" and "first" not in row:
                    row["first"] = time.time()

    async def post(self, url: str, body: bytes) -> None:
        await self.client.post(url, content=body, headers={"Content-Type": "application/json"})

    async def get(self, url: str) -> bytes:
        return (await self.client.get(url)).content

    async def close(self) -> None:
        await self.client.aclose()


class _AiohttpClient:
    """Scenario (e)'s client (bench/load.py): aiohttp on uvloop. aiohttp's request tracing
    stamps the connection's set-up or reuse and the request headers' write."""

    def __init__(self, concurrency: int) -> None:
        def stamp(step: str) -> Any:
            async def on(_session: Any, ctx: Any, _params: Any) -> None:
                if ctx.trace_request_ctx is not None:
                    ctx.trace_request_ctx.setdefault(step, time.time())
            return on

        trace = aiohttp.TraceConfig()
        trace.on_connection_create_start.append(stamp("connect"))
        trace.on_connection_create_end.append(stamp("acquired"))
        trace.on_connection_reuseconn.append(stamp("acquired"))
        trace.on_request_headers_sent.append(stamp("sent"))
        self.session = aiohttp.ClientSession(
            headers={**HEADERS, "Content-Type": "application/json"},
            connector=aiohttp.TCPConnector(limit=concurrency), trace_configs=[trace],
            timeout=aiohttp.ClientTimeout(total=30))

    async def stream(self, url: str, body: bytes, row: dict[str, Any]) -> None:
        async with self.session.post(url, data=body, trace_request_ctx=row) as response:
            async for line in response.content:
                if line.strip() == b"" and "first" not in row:
                    row["first"] = time.time()

    async def post(self, url: str, body: bytes) -> None:
        async with self.session.post(url, data=body) as response:
            await response.read()

    async def get(self, url: str) -> bytes:
        async with self.session.get(url) as response:
            return await response.read()

    async def close(self) -> None:
        await self.session.close()


async def _streams(url: str, count: int, concurrency: int, preload: int = 0,
                   probe_url: str | None = None,
                   client_kind: str = "aiohttp") -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    monitor = asyncio.create_task(lag_monitor(CLIENT_LAGS))
    gc.callbacks.append(_on_client_gc)
    client = (_AiohttpClient if client_kind == "aiohttp" else _HttpxClient)(concurrency)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        message_id = f"tails-{uuid.uuid4().hex}"
        body = orjson.dumps({"message": {"messageId": message_id, "role": "ROLE_USER",
                                         "parts": [{"text": f"stream {i}"}]}})
        async with gate:
            row: dict[str, Any] = {"message_id": message_id, "start": time.time()}
            await client.stream(f"{url}/message:stream", body, row)
            row["done"] = time.time()
            results.append(row)

    try:
        await asyncio.gather(*(one(i) for i in range(concurrency)))  # warm-up
        results.clear()
        if probe_url is not None:
            await client.get(f"{probe_url}?reset")
        if preload:  # the server's state after (c)/(d) of make bench: many tasks sent
            async def send(i: int) -> None:
                async with gate:
                    await client.post(f"{url}/message:send", orjson.dumps({"message": {
                        "messageId": uuid.uuid4().hex, "role": "ROLE_USER",
                        "parts": [{"text": f"preload {i}"}]}}))
            await asyncio.gather(*(send(i) for i in range(preload)))
        CLIENT_LAGS.clear()
        CLIENT_GCS.clear()
        if probe_url is not None:  # the server's records start with the measured streams
            PRELOAD_GC.update(orjson.loads(await client.get(f"{probe_url}?reset")))
        cpu = time.process_time()
        await asyncio.gather(*(one(i) for i in range(count)))
        CLIENT_CPU_MS.append((time.process_time() - cpu) * 1000 / max(count, 1))
    finally:
        await client.close()
        monitor.cancel()
        gc.callbacks.remove(_on_client_gc)
    return results


CLIENT_LAGS: list[dict[str, Any]] = []
CLIENT_GCS: list[dict[str, Any]] = []  # the client's own collections of 5 ms or more
_client_gc_started = [0.0]


def _on_client_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _client_gc_started[0] = time.perf_counter()
        return
    took = time.perf_counter() - _client_gc_started[0]
    if took >= 0.005:
        CLIENT_GCS.append({"at": time.time(), "ms": took * 1000,
                           "generation": info.get("generation")})
CLIENT_CPU_MS: list[float] = []  # the client's CPU per measured stream
PRELOAD_GC: dict[str, dict[str, float]] = {}  # the server's collections during the preload


def _gc_line(totals: dict[str, dict[str, float]]) -> str:
    return "; ".join(f"gen{g}: {t['count']}, {t['cpu_ms']:.1f} ms of CPU in all, longest "
                     f"{t['max_cpu_ms']:.1f}" for g, t in totals.items())


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


_SEGMENTS = (("client->app", "start", "app"),
             ("client: start->connection", "start", "acquired"),
             ("client: connection->headers sent", "acquired", "sent"),
             ("sent->server read", "sent", "read"),
             ("server read->parsed", "read", "parsed"), ("parsed->app", "parsed", "app"),
             ("app->handler", "app", "handler"),
             ("handler->run", "handler", "run_started"),
             ("run->commit", "run_started", "commit_start"),
             ("commit", "commit_start", "commit_end"), ("commit->write", "commit_end", "write"),
             ("write", "write", "written"), ("written->client", "written", "first"))


def report(rows: list[dict[str, Any]], probe: dict[str, Any], slowest: int = 8) -> str:
    """The breakdown of first-event times, and the slowest streams with what overlapped."""
    by_id = {r.get("message_id"): r for r in probe["requests"]}
    joined = [{**by_id.get(row["message_id"], {}), **row} for row in rows]
    lines = [f"{len(joined)} streams; {sum(1 for j in joined if 'app' in j)} joined with the "
             "server's records", "", "| segment | p50 ms | p99 ms | max ms |", "|---|---|---|---|"]
    total = [(j["first"] - j["start"]) * 1000 for j in joined if "first" in j]
    lines.append(f"| first event (client) | {_pct(total, 50):.2f} | {_pct(total, 99):.2f} | "
                 f"{max(total, default=float('nan')):.2f} |")
    for name, a, b in _SEGMENTS:
        values = [(j[b] - j[a]) * 1000 for j in joined if a in j and b in j]
        lines.append(f"| {name} | {_pct(values, 50):.2f} | {_pct(values, 99):.2f} | "
                     f"{max(values, default=float('nan')):.2f} |")
    fresh = sum(1 for j in joined if "connect" in j)
    nth = sorted(j["nth_on_connection"] for j in joined if "nth_on_connection" in j)
    lines += ["", f"new TCP connections: {fresh} of {len(joined)} streams (the rest reused a "
              f"keep-alive one); request number on its connection (server): min "
              f"{nth[0] if nth else '-'}, median {nth[len(nth) // 2] if nth else '-'}; client "
              f"CPU {CLIENT_CPU_MS[-1] if CLIENT_CPU_MS else float('nan'):.2f} ms per stream"]
    lags, gcs, stacks = probe["lags"], probe["gcs"], probe["stacks"]
    lines += ["", f"server loop stalls >= {_LAG_RECORD_S * 1000:.0f} ms: {len(lags)} "
              f"(max {max((x['ms'] for x in lags), default=0):.1f} ms, of which descheduled "
              f"{sum(x['descheduled_ms'] for x in lags):.1f} of {sum(x['ms'] for x in lags):.1f}"
              f" ms); client loop stalls: {len(CLIENT_LAGS)} (max "
              f"{max((x['ms'] for x in CLIENT_LAGS), default=0):.1f} ms, descheduled "
              f"{sum(x['descheduled_ms'] for x in CLIENT_LAGS):.1f} of "
              f"{sum(x['ms'] for x in CLIENT_LAGS):.1f} ms; its collections >= 5 ms: "
              f"{len(CLIENT_GCS)}, max {max((x['ms'] for x in CLIENT_GCS), default=0):.1f} ms, "
              f"generations {sorted({x['generation'] for x in CLIENT_GCS})}); server "
              "collections >= 5 ms: "
              f"{len(gcs)} (max {max((x['ms'] for x in gcs), default=0):.1f} ms, cpu "
              f"{max((x['cpu_ms'] for x in gcs), default=0):.1f} ms, generations "
              f"{sorted({x['generation'] for x in gcs})}); stacks caught: {len(stacks)}", ""]
    ranked = sorted((j for j in joined if "first" in j), key=lambda j: j["first"] - j["start"],
                    reverse=True)[:slowest]
    for j in ranked:
        start, first = j["start"], j["first"]
        parts = ", ".join(f"{name} {(j[b] - j[a]) * 1000:.1f}" for name, a, b in _SEGMENTS
                          if a in j and b in j)
        overlap_lag = [f"server {x['ms']:.0f} (descheduled {x['descheduled_ms']:.0f})"
                       for x in lags if start <= x["at"] <= first + 0.001]
        overlap_lag += [f"client {x['ms']:.0f} (descheduled {x['descheduled_ms']:.0f})"
                        for x in CLIENT_LAGS if start <= x["at"] <= first + 0.001]
        overlap_gc = [f"gen{x['generation']} {x['ms']:.0f} (cpu {x['cpu_ms']:.0f})" for x in gcs
                      if start <= x["at"] <= first + 0.001]
        overlap_gc += [f"client gen{x['generation']} {x['ms']:.0f}" for x in CLIENT_GCS
                       if start <= x["at"] <= first + 0.001]
        lines.append(f"- {(first - start) * 1000:.1f} ms: {parts}; loop stalls ending inside: "
                     f"{overlap_lag or 'none'}; collections: {overlap_gc or 'none'}")
    lines.append(f"garbage collector: thresholds {probe['thresholds']}, collections per "
                 f"generation since start {[g['collections'] for g in probe['gc_stats']]}, "
                 f"{probe['tracked']:,} tracked objects ({probe['frozen']:,} frozen); a full "
                 f"collection now costs {probe['full_collection_ms']:.1f} ms of CPU")
    if PRELOAD_GC:
        lines.append(f"collections during the preload, by generation: {_gc_line(PRELOAD_GC)}")
    lines.append(f"collections during the streams, by generation: {_gc_line(probe['gc_totals'])}")
    lines.append("most common tracked objects: " + ", ".join(
        f"{name} {count:,}" for name, count in probe["tracked_kinds"]))
    for s in stacks[:5]:
        lines.append(f"  stack at a stall: {' <- '.join(reversed(s['stack']))}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Start Redis (if asked) and the server, run the streams, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=("memory", "redis"), default="redis")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="60 streams")
    parser.add_argument("--seed", action="store_true",
                        help="first seed what make bench seeds (tasks of 1,000 and 10,000 "
                        "messages, 200 of 1,000) through the server's store")
    parser.add_argument("--client", choices=("aiohttp", "httpx"), default="aiohttp",
                        help="aiohttp on uvloop (scenario (e)'s client) or httpx on asyncio "
                        "(its client until 2026-12-03)")
    parser.add_argument("--preload", type=int, default=0,
                        help="blocking sends before the streams (a server that served load)")
    args = parser.parse_args(argv)
    count = 60 if args.quick else args.count
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(CLIENT_CPU)})  # the load generator's core, as in (e)
    workdir = Path(tempfile.mkdtemp(prefix="stream-tails-"))
    redis = Redis() if args.store == "redis" else None
    env = {"A2A_SERVER_AGENTS_DIR": str(Path(__file__).parent / "agent_cards")}
    server = Server("ours-probe", "bench.stream_tails:create", "/agents/echo/v1", env)
    try:
        if redis is not None:
            redis.start(workdir)
            server.env["A2A_SERVER_REDIS_URL"] = redis.url
        server.start(workdir)
        if args.seed:  # the state bench.run's servers are in before (e)
            seed(server, {"completed": [1000, 10000], "open": {"count": 200, "messages": 1000}})
        probe_url = f"http://127.0.0.1:{server.port}{PROBE_PATH}"
        streams = _streams(server.url, count, args.concurrency, args.preload, probe_url,
                           args.client)
        rows = uvloop.run(streams) if args.client == "aiohttp" else asyncio.run(streams)
        probe = orjson.loads(httpx.get(probe_url).content)
        print(f"store {args.store}, {count} message:stream, {args.concurrency} at a time, "
              f"client {args.client} (pid {os.getpid()})")
        print(report(rows, probe))
    finally:
        server.stop()
        if redis is not None:
            redis.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
