"""What only the Redis backend has: its exact key layout, O(N) history reads, retention,
the lease reaper, and the bytes one task costs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
import redis.asyncio as aioredis
from a2a.server.cluster import TaskVersion
from a2a.types.a2a_pb2 import ListTasksRequest, Role, Task, TaskState
from redis.crc import key_slot

from a2a_server.stores.base import Commit, LeaseChange, Scope, Stores, set_current_scope
from a2a_server.stores.redis import RedisStores
from a2a_server.stores.redis_streams import LEASE_LOST_REASON
from tests.conftest import DEMO as DEMO_HEADERS
from tests.conftest import make_settings, running_app, user_message_v03
from tests.stores.test_contract import DEMO, ctx, make_task, msg, save, status_event

WORKING = TaskState.TASK_STATE_WORKING


@pytest.fixture
async def redis_stores(stores_factory: Callable[..., Stores]) -> RedisStores:
    backend = stores_factory("redis", replica_id="replica-a", lease_seconds=0.3)
    assert isinstance(backend, RedisStores)
    await backend.start()
    yield backend  # type: ignore[misc]
    await backend.close()


@pytest.fixture
async def raw(redis_url: str) -> aioredis.Redis:
    client = aioredis.Redis.from_url(redis_url)
    yield client  # type: ignore[misc]
    await client.aclose()


async def test_key_layout(redis_stores: RedisStores, raw: aioredis.Redis) -> None:
    task = make_task("t{1}:x", context_id="c 1", history=2)
    version = await save(redis_stores, task)
    task.status.state = TaskState.TASK_STATE_COMPLETED
    await save(redis_stores, task, version)
    keys = sorted(k.decode() for k in await raw.keys("*"))
    tag = "{t:demo:echo:t%7B1%7D%3Ax}"
    assert keys == sorted([
        f"a2a:{tag}:task", f"a2a:{tag}:hist", f"a2a:{tag}:events",
        "a2a:{s:demo}:echo:ix", "a2a:{s:demo}:echo:ixm", "a2a:{s:demo}:echo:ix:st:3",
        "a2a:{s:demo}:echo:ix:ctx:c%201", "a2a:{s:demo}:echo:ctx:c%201",
    ])
    assert len({key_slot(k.encode()) for k in keys if tag in k}) == 1
    assert len({key_slot(k.encode()) for k in keys if "{s:demo}" in k}) == 1
    stored = await raw.hgetall(f"a2a:{tag}:task")
    assert set(stored) == {b"d", b"v", b"x", b"h", b"f"}
    assert stored[b"v"] == b"2" and stored[b"x"] == b"1"
    assert stored[b"h"] == b"2"
    assert await raw.xrange(f"a2a:{tag}:events") and [
        e[0] for e in await raw.xrange(f"a2a:{tag}:events")] == [b"1-0", b"2-0"]


async def test_a_view_reads_only_the_messages_it_returns(
    redis_stores: RedisStores, raw: aioredis.Redis
) -> None:
    big = make_task("big", history=10_000)
    small = make_task("small", history=10)
    await save(redis_stores, big)
    await save(redis_stores, small)
    keys = redis_stores.redis.keys.task("demo", "echo", "big")
    reply = await redis_stores.redis.run("get", [keys.task, keys.hist], [10])
    assert reply[3] == 10  # LRANGE -10 -1: ten messages leave Redis, not 10 000
    assert list(Task.FromString(reply[0] + reply[2]).history) == list(big.history[-10:])
    big_view = await redis_stores.tasks.get_task_view(DEMO, "big", 10)
    small_view = await redis_stores.tasks.get_task_view(DEMO, "small", 10)
    assert big_view is not None and small_view is not None
    assert big_view.ByteSize() < 2 * small_view.ByteSize()
    assert list(big_view.history) == list(big.history[-10:])


async def test_a_history_stored_unframed_is_read_and_rewritten_framed(
    redis_stores: RedisStores, raw: aioredis.Redis
) -> None:
    """Tasks written before history entries were stored framed (no ``f`` field) are read as
    they are; their next save sends the whole history once and stores it framed."""
    task = make_task("old", WORKING, history=3)
    head = Task(id=task.id, context_id=task.context_id, status=task.status)
    keys = redis_stores.redis.keys.task("demo", "echo", "old")
    await raw.hset(keys.task, mapping={"d": head.SerializeToString(), "v": 1, "s": 4, "x": 0,
                                       "h": 3})
    await raw.rpush(keys.hist, *(m.SerializeToString() for m in task.history))
    stored = await redis_stores.tasks.get("old", ctx())
    assert stored is not None and stored.task == task
    view = await redis_stores.tasks.get_task_view(DEMO, "old", 2)
    assert view is not None and list(view.history) == list(task.history[-2:])
    task.history.append(msg("after the upgrade"))
    task.status.state = TaskState.TASK_STATE_COMPLETED
    await save(redis_stores, task, stored.version)
    assert await raw.hget(keys.task, "f") == b"1"
    again = await redis_stores.tasks.get_task_view(DEMO, "old", None)
    assert again is not None and again == task


async def test_saves_send_only_new_messages(
    redis_stores: RedisStores, raw: aioredis.Redis
) -> None:
    task = make_task("grow", history=1_000)
    version = await save(redis_stores, task)
    await raw.config_resetstat()
    task.history.append(msg("one more", Role.ROLE_AGENT))
    task.status.state = WORKING
    await save(redis_stores, task, version)
    stats = await raw.info("commandstats")
    # one RPUSH of one message inside the save script, no DEL/rewrite of the history
    assert "cmdstat_del" not in stats
    assert stats["cmdstat_rpush"]["calls"] == 1
    assert await raw.llen(redis_stores.redis.keys.task("demo", "echo", "grow").hist) == 1_001


async def test_retention_expires_every_key_of_a_finished_task_together(
    stores_factory: Callable[..., Stores], raw: aioredis.Redis
) -> None:
    backend = stores_factory("redis", tenant_ttl=lambda name: 60 if name == "demo" else None)
    await backend.start()
    try:
        task = make_task("ret")
        version = await save(backend, task)
        keys = backend.redis.keys.task("demo", "echo", "ret")  # type: ignore[attr-defined]
        assert await raw.pttl(keys.task) == -1  # running tasks never expire
        task.status.state = TaskState.TASK_STATE_COMPLETED
        await save(backend, task, version)
        for key in (keys.task, keys.hist, keys.events):
            assert 0 < await raw.pttl(key) <= 60_000
        scope = backend.redis.keys.scope("demo", "echo")  # type: ignore[attr-defined]
        assert 0 < await raw.pttl(scope.ctx("ctx-1")) <= 60_000
        await save(backend, make_task("other"), scope=Scope("acme", "echo"))
        other = backend.redis.keys.task("acme", "echo", "other")  # type: ignore[attr-defined]
        assert await raw.pttl(other.task) == -1
    finally:
        await backend.close()


async def test_a_scrub_keeps_the_contexts_retention(
    stores_factory: Callable[..., Stores], raw: aioredis.Redis
) -> None:
    backend = stores_factory("redis", tenant_ttl=lambda name: 60)
    await backend.start()
    try:
        keys = backend.redis.keys.scope("demo", "echo")  # type: ignore[attr-defined]
        await backend.contexts.add_task(DEMO, "kept", "t1")
        await backend.contexts.add_message(DEMO, "kept", msg("direct"))
        await backend.contexts.add_message(DEMO, "emptied", msg("direct"))
        assert await backend.contexts.scrub(DEMO, "kept") == ["t1"]
        assert await backend.contexts.scrub(DEMO, "emptied") == []
        assert 0 < await raw.pttl(keys.ctx("kept")) <= 60_000  # rewritten, not left forever
        assert 0 < await raw.pttl(keys.ctx_scrubbed("emptied")) <= 60_000
    finally:
        await backend.close()


async def test_an_expired_task_leaves_the_listing(
    redis_stores: RedisStores, raw: aioredis.Redis
) -> None:
    await save(redis_stores, make_task("gone"))
    await save(redis_stores, make_task("kept"))
    await raw.delete(*redis_stores.redis.keys.task("demo", "echo", "gone").all)  # as a TTL would
    page = await redis_stores.tasks.list(ListTasksRequest(), ctx())
    assert [t.id for t in page.tasks] == ["kept"]
    assert await raw.hget(redis_stores.redis.keys.scope("demo", "echo").ixm, "gone") is None


@pytest.fixture(params=["redis", pytest.param("cluster", marks=pytest.mark.cluster)])
async def lease_stores(
    request: pytest.FixtureRequest, stores_factory: Callable[..., Stores]
) -> RedisStores:
    backend = stores_factory(request.param, replica_id="replica-a", lease_seconds=0.3)
    assert isinstance(backend, RedisStores)
    await backend.start()
    yield backend  # type: ignore[misc]
    await backend.close()


async def test_the_reaper_fails_a_task_whose_lease_lapsed_once(
    lease_stores: RedisStores, stores_factory: Callable[..., Stores]
) -> None:
    redis_stores = lease_stores
    kind = "cluster" if "RedisCluster" in type(redis_stores.client).__name__ else "redis"
    task = make_task("orphan", WORKING)
    await save(redis_stores, task)
    # replica A claims the lease, then "dies": nothing renews or releases it
    await redis_stores.leases._claim(DEMO, "orphan")
    b = stores_factory(kind, replica_id="replica-b", lease_seconds=0.3)
    c = stores_factory(kind, replica_id="replica-c", lease_seconds=0.3)
    assert isinstance(b, RedisStores) and isinstance(c, RedisStores)
    # B, C and A's own background reaper race for it; the ZREM decides who fails it
    for _ in range(200):
        await asyncio.gather(b.leases.reap_once(), c.leases.reap_once())
        stored = await redis_stores.tasks.get("orphan", ctx())
        assert stored is not None
        if stored.task.status.state == TaskState.TASK_STATE_FAILED:
            break
        await asyncio.sleep(0.05)
    assert stored.task.status.state == TaskState.TASK_STATE_FAILED
    assert stored.task.status.message.parts[0].text == LEASE_LOST_REASON
    set_current_scope(DEMO)
    logged = await redis_stores.events.replay("orphan", after=TaskVersion(1))
    assert logged is not None and len(logged) == 1  # failed exactly once
    assert logged[0].event.status.state == TaskState.TASK_STATE_FAILED
    assert await b.leases.reap_once() == [] and await c.leases.reap_once() == []
    await b.client.aclose()
    await c.client.aclose()


async def _reap_until(stores: list[RedisStores], done: Callable[[], object]) -> None:
    """Run the reapers of ``stores`` until ``done()`` holds (bounded; no timing asserted)."""
    for _ in range(200):
        await asyncio.gather(*(s.leases.reap_once() for s in stores))
        if await done():  # type: ignore[misc]
            return
        await asyncio.sleep(0.05)


async def test_a_lease_claimed_by_a_commit_outlives_its_replica_and_the_task_is_failed(
    lease_stores: RedisStores, stores_factory: Callable[..., Stores]
) -> None:
    """A run committed ``working`` with its agent still running (the commit claims the lease);
    the replica dies before the commit that would release it. No reaper would ever fail the
    task if the lease were not held in the store by then."""
    a = lease_stores
    kind = "cluster" if "RedisCluster" in type(a.client).__name__ else "redis"
    task = make_task("window", WORKING)
    await a.tasks.commit(DEMO, Commit(task, [status_event(task)], TaskVersion.MISSING,
                                      lease=LeaseChange.CLAIM))
    lease_key = a.redis.keys.task("demo", "echo", "window").lease
    assert await a.client.get(lease_key) == b"replica-a"
    await a.close()  # ... and the replica is gone (no renewal, no reaper, no late commit)
    b = stores_factory(kind, replica_id="replica-b", lease_seconds=0.3)
    assert isinstance(b, RedisStores)

    async def failed() -> bool:
        stored = await b.tasks.get("window", ctx())
        return stored is not None and stored.task.status.state == TaskState.TASK_STATE_FAILED

    await _reap_until([b], failed)
    stored = await b.tasks.get("window", ctx())
    assert stored is not None and stored.task.status.state == TaskState.TASK_STATE_FAILED
    assert stored.task.status.message.parts[0].text == LEASE_LOST_REASON
    await b.client.aclose()


@pytest.mark.parametrize("final", [TaskState.TASK_STATE_COMPLETED,
                                   TaskState.TASK_STATE_INPUT_REQUIRED])
async def test_the_commit_of_the_final_state_releases_the_lease(
    lease_stores: RedisStores, final: TaskState
) -> None:
    a = lease_stores
    task = make_task("settled", WORKING)
    version = await a.tasks.commit(DEMO, Commit(task, [status_event(task)], TaskVersion.MISSING,
                                                lease=LeaseChange.CLAIM))
    lease_key = a.redis.keys.task("demo", "echo", "settled").lease
    member = a.redis.keys.lease_member("demo", "echo", "settled")
    assert await a.client.get(lease_key) == b"replica-a"
    assert await a.client.zscore(a.redis.keys.leases, member) is not None
    task.status.state = final
    await a.tasks.commit(DEMO, Commit(task, [status_event(task)], version,
                                      stored_history=len(task.history),
                                      lease=LeaseChange.RELEASE))
    assert await a.client.get(lease_key) is None
    assert await a.client.zscore(a.redis.keys.leases, member) is None


async def test_an_interrupted_task_whose_lease_lapsed_is_not_failed(
    lease_stores: RedisStores, stores_factory: Callable[..., Stores]
) -> None:
    """input-required / auth-required: waiting for the client, nothing was lost."""
    a = lease_stores
    kind = "cluster" if "RedisCluster" in type(a.client).__name__ else "redis"
    await save(a, make_task("idle", TaskState.TASK_STATE_AUTH_REQUIRED))
    await a.leases._claim(DEMO, "idle")  # then the replica "dies"
    b = stores_factory(kind, replica_id="replica-b", lease_seconds=0.3)
    assert isinstance(b, RedisStores)
    member = a.redis.keys.lease_member("demo", "echo", "idle")

    async def reaped() -> bool:
        return await b.client.zscore(b.redis.keys.leases, member) is None

    await _reap_until([b], reaped)
    assert await reaped()
    stored = await b.tasks.get("idle", ctx())
    assert stored is not None and stored.task.status.state == TaskState.TASK_STATE_AUTH_REQUIRED
    await b.client.aclose()


async def test_a_replica_reading_a_task_it_holds_sees_other_replicas_saves(
    lease_stores: RedisStores, stores_factory: Callable[..., Stores], raw: aioredis.Redis
) -> None:
    """A get answered from the task this replica holds (``unchanged`` from the get script)
    returns exactly what Redis holds, a fresh object each time; a save by another replica,
    or by a scrub, is always seen."""
    a = lease_stores
    kind = "cluster" if "RedisCluster" in type(a.client).__name__ else "redis"
    b = stores_factory(kind, replica_id="replica-b")
    assert isinstance(b, RedisStores)
    task = make_task("cached", WORKING, history=3)
    version = await save(a, task)
    first = await a.tasks.get("cached", ctx())  # answered from what the save left
    assert first is not None and first.task == task and first.version == version
    first.task.history.append(msg("mutated by the caller"))
    again = await a.tasks.get("cached", ctx())
    assert again is not None and again.task == task  # the caller's copy was its own
    # B (which never saw it) appends and completes it
    on_b = await b.tasks.get("cached", ctx())
    assert on_b is not None and on_b.task == task
    on_b.task.history.append(msg("from b", Role.ROLE_AGENT))
    on_b.task.status.state = TaskState.TASK_STATE_COMPLETED
    v_b = await save(b, on_b.task, on_b.version)
    seen = await a.tasks.get("cached", ctx())
    assert seen is not None and seen.version == v_b and seen.task == on_b.task
    # same version, same length, different bytes cannot happen: a scrub bumps the version
    await b.tasks.scrub(DEMO, "cached")
    scrubbed = await a.tasks.get("cached", ctx())
    assert scrubbed is not None and len(scrubbed.task.history) == 0
    assert scrubbed.task.status.state == TaskState.TASK_STATE_COMPLETED
    await b.client.aclose()


async def test_bytes_per_completed_echo_task(redis_url: str, raw: aioredis.Redis) -> None:
    """MEMORY USAGE summed over the keys of one completed echo task (two messages).

    Reproduce: ``.venv/bin/python -m pytest tests/stores/test_redis.py -k bytes -s``.
    The echo task is finished by its first commit, which logs no events (no subscriber
    can have known its id): what stays is :task and :hist.
    """
    async with running_app(make_settings(redis_url=redis_url)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            sent = await http.post("/agents/echo/v1/message:send", headers=DEMO_HEADERS,
                                   json=user_message_v03("hello"))
    task = sent.json()["task"]
    # two messages: the user's (history) and the agent's reply (status message)
    assert task["status"]["state"] == "completed" and len(task["history"]) == 1
    assert task["status"]["message"]["parts"][0]["text"] == "echo: hello"
    per_key = {}
    for key in await raw.keys(f"*{task['id']}*"):
        per_key[key.decode()] = await raw.memory_usage(key, samples=0)
    print(f"\nbytes per completed echo task: {sum(per_key.values())}")
    for key, size in sorted(per_key.items()):
        print(f"  {size:6d}  {key}")
    assert sorted(key.rsplit(":", 1)[1] for key in per_key) == ["hist", "task"]
    assert sum(per_key.values()) <= 2048
