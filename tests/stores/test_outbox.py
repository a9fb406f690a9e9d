"""The push outbox contract, on every backend: entries written by the commit, claims, acks."""

from __future__ import annotations

import asyncio

from a2a.server.cluster import TaskVersion
from a2a.types.a2a_pb2 import StreamResponse, TaskPushNotificationConfig

from a2a_server.stores.base import Commit, Stores, set_current_scope
from tests.stores.test_contract import COMPLETED, DEMO, WORKING, ctx, make_task, status_event


async def _with_configs(stores: Stores, task_id: str, *ids: str) -> None:
    for config_id in ids:
        await stores.push_configs.set_info(task_id, TaskPushNotificationConfig(
            id=config_id, url=f"https://example.com/{config_id}"), ctx())


async def test_a_commit_queues_one_entry_per_event_and_config_in_order(stores: Stores) -> None:
    set_current_scope(DEMO)
    task = make_task()
    await _with_configs(stores, task.id, "b", "a")
    working = status_event(task)
    working.status.state = WORKING
    task.status.state = COMPLETED
    done = status_event(task)
    v = await stores.tasks.commit(DEMO, Commit(task, [task, working, done], TaskVersion.MISSING))
    assert v == TaskVersion(3)
    entries = await stores.outbox.pending(DEMO, task.id, 100)
    assert [(e.entry_id, e.config_id) for e in entries] == [
        ("1-1", "a"), ("1-2", "b"), ("2-1", "a"), ("2-2", "b"), ("3-1", "a"), ("3-2", "b")]
    states = [StreamResponse.FromString(e.event) for e in entries[::2]]
    assert states[0].task.id == task.id
    assert states[2].status_update.status.state == COMPLETED
    assert await stores.outbox.due(10) == [(DEMO, task.id)]


async def test_a_task_without_configs_queues_nothing(stores: Stores) -> None:
    task = make_task()
    await stores.tasks.commit(DEMO, Commit(task, [task], TaskVersion.MISSING))
    assert await stores.outbox.pending(DEMO, task.id, 10) == []
    assert await stores.outbox.due(10) == []


async def test_one_deliverer_at_a_time_until_its_claim_lapses(stores: Stores) -> None:
    task = make_task()
    await _with_configs(stores, task.id, "hook")
    await stores.tasks.commit(DEMO, Commit(task, [task], TaskVersion.MISSING))
    outbox = stores.outbox
    assert await outbox.claim(DEMO, task.id, "replica-a", 300)
    assert await outbox.claim(DEMO, task.id, "replica-a", 300)  # renewed by its holder
    assert not await outbox.claim(DEMO, task.id, "replica-b", 300)
    await asyncio.sleep(0.5)  # replica-a died: its claim lapses
    assert await outbox.claim(DEMO, task.id, "replica-b", 300)


async def test_acked_entries_go_and_an_empty_outbox_is_no_longer_due(stores: Stores) -> None:
    task = make_task()
    await _with_configs(stores, task.id, "hook")
    await stores.tasks.commit(DEMO, Commit(task, [task], TaskVersion.MISSING))
    outbox = stores.outbox
    assert await outbox.claim(DEMO, task.id, "r", 5000)
    [entry] = await outbox.pending(DEMO, task.id, 10)
    await outbox.ack(DEMO, task.id, [entry.entry_id])
    await outbox.release(DEMO, task.id, "r", None, entry.entry_id)
    assert await outbox.pending(DEMO, task.id, 10) == []
    assert await outbox.due(10) == []
    assert not await outbox.claim(DEMO, task.id, "r", 5000)


async def test_an_entry_queued_during_a_delivery_is_due_at_once(stores: Stores) -> None:
    task = make_task()
    task.status.state = WORKING
    await _with_configs(stores, task.id, "hook")
    v1 = await stores.tasks.commit(DEMO, Commit(task, [task], TaskVersion.MISSING))
    outbox = stores.outbox
    assert await outbox.claim(DEMO, task.id, "r", 5000)
    [first] = await outbox.pending(DEMO, task.id, 10)
    task.status.state = COMPLETED
    await stores.tasks.commit(DEMO, Commit(task, [status_event(task)], v1,
                                           len(task.history)))  # meanwhile
    await outbox.release(DEMO, task.id, "r", 10**15, first.entry_id)  # "retry far later"
    assert await outbox.due(10) == [(DEMO, task.id)]  # no: the new entry is due now


async def test_the_delivery_log_round_trips(stores: Stores) -> None:
    assert await stores.outbox.load_log(DEMO, "t", "c") is None
    await stores.outbox.save_log(DEMO, "t", "c", b'{"state": "ok"}')
    assert await stores.outbox.load_log(DEMO, "t", "c") == b'{"state": "ok"}'
