"""CPU per task GET, in process: ``python -m bench.getpath [--profile]``.

Calls the ASGI app directly (no socket, no uvicorn, no HTTP client), as
``bench.instrumentation`` does, for the (a) GET of a small task, on the in-memory
store and on a private Redis, with an API key and with a bearer token, 16 at a time on
uvloop (as wrk's connections: Redis calls pipeline). It reports the
best of ``--rounds`` rounds of process CPU time per GET, the cells taking turns in
every round. It isolates this project's share of a GET (uvicorn's and the socket's are
``make bench``'s); ``--profile`` prints cProfile's top functions of each cell instead.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop

from a2a_server.app import create_app
from a2a_server.settings import Settings
from bench.instrumentation import SEND_BODY, _call
from bench.servers import Redis

REPO = Path(__file__).resolve().parent.parent
BASE = [(b"tenant-name", b"demo"), (b"a2a-version", b"1.0"), (b"accept", b"*/*"),
        (b"user-agent", b"wrk"), (b"host", b"127.0.0.1:8080")]


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
            "query_string": b"", "headers": headers, "server": ("127.0.0.1", 8080),
            "client": ("127.0.0.1", 1)}


async def _get(app: Any, scope: dict[str, Any]) -> None:
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(dict(scope), receive, send)
    assert chunks and chunks[0].startswith(b'{"id":'), chunks


async def _load(app: Any, scope: dict[str, Any], n: int, concurrency: int) -> None:
    """``n`` GETs, ``concurrency`` at a time (as wrk's connections: Redis calls pipeline)."""

    async def worker(count: int) -> None:
        for _ in range(count):
            await _get(app, scope)

    await asyncio.gather(*(worker(n // concurrency) for _ in range(concurrency)))


async def _app(redis_url: str | None) -> tuple[Any, Any, str, str]:
    env: dict[str, Any] = {"redis_url": redis_url} if redis_url else {}
    settings = Settings(jwt_secret="bench-signing-key-0123456789abcdef0123", gc_tuning=False,
                        tenants_dir=REPO / "tenants", agents_dir=REPO / "agent_cards", **env)
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    sent = orjson.loads(await _call(app, "POST", "/agents/echo/v1/message:send", SEND_BODY))
    token = app.state.server.tokens.issue("demo", "demo-client")
    return app, lifespan, sent["task"]["id"], token


args_sort = "tottime"  # cProfile's order (python -c ... to ask for "cumulative")


async def main(n: int, rounds: int, profile: bool, concurrency: int) -> None:
    logging.getLogger("a2a_server.access").disabled = True
    with tempfile.TemporaryDirectory(prefix="getpath-") as tmp:
        redis = Redis()
        redis.start(Path(tmp))
        try:
            apps = {"memory": await _app(None), "redis": await _app(redis.url)}
            cells: dict[str, tuple[Any, dict[str, Any]]] = {}
            for store, (app, _, task_id, token) in apps.items():
                path = f"/agents/echo/v1/tasks/{task_id}"
                cells[f"{store}, API key"] = (app, _scope(path, [*BASE, (b"x-api-key", b"demo-key")]))
                cells[f"{store}, bearer"] = (app, _scope(
                    path, [*BASE, (b"authorization", f"Bearer {token}".encode())]))
            best = dict.fromkeys(cells, float("inf"))
            for _ in range(rounds):
                for name, (app, scope) in cells.items():
                    for _ in range(200):
                        await _get(app, scope)
                    profiler = cProfile.Profile() if profile else None
                    start = time.process_time()
                    if profiler:
                        profiler.enable()
                    await _load(app, scope, n, concurrency)
                    if profiler:
                        profiler.disable()
                        print(f"== {name}")
                        pstats.Stats(profiler).sort_stats(args_sort).print_stats(45)
                    best[name] = min(best[name], (time.process_time() - start) / n * 1e6)
                if profile:
                    break
            for _, lifespan, _, _ in apps.values():
                await lifespan.__aexit__(None, None, None)
        finally:
            redis.stop()
    if not profile:
        print(f"| GET small task, in process | µs CPU/req (best of {rounds}, n={n}, "
              f"{concurrency} at a time) |")
        print("|---|---|")
        for name, us in best.items():
            print(f"| {name} | {us:.1f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-c", "--concurrency", type=int, default=16, help="GETs at a time")
    parser.add_argument("--profile", action="store_true", help="cProfile each cell once")
    args = parser.parse_args()
    uvloop.run(main(args.n, args.rounds, args.profile, args.concurrency))
