"""CPU per request of the observability layer, in isolation: ``python -m bench.instrumentation``.

Calls the ASGI app in-process (no sockets, no HTTP client) in a loop, on the
in-memory store, for a task GET (the fast path) and an echo send, with:
metrics off, metrics on (the default), metrics + JSON access lines, and
metrics + tracing with an SDK provider that samples every span and drops them.
Reports the best of ``--rounds`` rounds of process CPU time per request (µs).
What it measures is the instrumentation's own cost; the full-stack figures are
``make bench``'s (docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from a2a_server.app import create_app
from a2a_server.settings import Settings

REPO = Path(__file__).resolve().parent.parent
HEADERS = [(b"tenant-name", b"demo"), (b"x-api-key", b"demo-key"), (b"a2a-version", b"1.0"),
           (b"content-type", b"application/json")]
SEND_BODY = orjson.dumps({"message": {"role": "ROLE_USER", "messageId": "m1",
                                      "parts": [{"text": "hello"}]}})


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
            "query_string": b"", "headers": HEADERS, "server": ("127.0.0.1", 8080),
            "client": ("127.0.0.1", 1)}


async def _call(app: Any, method: str, path: str, body: bytes = b"") -> bytes:
    chunks: list[bytes] = []
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(_scope(method, path), receive, send)
    return b"".join(chunks)


def _tracing_provider() -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Drop()))
    return provider


VARIANTS: dict[str, tuple[dict[str, Any], Callable[[], Any] | None]] = {
    "metrics off": ({"metrics": False}, None),
    "metrics on (default)": ({}, None),
    "metrics + JSON access log": ({"log_format": "json"}, None),
    "metrics + tracing (sampled, dropped)": ({}, _tracing_provider),
}


async def _app(overrides: dict[str, Any], provider: Callable[[], Any] | None) -> tuple[Any, Any, str]:
    settings = Settings(jwt_secret="bench-signing-key-0123456789abcdef0123", gc_tuning=False,
                        tenants_dir=REPO / "tenants", agents_dir=REPO / "agent_cards", **overrides)
    app = create_app(settings, tracer_provider=provider() if provider else None)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    sent = orjson.loads(await _call(app, "POST", "/agents/echo/v1/message:send", SEND_BODY))
    return app, lifespan, sent["task"]["id"]


async def _round(app: Any, task_id: str, n: int) -> tuple[float, float]:
    start = time.process_time()
    for _ in range(n):
        await _call(app, "GET", f"/agents/echo/v1/tasks/{task_id}")
    get = (time.process_time() - start) / n * 1e6
    sends = max(1, n // 4)
    start = time.process_time()
    for _ in range(sends):
        await _call(app, "POST", "/agents/echo/v1/message:send", SEND_BODY)
    return get, (time.process_time() - start) / sends * 1e6


async def main(n: int, rounds: int) -> None:
    """Print the table; the variants take turns in every round (a loaded machine drifts)."""
    logging.getLogger("a2a_server.access").disabled = True  # the line is built, not written
    apps = {name: await _app(overrides, provider) for name, (overrides, provider) in VARIANTS.items()}
    best = {name: (float("inf"), float("inf")) for name in apps}
    for _ in range(rounds):
        for name, (app, _, task_id) in apps.items():
            get, send = await _round(app, task_id, n)
            best[name] = (min(best[name][0], get), min(best[name][1], send))
    for _, lifespan, _ in apps.values():
        await lifespan.__aexit__(None, None, None)
    base_get, base_send = best["metrics off"]
    print(f"| variant | GET task µs CPU/req | send µs CPU/req |  (best of {rounds}, n={n})")
    print("|---|---|---|")
    for name, (get, send) in best.items():
        print(f"| {name} | {get:.1f} ({get / base_get:.2f}x) | {send:.1f} ({send / base_send:.2f}x) |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.rounds))
