"""Our auto-pipelined Redis connection against maintained clients: ``python -m bench.redis_clients``.

Issue 14, item 5. ``stores/_pipeline.py`` is a hand-written auto-pipelining client on
redis-py's private parser module; this script measures it against clients that pipeline by
themselves, on the work our stores do in the bench's GET cell (a) and send cell (c):

- The commands are captured, not written by hand: the script starts our app in-process on a
  private redis-server, makes one ``message:send`` (the echo agent, the body wrk sends in
  (c)) and one ``GET /tasks/{id}`` (cell (a)), and records every ``RedisContext.run`` call.
  The send's ``commit`` script call (save + index + lease + outbox mark: 21 keys, 25 arguments) and the
  GET's ``get`` script call are replayed with their exact KEYS and ARGV. Each replayed commit
  gets a task id and context id of its own (same length, substituted in every key and
  argument, protobuf bytes included), so every call creates a new task as in (c).
- Clients: ``ours`` (``PipelinedRedis.evalsha``), ``coredis`` (``register_script``: EVALSHA
  with a NOSCRIPT reload; its connections multiplex by themselves: ``coredis`` is its
  defaults, ``coredis-best`` one connection without its retry wrapper and version check),
  ``glide`` (valkey-glide's async ``GlideClient``, ``invoke_script``; arguments handed over
  as bytes/str, converted before the clock starts: it takes no ints), and ``redis-py``
  (``redis.asyncio``'s ``register_script``, its default pool) for reference. A client that
  is not installed is skipped with a line saying so.
- Load: N calls driven by C concurrent asyncio tasks (``--inflight 16,64``, like wrk's
  connections), on uvloop as the server runs. Per measurement: FLUSHDB and the GET's task
  written again (untimed), a warm-up, then the timed calls. Every reply is checked (the
  commit must answer ``[1, ...]``, the get the task's bytes); failures are counted.
- Figures: CPU per call of this process (``time.process_time()``: user + system of every
  thread, so glide's Rust threads count), calls per second (wall), and redis-server's CPU per
  call (``/proc``). Several rounds; the clients' order rotates and reverses from round to
  round so a drifting machine hits all of them alike. The table gives the median and the
  range (min-max) over the rounds, and each client's median CPU per call against ours.

The client process is pinned to CPU 0 and Redis to CPU 1 (``bench.servers``), as in
``make bench`` (``--no-pin`` leaves this process free); Redis runs with AOF off. Needs
``redis-server`` on the PATH; the clients come with the ``bench`` extra (``pip install -e
'.[test,bench]'``). ``--quick`` checks that it runs (numbers not meaningful). See
docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis as sync_redis

from bench.servers import ROOT, SERVER_CPU, Redis

Call = tuple[list[str], list[Any]]  # (KEYS, ARGV) of one script call
Runner = Callable[[str, list[str], list[Any]], Awaitable[Any]]  # (script name, keys, args)

HEADERS = [(b"tenant-name", b"demo"), (b"x-api-key", b"demo-key"), (b"a2a-version", b"1.0"),
           (b"content-type", b"application/json")]
CELLS = ("get", "send")


# -- capture ----------------------------------------------------------------------------------


@dataclass
class Captured:
    """What our stores sent for one send and one GET of the bench's cells."""

    sources: dict[str, str]  # script name -> Lua source, as RedisContext loads it
    commit: Call  # the send's commit script call
    get: Call  # the GET's read script call
    task_id: str
    context_id: str
    calls: dict[str, list[str]] = field(default_factory=dict)  # request -> script names run


async def _asgi(app: Any, method: str, path: str, body: bytes = b"") -> bytes:
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

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": b"", "headers": HEADERS, "server": ("127.0.0.1", 8080),
             "client": ("127.0.0.1", 1)}
    await app(scope, receive, send)
    return b"".join(chunks)


async def capture(redis_url: str) -> Captured:
    """Run our app on ``redis_url`` for one send and one GET; record its script calls."""
    from a2a_server.app import create_app
    from a2a_server.settings import Settings
    from a2a_server.stores._redis_base import RedisContext

    recorded: list[tuple[str, list[str], list[Any]]] = []
    original = RedisContext.run
    contexts: list[RedisContext] = []

    async def recording_run(self: RedisContext, name: str, keys: list[str], args: list[Any]) -> Any:
        recorded.append((name, list(keys), list(args)))
        if self not in contexts:
            contexts.append(self)
        return await original(self, name, keys, args)

    settings = Settings(redis_url=redis_url, gc_tuning=False, tenants_dir=ROOT / "tenants",
                        agents_dir=ROOT / "bench" / "agent_cards",
                        jwt_secret="bench-signing-key-0123456789abcdef0123")
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    RedisContext.run = recording_run  # type: ignore[method-assign]
    try:
        await asyncio.sleep(0.2)  # start-up's own store calls (reaper, outbox) happen now
        recorded.clear()
        # The body wrk sends in cell (c) (bench/lua/a2a.lua).
        body = orjson.dumps({"message": {"messageId": f"bench-capture-{uuid.uuid4().hex[:8]}-1",
                                         "role": "ROLE_USER", "parts": [{"text": "hello 1"}]},
                             "configuration": {"historyLength": 10}})
        sent = orjson.loads(await _asgi(app, "POST", "/agents/echo/v1/message:send", body))
        task = sent["task"]
        assert task["status"]["state"] == "TASK_STATE_COMPLETED", sent
        send_calls = list(recorded)
        recorded.clear()
        got = orjson.loads(await _asgi(app, "GET", f"/agents/echo/v1/tasks/{task['id']}"))
        assert got["id"] == task["id"], got
        get_calls = list(recorded)
    finally:
        RedisContext.run = original  # type: ignore[method-assign]
        await lifespan.__aexit__(None, None, None)
    commit = [(k, a) for name, k, a in send_calls if name == "commit"]
    get = [(k, a) for name, k, a in get_calls if name == "get"]
    if len(commit) != 1 or len(get) != 1:
        raise RuntimeError(f"expected one commit and one get, captured send: "
                           f"{[c[0] for c in send_calls]}, GET: {[c[0] for c in get_calls]}")
    sources = {name: script.source for name, script in contexts[0]._fast.items()
               if name in ("commit", "get")}
    return Captured(sources, commit[0], get[0], task["id"], task["contextId"],
                    {"send": [c[0] for c in send_calls], "GET": [c[0] for c in get_calls]})


def _substitute(value: Any, pairs: Sequence[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        for old, new in pairs:
            value = value.replace(old, new)
    elif isinstance(value, bytes):
        for old, new in pairs:
            value = value.replace(old.encode(), new.encode())
    return value


def commits(captured: Captured, count: int) -> list[Call]:
    """``count`` commit calls, each for a new task in a new context (ids of the same length)."""
    keys, args = captured.commit
    out: list[Call] = []
    for _ in range(count):
        pairs = ((captured.task_id, str(uuid.uuid4())), (captured.context_id, str(uuid.uuid4())))
        out.append(([_substitute(k, pairs) for k in keys], [_substitute(a, pairs) for a in args]))
    return out


# -- clients ----------------------------------------------------------------------------------


async def client_ours(stack: AsyncExitStack, url: str, sources: dict[str, str]) -> Runner:
    from a2a_server.stores._pipeline import PipelinedRedis, Script

    conn = PipelinedRedis(url)
    stack.push_async_callback(conn.aclose)
    scripts = {name: Script(source) for name, source in sources.items()}

    def run(name: str, keys: list[str], args: list[Any]) -> Awaitable[Any]:
        return conn.evalsha(scripts[name], keys, args)

    return run


def _coredis(max_connections: int | None, lean: bool = False) -> Callable[..., Awaitable[Runner]]:
    """coredis multiplexes every connection (a request releases it before its reply comes);
    ``max_connections=1`` puts every caller on one, ``lean`` drops its per-command retry
    wrapper and server-version check (ours has neither)."""

    async def make(stack: AsyncExitStack, url: str, sources: dict[str, str]) -> Runner:
        import coredis
        from coredis.retry import NoRetryPolicy

        options: dict[str, Any] = ({"verify_version": False, "retry_policy": NoRetryPolicy()}
                                   if lean else {})
        client = coredis.Redis.from_url(url, max_connections=max_connections, **options)
        await stack.enter_async_context(client)
        scripts = {name: client.register_script(source) for name, source in sources.items()}

        async def run(name: str, keys: list[str], args: list[Any]) -> Any:
            return await scripts[name](keys, args)

        return run

    return make


async def client_glide(stack: AsyncExitStack, url: str, sources: dict[str, str]) -> Runner:
    from glide import GlideClient, GlideClientConfiguration, NodeAddress, Script

    host, port = url.removeprefix("redis://").split("/")[0].split(":")
    # Its defaults: RESP3 (RESP2 measured the same), at most 1,000 requests in flight (above
    # anything this bench sends), one multiplexed connection driven by its Rust core.
    client = await GlideClient.create(GlideClientConfiguration([NodeAddress(host, int(port))]))
    stack.push_async_callback(client.close)
    scripts = {name: Script(source) for name, source in sources.items()}  # type: ignore[no-untyped-call]

    def run(name: str, keys: list[str], args: list[Any]) -> Awaitable[Any]:
        return client.invoke_script(scripts[name], keys=keys, args=args)

    return run


async def client_redis_py(stack: AsyncExitStack, url: str, sources: dict[str, str]) -> Runner:
    from redis.asyncio import Redis as AsyncRedis

    client = AsyncRedis.from_url(url)
    stack.push_async_callback(client.aclose)
    scripts = {name: client.register_script(source) for name, source in sources.items()}

    def run(name: str, keys: list[str], args: list[Any]) -> Awaitable[Any]:
        return scripts[name](keys=keys, args=args)

    return run


@dataclass(frozen=True)
class Client:
    name: str
    module: str  # what must be importable
    make: Callable[[AsyncExitStack, str, dict[str, str]], Awaitable[Runner]]
    strings_only: bool = False  # takes str/bytes arguments only (ints are converted untimed)


MARGIN = 0.20  # issue 14 item 5: adopt a maintained client within 20 % of our CPU per call
CLIENTS = (
    Client("ours", "hiredis", client_ours),
    Client("coredis", "coredis", _coredis(None)),
    Client("coredis-best", "coredis", _coredis(1, lean=True)),
    Client("glide", "glide", client_glide, strings_only=True),
    Client("redis-py", "redis.asyncio", client_redis_py),
)


def _installed(module: str) -> str | None:
    try:
        __import__(module)
    except ImportError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


# -- measurement ------------------------------------------------------------------------------


def _stringify(calls: list[Call]) -> list[Call]:
    return [(keys, [a if isinstance(a, (str, bytes)) else str(a) for a in args])
            for keys, args in calls]


def _ok_commit(reply: Any) -> bool:
    return isinstance(reply, list) and reply[0] == 1


def _ok_get(reply: Any) -> bool:
    return isinstance(reply, list) and isinstance(reply[0], bytes) and len(reply[0]) > 0


def _redis_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    cpu_us: float  # this process, per call
    calls_per_s: float
    redis_us: float  # redis-server, per call
    failed: int


async def drive(run: Runner, script: str, calls: list[Call], inflight: int,
                ok: Callable[[Any], bool], redis_pid: int) -> Sample:
    """Run ``calls`` through ``run`` with ``inflight`` tasks; CPU and wall time over all of it."""
    it = iter(calls)
    failed = 0

    async def worker() -> None:
        nonlocal failed
        for keys, args in it:
            if not ok(await run(script, keys, args)):
                failed += 1

    gc.collect()
    redis_before = _redis_cpu(redis_pid)
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    redis_cpu = _redis_cpu(redis_pid) - redis_before
    n = len(calls)
    return Sample(cpu / n * 1e6, n / wall, redis_cpu / n * 1e6, failed)


def _reset(url: str, captured: Captured) -> None:
    """An empty database holding only the GET's task (written by its captured commit)."""
    with sync_redis.Redis.from_url(url) as client:
        client.flushdb()
        keys, args = captured.commit
        reply = client.evalsha(client.script_load(captured.sources["commit"]), len(keys), *keys, *args)
        assert reply[0] == 1, reply


async def measure(args: argparse.Namespace, redis: Redis) -> dict[tuple[str, int, str], list[Sample]]:
    captured = await capture(redis.url)
    print(f"captured: send ran {captured.calls['send']}, GET ran {captured.calls['GET']}; "
          f"commit: {len(captured.commit[0])} keys, {len(captured.commit[1])} args, "
          f"{sum(len(a) for a in captured.commit[1] if isinstance(a, (str, bytes)))} bytes of "
          f"args; get: {len(captured.get[0])} keys, args {captured.get[1]}", flush=True)
    wanted = args.clients.split(",") if args.clients else [c.name for c in CLIENTS]
    clients: list[Client] = []
    for client in CLIENTS:
        if client.name not in wanted:
            continue
        missing = _installed(client.module)
        if missing:
            print(f"skipped {client.name}: {missing} (pip install -e '.[bench]')", flush=True)
        else:
            clients.append(client)
    inflights = [int(n) for n in args.inflight.split(",")]
    n = {"get": args.calls, "send": max(1, args.calls // 2)}
    results: dict[tuple[str, int, str], list[Sample]] = {}
    assert redis.proc is not None
    async with AsyncExitStack() as stack:
        runners = {client.name: await client.make(stack, redis.url, captured.sources)
                   for client in clients}
        for rnd in range(args.rounds):
            order = clients[rnd % len(clients):] + clients[:rnd % len(clients)]
            if rnd % 2:
                order.reverse()
            print(f"round {rnd + 1}/{args.rounds}: {' '.join(c.name for c in order)}", flush=True)
            for cell in CELLS:
                for inflight in inflights:
                    if cell == "get":
                        calls = [captured.get] * n[cell]
                        warm = [captured.get] * args.warmup
                    else:
                        calls = commits(captured, n[cell] + args.warmup)
                        warm, calls = calls[:args.warmup], calls[args.warmup:]
                    for client in order:
                        run = runners[client.name]
                        timed, warmed = ((_stringify(calls), _stringify(warm)) if client.strings_only
                                         else (calls, warm))
                        script = "get" if cell == "get" else "commit"
                        ok = _ok_get if cell == "get" else _ok_commit
                        _reset(redis.url, captured)
                        await drive(run, script, warmed, inflight, ok, redis.proc.pid)
                        sample = await drive(run, script, timed, inflight, ok, redis.proc.pid)
                        results.setdefault((cell, inflight, client.name), []).append(sample)
                        print(f"  {cell:4} c={inflight:<3} {client.name:14} {sample.cpu_us:7.1f} us "
                              f"CPU/call {sample.calls_per_s:9.0f} calls/s  redis "
                              f"{sample.redis_us:5.1f} us/call  failed {sample.failed}", flush=True)
    return results


def table(results: dict[tuple[str, int, str], list[Sample]], rounds: int) -> str:
    """The markdown table: medians over the rounds, ranges, ratio to ours."""
    lines = [f"| cell | in flight | client | CPU us/call, median (min-max of {rounds}) | vs ours "
             "| calls/s, median (min-max) | redis-server us/call | failed |",
             "|---|---|---|---|---|---|---|---|"]
    for (cell, inflight, name), samples in results.items():
        cpu = [s.cpu_us for s in samples]
        rate = [s.calls_per_s for s in samples]
        ours = results.get((cell, inflight, "ours"))
        ratio = (f"{statistics.median(cpu) / statistics.median([s.cpu_us for s in ours]):.2f}x"
                 if ours else "-")
        lines.append(
            f"| {'GET (get.lua)' if cell == 'get' else 'send (commit)'} | {inflight} | {name} | "
            f"{statistics.median(cpu):.1f} ({min(cpu):.1f}-{max(cpu):.1f}) | {ratio} | "
            f"{statistics.median(rate):,.0f} ({min(rate):,.0f}-{max(rate):,.0f}) | "
            f"{statistics.median([s.redis_us for s in samples]):.1f} | "
            f"{sum(s.failed for s in samples)} |")
    return "\n".join(lines)


def worst_cells(results: dict[tuple[str, int, str], list[Sample]]) -> dict[str, float]:
    """Each other client's worst cell: its median CPU per call over ours."""
    worst: dict[str, float] = {}
    for name in sorted({name for _, _, name in results} - {"ours"}):
        worst[name] = 0.0
        for (cell, inflight, client), samples in results.items():
            if client != name or (cell, inflight, "ours") not in results:
                continue
            ours = statistics.median([s.cpu_us for s in results[(cell, inflight, "ours")]])
            worst[name] = max(worst[name], statistics.median([s.cpu_us for s in samples]) / ours)
    return worst


def verdict(results: dict[tuple[str, int, str], list[Sample]], margin: float = MARGIN) -> str:
    """Issue 14's rule: a client within ``margin`` of our CPU per call on both cells."""
    return "\n".join(f"- {name}: worst cell {worst:.2f}x our CPU per call -> "
                     f"{'WITHIN' if worst <= 1 + margin else 'not within'} {margin:.0%}"
                     for name, worst in worst_cells(results).items())


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The run's options (``--quick`` applied); ``bench.run`` calls it too."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=20_000,
                        help="timed GET calls per measurement (sends: half as many)")
    parser.add_argument("--warmup", type=int, default=1_000, help="untimed calls before each one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--inflight", default="16,64", help="concurrent tasks, comma-separated")
    parser.add_argument("--clients", default="", help="comma-separated subset of "
                        + ",".join(c.name for c in CLIENTS))
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--no-pin", action="store_true", help="do not pin this process to CPU 0")
    parser.add_argument("--quick", action="store_true", help="1 round, 2,000 calls: checks it runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.warmup, args.rounds = 2_000, 200, 1
    return args


def run(args: argparse.Namespace) -> dict[tuple[str, int, str], list[Sample]]:
    """Measure every installed client on a private redis-server (this thread pinned to the
    server's CPU, as the bench's servers are, unless ``--no-pin``; restored afterwards)."""
    pinned = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if not args.no_pin and pinned is not None:
        os.sched_setaffinity(0, {int(SERVER_CPU)})  # threads started later (glide's) inherit it
    try:
        return _run(args)
    finally:
        if pinned is not None:
            os.sched_setaffinity(0, pinned)


def _run(args: argparse.Namespace) -> dict[tuple[str, int, str], list[Sample]]:
    with tempfile.TemporaryDirectory(prefix="bench-redis-clients-") as tmp:
        redis = Redis()
        redis.start(Path(tmp))
        try:
            # Persistence is Redis' work, the same for every client; with AOF on, hundreds of
            # thousands of replayed commits would fill the disk (rewrites are off in bench.servers).
            with sync_redis.Redis.from_url(redis.url) as admin:
                admin.config_set("appendonly", "no")
            if args.loop == "uvloop":
                import uvloop

                results = uvloop.run(measure(args, redis))
            else:
                results = asyncio.run(measure(args, redis))
        finally:
            redis.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    results = run(args)
    print()
    print(f"Python {sys.version.split()[0]}, loop {args.loop}, {args.calls} GET / "
          f"{max(1, args.calls // 2)} send calls per measurement, {args.rounds} rounds")
    print(table(results, args.rounds))
    print()
    print(verdict(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
