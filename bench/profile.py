"""py-spy sampling of a server process while a load runs (``python -m bench.run --profile``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench.servers import Server


def _py_spy() -> str:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        raise RuntimeError("py-spy not installed (pip install py-spy)")
    return exe


_PACKAGES = (
    ("a2a_server/", "a2a_server (this project)"),
    ("bench/", "bench harness (agent, seeding route)"),
    ("a2a/", "a2a-sdk"),
    ("google/protobuf/", "protobuf (incl. json_format)"),
    ("redis/", "redis-py (+ hiredis)"),
    ("hiredis", "redis-py (+ hiredis)"),
    ("fastapi/", "fastapi"),
    ("starlette/", "starlette (+ sse-starlette)"),
    ("sse_starlette/", "starlette (+ sse-starlette)"),
    ("uvicorn/", "uvicorn + httptools"),
    ("httptools/", "uvicorn + httptools"),
    ("opentelemetry/", "opentelemetry (no-op tracing in the SDK)"),
    ("culsans/", "culsans/aiologic (SDK event queues)"),
    ("aiologic/", "culsans/aiologic (SDK event queues)"),
    ("pydantic", "pydantic"),
    ("sqlalchemy/", "sqlalchemy/aiosqlite"),
    ("aiosqlite/", "sqlalchemy/aiosqlite"),
    ("orjson", "orjson"),
    ("asyncio/", "asyncio"),
    ("uvloop/", "asyncio"),
    ("contextlib.py", "contextlib"),
)


def _package(frame: str) -> str:
    path = frame.rpartition(" (")[2].lstrip("<")
    for marker, name in _PACKAGES:
        if path.startswith(marker) or f"/{marker}" in path:
            return name
    return "other (stdlib, C)"


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    return f"{name} {where.split(':')[0].split('/')[-1]}" if where else name


def _idle(leaf: str) -> bool:
    """A ThreadPoolExecutor worker waiting for work: its innermost Python frame is
    ``_worker`` itself, blocked in the C ``SimpleQueue.get`` (work it runs adds frames).
    py-spy counts such a thread as active (the lock wait is not one it knows as idle), so
    an idle pool's threads inflated every share by whatever fraction of samples they took."""
    return leaf.startswith("_worker (") and "concurrent/futures/thread.py" in leaf


def summarize(collapsed: Path, top: int = 20) -> str:
    """Self-time shares by package and by function, from py-spy's collapsed stacks (idle
    executor threads left out, see ``_idle``)."""
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = idle = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        if _idle(frames[-1]):
            idle += count
            continue
        total += count
        own[_short(frames[-1])] += count
        packages[_package(frames[-1])] += count
        for frame in {_short(f) for f in frames}:
            inclusive[frame] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples (py-spy, 250 Hz, idle excluded; {idle} more of idle executor "
             "threads left out)", "", "self%  package"]
    lines += [f"{100 * n / total:5.1f}  {name}" for name, n in packages.most_common()]
    lines += ["", "self%  function"]
    lines += [f"{100 * n / total:5.1f}  {name}" for name, n in own.most_common(top)]
    lines += ["", "incl%  function"]
    lines += [f"{100 * n / total:5.1f}  {name}" for name, n in inclusive.most_common(top + 25)]
    return "\n".join(lines)


def profile_run(server: Server, out: Path, run: Callable[[], object]) -> str:
    """Record ``server`` with py-spy while ``run()`` drives it; write .txt and .svg."""
    assert server.proc is not None
    raw = out.with_suffix(".collapsed")
    cmd = [_py_spy(), "record", "-p", str(server.proc.pid), "-r", "250", "-f", "raw",
           "-o", str(raw), "--full-filenames"]
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        run()
    finally:
        spy.send_signal(2)
        spy.wait(timeout=30)
    if not raw.exists():
        raise RuntimeError((spy.stderr.read() if spy.stderr else b"").decode()[:300])
    summary = summarize(raw)
    out.with_suffix(".txt").write_text(summary + "\n")
    return summary
