"""LLM streaming bench (a script, not a test): what the server adds to a streamed model answer.

Starts the provider stand-in (``tests/llm/provider_standin.py``) and one server process
(in-memory store, or ``--redis-url``) with an LLM agent bound to it, then measures:

(a) **first-token latency the server adds**: the time from the stand-in writing the first
    text chunk (``time.monotonic()``, system-wide on Linux) to the client reading the first
    ``artifactUpdate`` event of ``message:stream``: p50 / p99 over ``--samples`` sequential
    requests (targets: p50 < 2 ms, p99 < 10 ms on an idle machine); and, so that a change
    cannot just move time before the stand-in's first token, the whole of it as the client
    sees it: from sending the request to reading that event. The same hop without the
    server (the ``openai`` client, in this process, reading the stand-in directly) is measured
    alongside as the baseline: what the machine and the provider's HTTP take anyway;
(b) **``--concurrency`` concurrent streamed tasks** (default 500), ``--rounds`` times
    (default 2): completed or not, wall time, and the server's resident memory before the
    first round, after each round and at its peak (VmHWM), to see that memory stays bounded
    (a later round should not add what the first added; the in-memory store keeps every
    finished task, so judge growth with ``--redis-url``).

Usage: ``.venv/bin/python -m bench.llm_stream [--samples 200] [--concurrency 500] [--rounds 2]``;
``--quick`` is a run that only proves the script works (20 samples, 20 tasks, 1 round).
On a loaded machine the figures are noise: record them only from an idle one.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
HEADERS = {"Tenant-Name": "demo", "X-API-Key": "demo-key", "A2A-Version": "1.0"}


def _wait(port: int, proc: subprocess.Popen[bytes], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def _agents(directory: Path, provider_url: str) -> None:
    for name in ("echo.json", "echo.binding.yaml"):  # the bundled tenants name echo
        shutil.copy(ROOT / "agent_cards" / name, directory / name)
    card = json.loads((ROOT / "examples/agents/assistant.json").read_text())
    (directory / "assistant.json").write_text(json.dumps(card))
    (directory / "assistant.binding.yaml").write_text(
        "executor: llm\noptions:\n"
        f"  base_url: {provider_url}\n  model: bench\n  provider: standin\n"
        "  context_messages: 0\n  timeout_seconds: 120\n")


def _memory(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0]) // 1024
    return out


async def _stream(http: httpx.AsyncClient, base: str, text: str,
                  started: list[float] | None = None) -> tuple[float | None, str]:
    body = {"message": {"role": "ROLE_USER", "messageId": os.urandom(8).hex(),
                        "parts": [{"text": text}]}}
    first, state = None, "?"
    if started is not None:
        started.append(time.monotonic())
    async with http.stream("POST", f"{base}/agents/assistant/v1/message:stream", json=body,
                           headers=HEADERS) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            if first is None and '"artifactUpdate"' in line:
                first = time.monotonic()
            if '"TASK_STATE_' in line:
                state = line.split('"TASK_STATE_', 1)[1].split('"', 1)[0]
            if state == "FAILED" and '"error"' in line and os.environ.get("LLM_STREAM_SHOW_FAILED"):
                print("    failed:", line[:400])
    return first, state


async def _latency(base: str, standin: str, samples: int) -> tuple[list[float], list[float]]:
    """Per sample: the first token's ms from the stand-in to the client, and the client's
    ms from sending the request to reading that first ``artifactUpdate`` (end to end)."""
    added, whole = [], []
    async with httpx.AsyncClient(timeout=60) as http:
        for n in range(samples):
            started: list[float] = []
            first, _ = await _stream(http, base, f"latency {n}", started)
            requests = (await http.get(f"{standin}/_requests")).json()
            sent = requests[-1]["first_token_at"]
            if first is not None and sent is not None and n >= 5:  # 5 warm-up samples
                added.append((first - sent) * 1000)
                whole.append((first - started[0]) * 1000)
    return added, whole


async def _baseline(standin: str, samples: int) -> list[float]:
    """The provider hop alone: the stand-in's first text chunk to the ``openai`` client."""
    from openai import AsyncOpenAI

    added = []
    async with httpx.AsyncClient(timeout=60) as http:
        client = AsyncOpenAI(base_url=f"{standin}/v1", api_key="bench")
        for n in range(samples):
            stream = await client.chat.completions.create(
                model="bench", messages=[{"role": "user", "content": f"baseline {n}"}],
                stream=True)
            first = None
            async for chunk in stream:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = time.monotonic()
            await stream.close()
            sent = (await http.get(f"{standin}/_requests")).json()[-1]["first_token_at"]
            if first is not None and sent is not None and n >= 5:  # 5 warm-up samples
                added.append((first - sent) * 1000)
        await client.close()
    return added


async def _concurrent(base: str, count: int, pid: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        results = await asyncio.gather(*(_stream(http, base, f"many {n}") for n in range(count)),
                                       return_exceptions=True)
    wall = time.monotonic() - started
    await asyncio.sleep(1)  # let the runs' last commits and the connections' buffers go
    after = _memory(pid)
    done = sum(1 for r in results if isinstance(r, tuple) and r[1] == "COMPLETED")
    errors = sorted({type(r).__name__ for r in results if isinstance(r, BaseException)})
    others = collections.Counter(r[1] for r in results
                                 if isinstance(r, tuple) and r[1] != "COMPLETED")
    out: dict[str, Any] = {"completed": done, "of": count, "wall_s": round(wall, 2),
                           "rss_after_mb": after["VmRSS"], "rss_peak_mb": after["VmHWM"]}
    if errors:
        out["errors"] = errors
    if others:  # the last state each other stream saw (FAILED: see the server's log)
        out["other_states"] = dict(others)
    return out


def _percentiles(label: str, values: list[float]) -> None:
    if not values:
        print(f"    {label}: no samples")
        return
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    print(f"    {label}: samples {len(values)}  p50 {statistics.median(values):.2f}  "
          f"p99 {p99:.2f}  max {values[-1]:.2f}")


def main() -> None:
    """Run both measurements and print a table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--first-token-ms", type=float, default=0.0,
                        help="the stand-in's time to its first token (default 0: at once)")
    parser.add_argument("--quick", action="store_true",
                        help="20 samples, 20 tasks, 1 round: proves the script works")
    args = parser.parse_args()
    if args.quick:
        args.samples, args.concurrency, args.rounds = 20, 20, 1
    tmp = Path(tempfile.mkdtemp(prefix="llm-bench-"))
    standin_port, server_port = free_port(), free_port()
    standin = subprocess.Popen([sys.executable, "-m", "tests.llm.provider_standin", "--port",
                                str(standin_port)], cwd=ROOT)
    procs = [standin]
    try:
        _wait(standin_port, standin)
        standin_url = f"http://127.0.0.1:{standin_port}"
        # Every answer: 40 chunks of 5 characters, 10 ms apart (a ~0.4 s answer).
        httpx.post(f"{standin_url}/_rules", json={"contains": "", "response": {
            "kind": "text", "text": "token" * 40, "chunk": 5, "delay": 0.01,
            "first_delay": args.first_token_ms / 1000,
            "usage": {"prompt_tokens": 20, "completion_tokens": 40}}}).raise_for_status()
        (tmp / "agents").mkdir()
        _agents(tmp / "agents", f"{standin_url}/v1")
        command = [sys.executable, "-m", "a2a_server", "serve", "--port", str(server_port),
                   "--agents-dir", str(tmp / "agents")]
        if args.redis_url:
            command += ["--redis-url", args.redis_url]
        with (tmp / "server.log").open("wb") as log:  # the child keeps its own descriptor
            server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        procs.append(server)
        try:
            _wait(server_port, server)
        except RuntimeError:
            print((tmp / "server.log").read_text()[-3000:], file=sys.stderr)
            raise
        base = f"http://127.0.0.1:{server_port}"
        print("(a) first token, ms from the stand-in writing it to the client reading it")
        added, whole = asyncio.run(_latency(base, standin_url, args.samples))
        _percentiles("through the server (message:stream, first artifactUpdate)", added)
        _percentiles("end to end: the client sending the request to reading it", whole)
        _percentiles("baseline: the openai client reading the stand-in directly",
                     asyncio.run(_baseline(standin_url, args.samples)))
        print(f"(b) {args.concurrency} concurrent streamed tasks, {args.rounds} round(s); "
              f"server RSS before: {_memory(server.pid)['VmRSS']} MB")
        for round_ in range(1, args.rounds + 1):
            result = asyncio.run(_concurrent(base, args.concurrency, server.pid))
            print(f"    round {round_}: " + json.dumps(result))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
