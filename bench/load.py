"""Load generators: wrk (HTTP/1.1, fixed connections) and an asyncio SSE client."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson
import uvloop

from bench.servers import CLIENT_CPU

LUA = Path(__file__).resolve().parent / "lua" / "a2a.lua"
HEADERS = {"X-API-Key": "demo-key", "Tenant-Name": "demo", "A2A-Version": "1.0"}


def require_wrk() -> str:
    """The wrk binary, or a SystemExit that says how to install it."""
    exe = shutil.which("wrk")
    if exe is None:
        raise SystemExit("wrk is required: apt-get update && apt-get install -y wrk "
                         "(or `make bench`, which installs it when it can)")
    return exe


@dataclass
class WrkResult:
    """One wrk run, latencies in milliseconds."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(url: str, mode: str, seconds: float, connections: int,
            tasks_file: Path | None = None, bearer: str | None = None) -> WrkResult:
    """Run wrk (one thread, pinned to the client core) for ``seconds``; with ``bearer``,
    authenticated by that access token instead of the API key."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = Path(tmp.name)
    base, _, path = url.partition("//")[2].partition("/")
    env = {**os.environ, "BENCH_MODE": mode, "BENCH_PATH": "/" + path, "BENCH_OUT": str(out),
           "BENCH_RUN": uuid.uuid4().hex[:8]}
    if tasks_file is not None:
        env["BENCH_TASKS"] = str(tasks_file)
    if bearer is not None:
        env["BENCH_BEARER"] = bearer
    cmd = ["taskset", "-c", CLIENT_CPU, require_wrk(), "-t1", f"-c{connections}",
           f"-d{max(1, round(seconds))}s", "--timeout", "60s", "-s", str(LUA), f"http://{base}/"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not out.stat().st_size:
        raise RuntimeError(f"wrk failed: {proc.stderr or proc.stdout}")
    data = orjson.loads(out.read_bytes())
    out.unlink()
    errors = sum(data["errors"].values())
    return WrkResult(requests=data["requests"], seconds=data["duration_us"] / 1e6, errors=errors,
                     p50_ms=data["p50_us"] / 1000, p99_ms=data["p99_us"] / 1000)


def access_token(base_url: str, tenant: str = "demo", client_id: str = "demo-client",
                 secret: str = "demo-secret") -> str:
    """A bearer token from the server's client-credentials endpoint (the README's demo client)."""
    response = httpx.post(f"{base_url}/realms/{tenant}/protocol/openid-connect/token",
                          data={"grant_type": "client_credentials", "client_id": client_id,
                                "client_secret": secret}, timeout=30)
    response.raise_for_status()
    return str(response.json()["access_token"])


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (values need not be sorted)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def _sse_events(response: httpx.Response) -> Any:
    """Yield each ``data:`` payload of an SSE response as parsed JSON."""
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            yield orjson.loads("\n".join(data))
            data = []
    if data:
        yield orjson.loads("\n".join(data))


def _send_body(text: str) -> dict[str, Any]:
    return {"message": {"messageId": f"bench-{uuid.uuid4().hex}", "role": "ROLE_USER",
                        "parts": [{"text": text}]}}


@dataclass
class StreamResult:
    """Scenario (e): ``count`` message:stream calls."""

    count: int
    seconds: float
    errors: int
    first_p50_ms: float
    first_p99_ms: float
    done_p50_ms: float
    done_p99_ms: float
    client_cpu_ms: float = float("nan")  # the client's own CPU per stream

    @property
    def rps(self) -> float:
        """Completed streams per second."""
        return self.count / self.seconds if self.seconds else 0.0


async def _sse_payloads(content: aiohttp.StreamReader) -> Any:
    """Yield each ``data:`` payload of an SSE body (aiohttp) as parsed JSON."""
    data: list[bytes] = []
    async for raw in content:
        line = raw.rstrip(b"\r\n")
        if line.startswith(b"data:"):
            data.append(line[5:].strip())
        elif not line and data:
            yield orjson.loads(b"\n".join(data))
            data = []
    if data:
        yield orjson.loads(b"\n".join(data))


async def _streams(url: str, count: int, concurrency: int) -> StreamResult:
    # aiohttp (C HTTP parser) on uvloop: a quarter of httpx's CPU per stream on asyncio,
    # which saturated the client's core and made (e) measure the client's own queue
    # (docs/performance.md, "Stream tails").
    firsts: list[float] = []
    dones: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {**HEADERS, "Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=headers, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=30)) as session:
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            nonlocal errors
            body = orjson.dumps(_send_body(f"stream {i}"))
            async with gate:
                start = time.perf_counter()
                first = None
                try:
                    async with session.post(f"{url}/message:stream", data=body) as response:
                        if response.status != 200:
                            errors += 1
                            return
                        async for _ in _sse_payloads(response.content):
                            if first is None:
                                first = time.perf_counter() - start
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1
                    return
                if first is None:
                    errors += 1
                    return
                firsts.append(first * 1000)
                dones.append((time.perf_counter() - start) * 1000)

        await asyncio.gather(*(one(i) for i in range(min(concurrency, count))))  # warm-up
        firsts.clear()
        dones.clear()
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(i) for i in range(count)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return StreamResult(len(dones), elapsed, errors, percentile(firsts, 50), percentile(firsts, 99),
                        percentile(dones, 50), percentile(dones, 99),
                        cpu / count * 1000 if count else float("nan"))


def run_streams(url: str, count: int = 200, concurrency: int = 10) -> StreamResult:
    """Scenario (e): time to first event and to completion of ``count`` streams."""
    return uvloop.run(_streams(url, count, concurrency))


def _timestamp(event: dict[str, Any]) -> float | None:
    status = (event.get("statusUpdate") or {}).get("status") or {}
    stamp = status.get("timestamp")
    if not stamp:
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _is_final(event: dict[str, Any]) -> bool:
    state = ((event.get("statusUpdate") or {}).get("status") or {}).get("state", "")
    return state == "TASK_STATE_COMPLETED"


@dataclass
class CrossResult:
    """Scenario (f): the completion event produced on A, seen by A's and B's clients."""

    samples: int
    dropped: int
    b_p50_ms: float
    b_p99_ms: float
    a_p50_ms: float
    a_p99_ms: float
    extra_p50_ms: float
    extra_p99_ms: float


async def _cross(url_a: str, url_b: str, samples: int, concurrency: int) -> CrossResult:
    """Stream a slow task on A; subscribe to it on B; time the final event on both."""
    on_a: list[float] = []
    on_b: list[float] = []
    dropped = 0
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(headers=HEADERS, timeout=30) as client:

        async def subscribe_b(task_id: str, ready: asyncio.Event) -> float | None:
            async with client.stream("GET", f"{url_b}/tasks/{task_id}:subscribe") as response:
                if response.status_code != 200:
                    ready.set()
                    return None
                async for event in _sse_events(response):
                    ready.set()
                    if _is_final(event):
                        produced = _timestamp(event)
                        return None if produced is None else time.time() - produced
            ready.set()
            return None

        async def one(i: int) -> None:
            nonlocal dropped
            async with gate, client.stream(
                "POST", f"{url_a}/message:stream", json=_send_body(f"slow cross {i}")
            ) as response:
                events = _sse_events(response)
                first = await anext(events)
                task_id = (first.get("task") or {}).get("id")
                if not task_id:
                    dropped += 1
                    return
                ready = asyncio.Event()
                b_task = asyncio.create_task(subscribe_b(task_id, ready))
                await ready.wait()  # B's snapshot arrived: B is subscribed
                a_latency = None
                async for event in events:
                    if _is_final(event):
                        produced = _timestamp(event)
                        a_latency = None if produced is None else time.time() - produced
                b_latency = await asyncio.wait_for(b_task, 30)
                if a_latency is None or b_latency is None:
                    dropped += 1
                    return
                on_a.append(a_latency * 1000)
                on_b.append(b_latency * 1000)

        # Warm-up, not recorded (as every other scenario has): B's first subscription opens its
        # pooled connection, both replicas load their scripts into Redis.
        await asyncio.gather(*(one(-1 - i) for i in range(2 * concurrency)))
        on_a.clear()
        on_b.clear()
        dropped = 0
        await asyncio.gather(*(one(i) for i in range(samples)), return_exceptions=False)
    extra = [b - a for a, b in zip(on_a, on_b, strict=True)]
    return CrossResult(len(on_b), dropped, percentile(on_b, 50), percentile(on_b, 99),
                       percentile(on_a, 50), percentile(on_a, 99),
                       percentile(extra, 50), percentile(extra, 99))


def run_cross(url_a: str, url_b: str, samples: int, concurrency: int = 4) -> CrossResult:
    """Scenario (f) between two replicas sharing one Redis."""
    return asyncio.run(_cross(url_a, url_b, samples, concurrency))


_ID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def redis_bytes(url: str) -> dict[str, tuple[int, int]]:
    """MEMORY USAGE of every key of a bench-private Redis, as {key pattern: (bytes, keys)}.

    Key patterns replace UUIDs by ``*``, so one task's keys fall into a few patterns.
    """
    import redis

    client = redis.Redis.from_url(url)
    usage: dict[str, list[int]] = {}
    try:
        for key in client.scan_iter(count=1000):
            size = int(client.memory_usage(key, samples=0) or 0)
            entry = usage.setdefault(_ID.sub(b"*", key).decode(errors="replace"), [0, 0])
            entry[0] += size
            entry[1] += 1
    finally:
        client.close()
    return {pattern: (size, keys) for pattern, (size, keys) in usage.items()}


def small_tasks(url: str, count: int) -> int:
    """Create ``count`` small completed tasks with blocking message:send; return failures."""
    failures = 0
    with httpx.Client(headers=HEADERS, timeout=30) as client:
        for i in range(count):
            response = client.post(f"{url}/message:send", json=_send_body(f"hello {i}"))
            if response.status_code != 200:
                failures += 1
    return failures


def median(values: list[float]) -> float:
    """statistics.median, nan for no values."""
    return statistics.median(values) if values else float("nan")
