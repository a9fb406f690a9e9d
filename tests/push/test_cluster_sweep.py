"""Redis Cluster: a replica dying between a commit's save and its due mark (two calls, two
slots) strands notifications that are stored but not due; the sweeper finds them and another
replica delivers them, each once by delivery id, in order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis.asyncio
from redis import exceptions as rexc

from a2a_server.app import create_app
from a2a_server.settings import Settings
from a2a_server.stores._keys import KeySchema
from a2a_server.stores.redis import RedisStores, create_redis_client
from tests.conftest import LiveServer
from tests.push.conftest import AUTH, BASE, FAST, OPEN, Receiver, version_of, with_webhook

pytestmark = pytest.mark.cluster

KEYS = KeySchema()


def _dies_after_the_save(client: Any) -> None:
    """Every ZADD on the due set fails as if the replica died right after the save before it
    (the lost connection a dying process leaves): the save went through, the mark did not."""
    zadd = client.zadd

    async def dying(name: Any, mapping: Any, *args: Any, **kwargs: Any) -> Any:
        if name == KEYS.outbox_due:
            raise rexc.ConnectionError("the replica died between the save and the due mark")
        return await zadd(name, mapping, *args, **kwargs)

    client.zadd = dying


async def _stranded(url: str, task_id: str) -> tuple[list[str], float | None]:
    """The ids in the task's outbox and the task's score in the due set (None: not due)."""
    client = redis.asyncio.RedisCluster.from_url(url)
    try:
        outbox = KEYS.task("demo", "conformance", task_id).outbox
        ids = [i.decode() for i, _ in await client.xrange(outbox)]
        score = await client.zscore(KEYS.outbox_due,
                                    KEYS.lease_member("demo", "conformance", task_id))
    finally:
        await client.aclose()
    return ids, score


async def test_notifications_stranded_by_a_dying_replica_are_swept_and_delivered_once(
        settings_for: Callable[..., Settings], redis_cluster_url: str, receiver: Receiver,
        live_server_factory: Callable[..., LiveServer]) -> None:
    cluster = {"redis_url": redis_cluster_url, "redis_cluster": True}
    client = create_redis_client(redis_cluster_url, cluster=True)
    _dies_after_the_save(client)
    dying = create_app(settings_for("memory", **cluster, **FAST, push_sweep_seconds=3600),
                       stores=RedisStores(client, lambda _tenant: None))
    async with dying.router.lifespan_context(dying):
        transport = httpx.ASGITransport(app=dying)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            sent = await http.post(f"{BASE}/message:send", json=with_webhook(OPEN, receiver.url),
                                   headers=AUTH)
            # The client got no answer it could trust (the replica "died"); the task and its
            # notifications were saved all the same.
            assert sent.status_code == 503, sent.text
            listed = await http.get(f"{BASE}/tasks", headers=AUTH)
    tasks = listed.json().get("tasks", []) if listed.status_code == 200 else []
    task_id = await _task_id(redis_cluster_url, tasks)
    ids, score = await _stranded(redis_cluster_url, task_id)
    assert ids and score is None  # stored, not due: without a sweep nobody delivers them
    assert receiver.received() == []

    live_server_factory("memory", **cluster, **FAST, push_sweep_seconds=0.2)
    got = await receiver.until(lambda r: len({x.delivery_id for x in r}) >= len(ids))
    delivered = [r.delivery_id for r in got]
    assert delivered == [f"{task_id}:{i}" for i in ids]  # in order, once each
    assert [version_of(r) for r in got] == sorted(version_of(r) for r in got)
    assert await _stranded(redis_cluster_url, task_id) == ([], None)


async def _task_id(url: str, listed: list[dict[str, Any]]) -> str:
    """The one task the dying replica saved (from its ListTasks, or from the cluster)."""
    if listed:
        [task] = listed
        return str(task["id"])
    client = redis.asyncio.RedisCluster.from_url(url)
    try:
        found = {KEYS.parse_outbox_key(k.decode())
                 async for k in client.scan_iter(match=KEYS.outbox_pattern, _type="stream")}
    finally:
        await client.aclose()
    [(tenant, agent, task_id)] = [f for f in found if f is not None]
    assert (tenant, agent) == ("demo", "conformance")
    return task_id


async def test_the_sweep_leaves_due_tasks_alone_and_needs_the_lease(
        redis_cluster_url: str) -> None:
    """A sweep marks only non-empty outboxes missing from the due set, keeps existing due
    times, and only one replica sweeps per interval."""
    client = redis.asyncio.RedisCluster.from_url(redis_cluster_url)
    try:
        stranded = KEYS.task("demo", "conformance", "stranded").outbox
        scheduled = KEYS.task("demo", "conformance", "scheduled").outbox
        emptied = KEYS.task("acme", "conformance", "emptied").outbox
        for key in (stranded, scheduled, emptied):
            await client.xadd(key, {"c": "hook", "e": b"", "t": 0}, id="1-1")
        await client.xdel(emptied, "1-1")  # delivered: an empty stream stays behind
        await client.zadd(KEYS.outbox_due,
                          {KEYS.lease_member("demo", "conformance", "scheduled"): 123})
        stores = RedisStores(create_redis_client(redis_cluster_url, cluster=True), lambda _t: None)
        other = RedisStores(create_redis_client(redis_cluster_url, cluster=True), lambda _t: None)
        try:
            assert await stores.outbox.sweep("replica-a", 60_000) == 1
            assert await other.outbox.sweep("replica-b", 60_000) == 0  # a's interval
        finally:
            await stores.close()
            await other.close()
        due = dict(await client.zrange(KEYS.outbox_due, 0, -1, withscores=True))
        assert set(due) == {KEYS.lease_member("demo", "conformance", "stranded").encode(),
                            KEYS.lease_member("demo", "conformance", "scheduled").encode()}
        assert due[KEYS.lease_member("demo", "conformance", "scheduled").encode()] == 123
    finally:
        await client.aclose()
