"""Push benchmarks, run briefly by hand (not part of ``make bench``); numbers are indicative.

``python -m bench.push rate [--redis-url URL] [--tasks N]``
    notifications delivered per second by one replica (in-process app, the conformance
    agent, each task an ``input-required`` send: two notifications) to a local receiver
    process that answers 200 at once: the notifications are queued while the receiver is
    down, then the drain is timed from the moment it is up.

``python -m bench.push cost [--redis-url URL] [--commits N]``
    the store side of a send (one group commit of a new task, three events, finished) with
    no push config and with one: client wall time per commit, and on Redis the server's own
    time per commit script (INFO commandstats). Without configs the added work is one
    EXISTS inside the script (Redis) or one dict lookup (memory).

``python -m bench.push send [--redis-url URL] [--sends N] [--rounds R] [--batch B]``
    the added CPU per send on an agent with a push config, tracing off (the default), GC
    tuned as a server runs (``gc_tuning``): process CPU time (``time.process_time``: the
    app, its store client, the deliverer; not the Redis server's) per ``message:send`` to
    the conformance agent (``tck-complete-task``: one commit, two notifications),
    in-process; the request bodies are encoded before the clock starts (the in-process
    client's JSON encoding of the longer body is not the server's cost). Two figures:

    - **the send's own cost** (issue 16's target: under 10 %): with the deliverer stopped,
      sends without a config and sends with an inline config (its notifications written to
      the outbox by the commit, not delivered) in alternating batches of B (which goes first
      alternates too), so load drifts on a shared machine hit both alike; each round is
      ``sends`` of each, and the figure is the median over every batch pair of the pair's
      added share, with each round's medians shown;
    - **delivery**: before that, with the deliverer running, rounds of sends without a
      config and with one whose notifications are all delivered to the local receiver
      before the clock stops; the difference, per notification, is the CPU of one delivery
      (claim, signature, POST, acknowledgement, log): a request of its own to the receiver,
      not part of the send.

    On Redis the database is flushed first, as ``cost`` does: the notifications an earlier
    run left queued would otherwise be retried to its dead receiver during this run.

The receiver is ``bench/push_receiver.py`` (stdlib only, so it starts at once).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid

import httpx
import orjson
from a2a.server.cluster import TaskVersion
from a2a.types.a2a_pb2 import (
    Message,
    Part,
    Role,
    Task,
    TaskArtifactUpdateEvent,
    TaskPushNotificationConfig,
    TaskState,
    TaskStatusUpdateEvent,
)

from a2a_server.settings import Settings
from a2a_server.stores.base import SCOPE_KEY, Commit, Scope, Stores, set_current_scope

_SCOPE = Scope("demo", "conformance")


def _wait_port(port: int) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the receiver did not start")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rate(redis_url: str | None, tasks: int) -> None:
    asyncio.run(_measure_rate(redis_url, tasks, _free_port()))


async def _delivered(probe: httpx.AsyncClient, port: int, expected: int,
                     every_s: float = 0.01) -> None:
    """Until the receiver (another process) has counted ``expected`` notifications."""
    for _ in range(100_000):
        if int((await probe.get(f"http://127.0.0.1:{port}/count")).text) >= expected:
            return
        await asyncio.sleep(every_s)
    raise RuntimeError("the notifications did not all arrive")


async def _measure_rate(redis_url: str | None, tasks: int, port: int) -> None:
    """Queue ``2 * tasks`` notifications while the receiver is down, then time the drain."""
    from a2a_server.app import create_app

    settings = Settings(redis_url=redis_url, push_url_allowlist=["127.0.0.0/8"],
                        access_log=False, gc_tuning=False, public_url="http://bench",
                        push_retry_base_seconds=0.2, push_retry_max_seconds=0.5,
                        push_poll_seconds=0.05)
    app = create_app(settings)
    headers = {"Tenant-Name": "demo", "X-API-Key": "demo-key", "A2A-Version": "1.0"}
    hook = f"http://127.0.0.1:{port}/hook"
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench") as http, \
            httpx.AsyncClient() as probe:
        for _ in range(tasks):
            body = {"message": {"role": "ROLE_USER", "parts": [{"text": "x"}],
                                "messageId": f"tck-input-required-{uuid.uuid4()}"},
                    "configuration": {"taskPushNotificationConfig": {"url": hook}}}
            sent = await http.post("/agents/conformance/v1/message:send", json=body,
                                   headers=headers)
            sent.raise_for_status()
        receiver = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.push_receiver", str(port))
        try:
            await asyncio.to_thread(_wait_port, port)
            start = time.perf_counter()
            await _delivered(probe, port, 2 * tasks)
            drain = time.perf_counter() - start
        finally:
            receiver.kill()
            await receiver.wait()
    print(f"{'redis' if redis_url else 'memory'}: {2 * tasks} queued notifications "
          f"({tasks} tasks) delivered in {drain:.2f} s once the receiver was up: "
          f"{2 * tasks / drain:,.0f}/s (includes up to 0.5 s of backoff still running)")


def _send_body(hook: str | None) -> bytes:
    body: dict[str, object] = {"message": {"role": "ROLE_USER", "parts": [{"text": "x"}],
                                           "messageId": f"tck-complete-task-{uuid.uuid4()}"}}
    if hook is not None:
        body["configuration"] = {"taskPushNotificationConfig": {"url": hook}}
    return orjson.dumps(body)


async def _count(probe: httpx.AsyncClient, port: int) -> int:
    return int((await probe.get(f"http://127.0.0.1:{port}/count")).text)


async def _settled(probe: httpx.AsyncClient, port: int) -> None:
    """Until the receiver's count has not moved for half a second."""
    last = -1
    while (now := await _count(probe, port)) != last:
        last = now
        await asyncio.sleep(0.5)


async def _measure_sends(redis_url: str | None, sends: int, rounds: int, batch: int,
                         port: int) -> None:
    """CPU per send: the send's own cost (deliverer stopped, batches alternating), and what
    delivering its notifications adds."""
    import statistics

    from a2a_server.app import create_app
    from a2a_server.push.api import DELIVERER_KEY

    settings = Settings(redis_url=redis_url, push_url_allowlist=["127.0.0.0/8"],
                        access_log=False, public_url="http://bench", push_poll_seconds=0.05)
    if settings.tracing:
        raise SystemExit("run with A2A_SERVER_TRACING unset: this measures tracing off")
    if redis_url:  # an earlier run's queued notifications would be retried to its dead receiver
        from a2a_server.stores.redis import create_redis_client

        client = create_redis_client(redis_url)
        await client.flushall()
        await client.aclose()
    app = create_app(settings)
    headers = {"Tenant-Name": "demo", "X-API-Key": "demo-key", "A2A-Version": "1.0",
               "Content-Type": "application/json"}
    hook = f"http://127.0.0.1:{port}/hook"
    receiver = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.push_receiver", str(port))
    try:
        await asyncio.to_thread(_wait_port, port)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench") as http, \
                httpx.AsyncClient() as probe:

            per_send = 0  # notifications per send, counted during the warm-up

            async def cpu_per_send(n: int, with_hook: bool, deliver: bool) -> float:
                bodies = [_send_body(hook if with_hook else None) for _ in range(n)]
                before = await _count(probe, port) if deliver else 0
                start = time.process_time()
                for body in bodies:
                    sent = await http.post("/agents/conformance/v1/message:send",
                                           content=body, headers=headers)
                    sent.raise_for_status()
                if deliver:  # until every notification of these sends arrived
                    await _delivered(probe, port, before + per_send * n, 0.05)
                return (time.process_time() - start) / n * 1e6

            for _ in range(2):  # warm-up: first-use paths, caches, connections
                await cpu_per_send(sends, False, False)
                before = await _count(probe, port)
                await cpu_per_send(sends, True, False)
                await _settled(probe, port)
                per_send = (await _count(probe, port) - before) // sends
            plain: list[float] = []
            delivered: list[float] = []
            for _ in range(rounds):
                plain.append(await cpu_per_send(sends, False, False))
                delivered.append(await cpu_per_send(sends, True, True))
            deliverer = getattr(app.state, DELIVERER_KEY)
            await deliverer.aclose()  # from here on, notifications are only queued
            shares: list[float] = []
            round_plain: list[float] = []
            round_queued: list[float] = []
            for _ in range(rounds):
                pairs: list[tuple[float, float]] = []
                for i in range(max(sends // batch, 1)):
                    order = (False, True) if i % 2 == 0 else (True, False)
                    got = {w: await cpu_per_send(batch, w, False) for w in order}
                    pairs.append((got[False], got[True]))
                    shares.append(got[True] / got[False] - 1)
                round_plain.append(statistics.median(p for p, _ in pairs))
                round_queued.append(statistics.median(q for _, q in pairs))
    finally:
        receiver.kill()
        await receiver.wait()
    store = "redis" if redis_url else "memory"
    base, with_delivery = statistics.median(plain), statistics.median(delivered)
    print(f"{store}, tracing off, CPU per send:")
    print(f"  the send's own cost (deliverer stopped; {rounds} rounds x {sends} sends each way, "
          f"alternating batches of {batch}):")
    print(f"    rounds' medians (us): no config {[round(x) for x in round_plain]}, "
          f"config (notifications queued) {[round(x) for x in round_queued]}")
    print(f"    no push config {statistics.median(round_plain):8.0f} us")
    print(f"    push config    {statistics.median(round_queued):8.0f} us  added "
          f"{100 * statistics.median(shares):+.1f} % (median of {len(shares)} batch pairs; "
          f"quartiles {100 * statistics.quantiles(shares, n=4)[0]:+.1f} / "
          f"{100 * statistics.quantiles(shares, n=4)[2]:+.1f} %)")
    print(f"  delivery ({rounds} rounds x {sends} sends, {per_send} notifications per send):")
    print(f"    rounds (us): no config {[round(x) for x in plain]}, config, delivered "
          f"{[round(x) for x in delivered]}")
    print(f"    no push config {base:8.0f} us")
    print(f"    push config, every notification delivered {with_delivery:8.0f} us "
          f"(added {100 * (with_delivery - base) / base:+.1f} %)")
    if per_send:
        print(f"    delivery CPU per notification: {(with_delivery - base) / per_send:,.0f} us "
              "(the send's own added cost included)")


def _steps(task_id: str, context_id: str) -> tuple[Task, list[object]]:
    message = Message(message_id=uuid.uuid4().hex, role=Role.ROLE_USER, task_id=task_id,
                      context_id=context_id, parts=[Part(text="x")])
    task = Task(id=task_id, context_id=context_id, history=[message])
    task.status.state = TaskState.TASK_STATE_COMPLETED
    created = Task(id=task_id, context_id=context_id, history=[message])
    created.status.state = TaskState.TASK_STATE_SUBMITTED
    artifact = TaskArtifactUpdateEvent(task_id=task_id, context_id=context_id)
    artifact.artifact.artifact_id = "a"
    artifact.artifact.parts.append(Part(text="echo: x"))
    done = TaskStatusUpdateEvent(task_id=task_id, context_id=context_id)
    done.status.state = TaskState.TASK_STATE_COMPLETED
    return task, [created, artifact, done]


async def _commits(stores: Stores, n: int, with_config: bool) -> float:
    from a2a.server.context import ServerCallContext

    context = ServerCallContext(state={SCOPE_KEY: _SCOPE})
    set_current_scope(_SCOPE)
    elapsed = 0.0
    for _ in range(n):
        task_id, context_id = str(uuid.uuid4()), str(uuid.uuid4())
        if with_config:
            await stores.push_configs.set_info(task_id, TaskPushNotificationConfig(
                id="hook", url="https://example.com/hook"), context)
        task, steps = _steps(task_id, context_id)
        start = time.perf_counter()
        await stores.tasks.commit(_SCOPE, Commit(task, steps, TaskVersion.MISSING, 0,
                                                 log_events=with_config))  # type: ignore[arg-type]
        elapsed += time.perf_counter() - start
    return elapsed / n * 1e6


async def _script_usec(stores: Stores) -> float | None:
    client = getattr(stores, "client", None)
    if client is None:
        return None
    stats = await client.info("commandstats")
    entry = stats.get("cmdstat_evalsha")
    return float(entry["usec_per_call"]) if entry else None


async def _cost(redis_url: str | None, n: int) -> None:
    from a2a_server.stores.memory import InMemoryStores
    from a2a_server.stores.redis import RedisStores, create_redis_client

    for with_config in (False, True, False, True):
        if redis_url:
            client = create_redis_client(redis_url)
            await client.flushall()
            await client.config_resetstat()
            stores: Stores = RedisStores(client, lambda _: None, prefix="benchpush")
        else:
            stores = InMemoryStores()
        await stores.start()
        try:
            await _commits(stores, 200, with_config)  # warm-up
            if redis_url:
                await stores.client.config_resetstat()  # type: ignore[attr-defined]
            wall = await _commits(stores, n, with_config)
            server = await _script_usec(stores)
        finally:
            await stores.close()
        extra = f", Redis script {server:.1f} us/commit" if server is not None else ""
        label = "one push config" if with_config else "no push config "
        print(f"{'redis' if redis_url else 'memory'} {label}: {wall:.1f} us/commit (client wall)"
              f"{extra}")


def main() -> None:
    """See the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m bench.push")
    sub = parser.add_subparsers(dest="what", required=True)
    rate = sub.add_parser("rate")
    rate.add_argument("--redis-url")
    rate.add_argument("--tasks", type=int, default=500)
    cost = sub.add_parser("cost")
    cost.add_argument("--redis-url")
    cost.add_argument("--commits", type=int, default=2000)
    send = sub.add_parser("send")
    send.add_argument("--redis-url")
    send.add_argument("--sends", type=int, default=500)
    send.add_argument("--rounds", type=int, default=5)
    send.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    if args.what == "rate":
        _rate(args.redis_url, args.tasks)
    elif args.what == "send":
        asyncio.run(_measure_sends(args.redis_url, args.sends, args.rounds, args.batch,
                                   _free_port()))
    else:
        asyncio.run(_cost(args.redis_url, args.commits))


if __name__ == "__main__":
    main()
