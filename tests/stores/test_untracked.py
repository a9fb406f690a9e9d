"""What a store keeps per task costs the garbage collector (almost) nothing to walk.

Every tracked object a store keeps for each of its thousands of tasks is walked by each
young collection while it is young and by each full collection for as long as it lives,
while every request in flight waits (docs/performance.md, "Stream tails"). The records
kept per task are tuples of atomic values, untracked (``stores._gc``); what remains is the
in-memory store's head of each task (a protobuf message).
"""

from __future__ import annotations

import gc
from typing import NamedTuple

import pytest
from a2a.server.cluster import TaskVersion

from a2a_server.stores._gc import untracked
from a2a_server.stores.base import Stores
from tests.stores.test_contract import COMPLETED, DEMO, ctx, make_task

TASKS = 300


class _Record(NamedTuple):
    name: str
    size: int
    at: float
    blob: bytes | None


def test_untracked_stops_tracking_a_record_of_atomic_values() -> None:
    record = _Record("a", 1, 2.0, None)
    assert gc.is_tracked(record)  # CPython never untracks a named tuple by itself
    assert untracked(record) is record
    assert not gc.is_tracked(record)
    assert untracked(record) == ("a", 1, 2.0, None)  # twice is harmless


def test_untracked_refuses_a_record_holding_a_container() -> None:
    with pytest.raises(TypeError, match="atomic"):
        untracked(_Record("a", 1, 2.0, [b"x"]))  # type: ignore[arg-type]


async def _tracked_after(stores: Stores, count: int) -> int:
    """Tracked objects in the process after ``count`` finished tasks (each in its own
    context) were saved and read once, and a full collection."""
    for i in range(count):
        task = make_task(context_id=f"conv-{i}")
        version = await stores.tasks.save(task, event=None, prev=None,
                                          prev_version=TaskVersion.MISSING, context=ctx())
        task.status.state = COMPLETED
        await stores.tasks.save(task, event=None, prev=None, prev_version=version,
                                context=ctx())
        assert await stores.tasks.get_task_view(DEMO, task.id, 10) is not None
    gc.collect()
    return len(gc.get_objects())


async def test_a_kept_task_costs_the_collector_at_most_its_head(
        stores: Stores, store_kind: str) -> None:
    await _tracked_after(stores, 20)  # warm: connections, caches of the scope
    before = await _tracked_after(stores, 0)
    after = await _tracked_after(stores, TASKS)
    per_task = (after - before) / TASKS
    # memory: the head (a protobuf message, tracked); Redis: nothing (it keeps keys and
    # what it wrote last, untracked; whole tasks are cached as bytes or run objects)
    assert per_task <= (1.5 if store_kind == "memory" else 0.5), per_task
