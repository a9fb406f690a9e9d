"""What one REST ``message:stream`` leaves to the garbage collector, and the tasks it starts.

``python -m bench.stream_garbage [--count 200] [--store memory|redis --redis-url URL]``

Load-independent: the app (``create_app`` with the bench agents, the echo agent) is
driven in process through a bare ASGI ``receive``/``send`` pair (no HTTP client or
server, whose own objects would blur the count), one stream at a time after a warm-up:

- cyclic garbage per stream: ``gc.DEBUG_SAVEALL`` over the streams, then a full
  collection; every object found unreachable only through reference cycles is kept in
  ``gc.garbage`` (what the young collections walk and free under load);
- net young-generation growth per stream (``gc.get_count()[0]`` with the collector off):
  allocations minus deallocations of tracked objects, the count that triggers a young
  collection at the first threshold;
- tasks started per stream (a counting task factory), and the most common types of the
  cyclic garbage.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import os
import sys
from pathlib import Path
from typing import Any

import orjson

HEADERS = [(b"x-api-key", b"demo-key"), (b"tenant-name", b"demo"), (b"a2a-version", b"1.0"),
           (b"content-type", b"application/json")]


def _app(store: str, redis_url: str | None) -> Any:
    os.environ.setdefault("A2A_SERVER_AGENTS_DIR", str(Path(__file__).parent / "agent_cards"))
    if store == "redis":
        assert redis_url, "--redis-url is needed for the Redis store"
        os.environ["A2A_SERVER_REDIS_URL"] = redis_url
    from a2a_server.app import create_app
    from a2a_server.settings import Settings

    return create_app(Settings())


async def post(app: Any, path: str, body: bytes) -> bytes:
    """POST ``body`` to ``path`` of the ASGI ``app`` in process (the bench's headers); the
    response body, once the app ends it (a stream's whole body)."""
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
             "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": HEADERS, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}
    done = asyncio.Event()
    sent_body = False
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    await app(scope, receive, send)
    return b"".join(chunks)


async def _one(app: Any, i: int) -> bytes:
    body = orjson.dumps({"message": {"messageId": f"garbage-{i}", "role": "ROLE_USER",
                                     "parts": [{"text": f"stream {i}"}]}})
    return await post(app, "/agents/echo/v1/message:stream", body)


async def _run(app: Any, count: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    started = collections.Counter[str]()

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        started[getattr(coro, "__qualname__", type(coro).__name__)] += 1
        return asyncio.Task(coro, loop=loop, **kwargs)

    async with app.router.lifespan_context(app):
        for i in range(50):  # warm-up: caches, lazy imports, the shutdown watcher
            out = await _one(app, -i - 1)
        assert b"TASK_STATE_COMPLETED" in out, out[:500]
        await asyncio.sleep(0.05)
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        gc.garbage.clear()
        loop.set_task_factory(factory)
        young_before = gc.get_count()[0]
        for i in range(count):
            await _one(app, i)
        await asyncio.sleep(0.05)  # let the streams' own tasks finish
        young = gc.get_count()[0] - young_before
        loop.set_task_factory(None)
        gc.collect()
        garbage = list(gc.garbage)
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    kinds = collections.Counter(type(o).__name__ for o in garbage)
    return {"count": count, "cyclic": len(garbage) / count, "young": young / count,
            "tasks": sum(started.values()) / count, "started": started,
            "kinds": kinds.most_common(12)}


def main(argv: list[str] | None = None) -> int:
    """Print the per-stream figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--store", choices=("memory", "redis"), default="memory")
    parser.add_argument("--redis-url")
    args = parser.parse_args(argv)
    result = asyncio.run(_run(_app(args.store, args.redis_url), args.count))
    print(f"{args.count} streams ({args.store}): cyclic garbage {result['cyclic']:.1f} objects "
          f"per stream, net young growth {result['young']:.1f}, tasks started "
          f"{result['tasks']:.2f} per stream")
    print("tasks:", ", ".join(f"{name} {n / args.count:.2f}"
                              for name, n in result["started"].most_common()))
    print("garbage:", ", ".join(f"{name} {n / args.count:.1f}" for name, n in result["kinds"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
