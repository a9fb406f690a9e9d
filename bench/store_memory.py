"""What a finished task costs the in-memory store, with its event log and after it is dropped.

``python -m bench.store_memory [--tasks 5000]``

In one process: the app (``create_app``, the bench agents' in-process echo agent, the
in-memory store, ``finished_events_seconds`` 600, a cap of 100,000 finished tasks, no idle
trim) driven through a bare ASGI ``receive``/``send`` pair, as ``bench.stream_garbage`` does.
For each kind, ``message:send`` and ``message:stream``, each answered at once (the echo
agent's artifact and completion: the run's first commit finishes the task, so no event is
logged, see ``runs/run.py``) and each "slow" (the bench echo's 0.2 s in ``working`` first:
a first commit, then the answer, so the task has an event log, as an LLM agent's streamed
answer has), ``--tasks`` tasks are run to completion, ``--concurrency`` at a time, and the
process's memory is read:

- before the tasks;
- after them, each finished task holding its event log (within ``finished_events_seconds``);
- after the store dropped their event logs: its clock moved past ``finished_events_seconds``
  and its expiry run (what a read does ``finished_events_seconds`` after a task finished).

Each reading follows what a quiet replica does (``a2a_server/memory.py``): the caches that
only save work emptied (printed messages, rendered tasks), a full collection, then
``malloc_trim(0)``. Two figures, each a difference over ``--tasks``:

- bytes in use: glibc's ``mallinfo2`` (``uordblks + hblkhd``: every malloc'd block in use,
  protobuf's upb arenas and Python's larger objects among them) plus the bytes in Python's
  small-object allocator's blocks in use (``sys._debugmallocstats``; its arenas are mmap'ed,
  outside malloc). Freed memory does not count, so the order of the kinds does not matter.
  tracemalloc alone would miss upb (a parsed task traced ~120 B of its real size there).
- VmRSS: what the OS sees; freed memory reused by later tasks makes it depend on the order
  (``--reverse``), so it is printed for comparison only.

The store's own counts are printed beside them (finished tasks, event logs held).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import gc
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.stream_garbage import post

FINISHED_EVENTS_SECONDS = 600


def _app() -> Any:
    os.environ.setdefault("A2A_SERVER_AGENTS_DIR", str(Path(__file__).parent / "agent_cards"))
    os.environ["A2A_SERVER_FINISHED_EVENTS_SECONDS"] = str(FINISHED_EVENTS_SECONDS)
    os.environ["A2A_SERVER_MEMORY_MAX_FINISHED_TASKS"] = "100000"
    os.environ["A2A_SERVER_MEMORY_TRIM_SECONDS"] = "0"
    os.environ.pop("A2A_SERVER_REDIS_URL", None)
    from a2a_server.app import create_app
    from a2a_server.settings import Settings

    return create_app(Settings())


KINDS = ("send", "stream", "send slow", "stream slow")


async def _one(app: Any, kind: str, i: int) -> bytes:
    method, _, slow = kind.partition(" ")
    body = orjson.dumps({"message": {"messageId": f"{method}-{slow}-{i}", "role": "ROLE_USER",
                                     "parts": [{"text": f"{kind} {i}"}]}})
    return await post(app, f"/agents/echo/v1/message:{method}", body)


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


_libc = ctypes.CDLL(ctypes.util.find_library("c"))
_libc.mallinfo2.restype = _Mallinfo2


def _pymalloc_in_use() -> int:
    """Bytes in allocated blocks of Python's small-object allocator."""
    with tempfile.TemporaryFile() as out:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read().decode()
    for line in text.splitlines():
        if line.startswith("# bytes in allocated blocks"):
            return int(line.split("=")[1].replace(",", "").strip())
    raise RuntimeError("no '# bytes in allocated blocks' in sys._debugmallocstats()")


def _settled() -> tuple[int, int]:
    """(bytes in use, VmRSS) after what a quiet replica does before it trims."""
    from a2a_server.memory import resident_bytes, trim
    from a2a_server.protocol import protojson, shapes

    protojson.clear_caches()
    shapes.clear_render_cache()
    gc.collect()
    trim()
    info = _libc.mallinfo2()
    return info.uordblks + info.hblkhd + _pymalloc_in_use(), resident_bytes()


def _held(stores: Any) -> tuple[int, int]:
    """(finished tasks, event logs) the in-memory store holds."""
    return stores.tasks.finished_count, len(stores.events._logs)


async def _drop_logs(stores: Any) -> None:
    """The store's expiry as ``finished_events_seconds`` later: the event logs of the tasks
    finished so far go."""
    real_clock = stores.tasks._clock
    stores.tasks._clock = lambda: real_clock() + FINISHED_EVENTS_SECONDS + 1
    try:
        await stores.tasks._expire()
    finally:
        stores.tasks._clock = real_clock


async def _run(app: Any, kind: str, count: int, concurrency: int, first: int = 0) -> None:
    for start in range(first, first + count, concurrency):
        stop = min(start + concurrency, first + count)
        answers = await asyncio.gather(*(_one(app, kind, i) for i in range(start, stop)))
        for answer in answers:
            if b"TASK_STATE_COMPLETED" not in answer:
                raise SystemExit(f"{kind}: a task did not complete: {answer[:300]!r}")


async def _measure(app: Any, kind: str, count: int, concurrency: int) -> dict[str, Any]:
    stores = app.state.server.stores
    before = _settled()
    await _run(app, kind, count, concurrency)
    with_logs, held_with = _settled(), _held(stores)
    await _drop_logs(stores)
    without_logs, held_without = _settled(), _held(stores)

    def kb(after: tuple[int, int], figure: int) -> float:
        return (after[figure] - before[figure]) / count / 1024

    return {"kind": kind, "with_log": kb(with_logs, 0), "without_log": kb(without_logs, 0),
            "rss_with_log": kb(with_logs, 1), "rss_without_log": kb(without_logs, 1),
            "held_with_log": held_with, "held_without_log": held_without}


async def _main(count: int, warmup: int, concurrency: int,
                kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    app = _app()
    async with app.router.lifespan_context(app):
        for kind in KINDS:  # first-touch costs (imports, code paths, pools)
            await _run(app, kind, warmup, concurrency, first=-warmup)
        await _drop_logs(app.state.server.stores)
        return [await _measure(app, kind, count, concurrency) for kind in kinds]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=5000, help="tasks of each kind")
    parser.add_argument("--warmup", type=int, default=200, help="tasks of each kind first")
    parser.add_argument("--concurrency", type=int, default=250, help="tasks at a time")
    parser.add_argument("--reverse", action="store_true",
                        help="measure the kinds in reverse order (the first pays more growth)")
    args = parser.parse_args()
    kinds = tuple(reversed(KINDS)) if args.reverse else KINDS
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    rows = asyncio.run(_main(args.tasks, args.warmup, args.concurrency, kinds))
    print(f"started {started}; {args.tasks} tasks of each kind after {args.warmup} of warm-up, "
          f"{args.concurrency} at a time")
    print("| task | KB in use per finished task: event log kept / dropped | VmRSS KB: kept / "
          "dropped | store: (finished tasks, event logs): kept / dropped |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| message:{row['kind']} | {row['with_log']:.1f} / {row['without_log']:.1f} "
              f"| {row['rss_with_log']:.1f} / {row['rss_without_log']:.1f} "
              f"| {row['held_with_log']} / {row['held_without_log']} |")


if __name__ == "__main__":
    main()
