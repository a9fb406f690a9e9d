"""Scenario (h): gRPC next to HTTP+JSON, GET and send, one closed-loop Python client for both.

wrk speaks no gRPC, so both bindings are driven by the same asyncio client here
(``grpc.aio`` stub / ``httpx``), ``concurrency`` calls in flight, pinned to the
client core: the client is the same for both, so requests per second compare
the bindings, and the server's CPU per request (measured by the harness)
compares them whatever the client's own speed.

Run by the harness as ``python -m bench.grpc_load BINDING MODE TARGET TASK_ID SECONDS
CONCURRENCY``; prints one JSON object (requests, seconds, errors, p50_ms, p99_ms).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import grpc
import grpc.aio
import httpx
import orjson
from a2a.types import a2a_pb2_grpc
from a2a.types.a2a_pb2 import GetTaskRequest, Message, Part, Role, SendMessageRequest

from bench.load import HEADERS, WrkResult, percentile
from bench.servers import CLIENT_CPU, ROOT

METADATA = (("x-api-key", "demo-key"), ("a2a-version", "1.0"))
TENANT = "demo/echo"

Call = Callable[[], Awaitable[bool]]


def _message() -> Message:
    return Message(role=Role.ROLE_USER, message_id=f"bench-{uuid.uuid4().hex}",
                   parts=[Part(text="hello")])


def _grpc_call(stub: a2a_pb2_grpc.A2AServiceStub, mode: str, task_id: str) -> Call:
    async def get() -> bool:
        task = await stub.GetTask(GetTaskRequest(id=task_id, tenant=TENANT), metadata=METADATA)
        return bool(task.id)

    async def send() -> bool:
        answer = await stub.SendMessage(SendMessageRequest(message=_message(), tenant=TENANT),
                                        metadata=METADATA)
        return answer.HasField("task")

    return get if mode == "get" else send


def _http_call(http: httpx.AsyncClient, url: str, mode: str, task_id: str) -> Call:
    async def get() -> bool:
        return (await http.get(f"{url}/tasks/{task_id}")).status_code == 200

    async def send() -> bool:
        body = orjson.dumps({"message": {"messageId": f"bench-{uuid.uuid4().hex}",
                                         "role": "ROLE_USER", "parts": [{"text": "hello"}]}})
        response = await http.post(f"{url}/message:send", content=body,
                                   headers={"Content-Type": "application/json"})
        return response.status_code == 200

    return get if mode == "get" else send


async def _drive(call: Call, seconds: float, concurrency: int) -> WrkResult:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                ok = await call()
            except (grpc.aio.AioRpcError, httpx.HTTPError):
                ok = False
            if ok:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return WrkResult(requests=len(latencies), seconds=elapsed, errors=errors,
                     p50_ms=percentile(latencies, 50), p99_ms=percentile(latencies, 99))


async def drive(binding: str, mode: str, target: str, task_id: str, seconds: float,
                concurrency: int) -> WrkResult:
    """One cell: ``binding`` 'grpc' (target host:port) or 'http' (target the interface URL)."""
    if binding == "grpc":
        async with grpc.aio.insecure_channel(target) as channel:
            stub = a2a_pb2_grpc.A2AServiceStub(channel)
            call = _grpc_call(stub, mode, task_id)
            await call()  # connect before the clock starts
            return await _drive(call, seconds, concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=HEADERS, limits=limits, timeout=60) as http:
        call = _http_call(http, target, mode, task_id)
        await call()
        return await _drive(call, seconds, concurrency)


def run(binding: str, mode: str, target: str, task_id: str, seconds: float,
        concurrency: int) -> WrkResult:
    """``drive`` in a subprocess pinned to the client core (as wrk is)."""
    cmd = ["taskset", "-c", CLIENT_CPU, sys.executable, "-m", "bench.grpc_load", binding, mode,
           target, task_id, str(seconds), str(concurrency)]
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"bench.grpc_load failed: {proc.stderr[-500:]}")
    return WrkResult(**orjson.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    """Command line (see the module docstring)."""
    binding, mode, target, task_id, seconds, concurrency = sys.argv[1:7]
    result = asyncio.run(drive(binding, mode, target, task_id, float(seconds), int(concurrency)))
    print(orjson.dumps(vars(result)).decode())


if __name__ == "__main__":
    main()
