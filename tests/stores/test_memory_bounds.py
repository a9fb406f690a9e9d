"""The in-memory store is bounded: retention, the cap on finished tasks, oldest first.

Memory only: the Redis store is bounded by its TTLs (tests/stores/test_redis.py). The
clock is the store's own parameter, advanced by the test instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
from a2a.server.cluster import TaskVersion
from a2a.types.a2a_pb2 import ListTasksRequest, Task, TaskPushNotificationConfig, TaskState

from a2a_server.settings import Settings
from a2a_server.stores.base import Commit, Scope, set_current_scope
from a2a_server.stores.memory import InMemoryStores
from tests.conftest import DEMO as DEMO_HEADERS
from tests.conftest import V1, running_app, user_message_v1
from tests.stores.test_contract import (
    ACME,
    COMPLETED,
    DEMO,
    WORKING,
    ctx,
    make_task,
    msg,
    save,
    status_event,
)

INPUT_REQUIRED = TaskState.TASK_STATE_INPUT_REQUIRED


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def _finish(stores: InMemoryStores, task: Task, prev: TaskVersion,
                  state: TaskState = COMPLETED, scope: Scope = DEMO) -> TaskVersion:
    task.status.state = state
    return await save(stores, task, prev, scope)


async def _exists(stores: InMemoryStores, task: Task, scope: Scope = DEMO) -> bool:
    return await stores.tasks.get(task.id, ctx(scope)) is not None


async def test_retention_drops_a_finished_task_with_its_log_context_push_configs_and_deliveries() -> None:
    clock = Clock()
    stores = InMemoryStores(lambda tenant: 60 if tenant == "demo" else None, clock=clock)
    task = make_task(context_id="conv")
    await stores.push_configs.set_info(task.id, TaskPushNotificationConfig(url="https://x/y"),
                                       ctx())
    done = await _finish(stores, task, await save(stores, task))
    await stores.outbox.save_log(DEMO, task.id, task.id, b"{}")
    kept = make_task(context_id="conv")  # the same context id in another tenant: not touched
    await _finish(stores, kept, await save(stores, kept, scope=ACME), COMPLETED, ACME)
    await stores.outbox.save_log(ACME, kept.id, "hook", b"{}")
    clock.now += 59
    assert await _exists(stores, task)
    assert (await stores.tasks.get(task.id, ctx())).version == done  # type: ignore[union-attr]
    clock.now += 1
    assert not await _exists(stores, task)
    assert await stores.tasks.get_task_view(DEMO, task.id, None) is None
    assert await stores.tasks.get_task_view_bytes(DEMO, task.id, None) is None
    set_current_scope(DEMO)
    assert await stores.events.replay(task.id, after=TaskVersion.MISSING) is None
    assert await stores.push_configs.get_info(task.id, ctx()) == []
    assert await stores.outbox.load_log(DEMO, task.id, task.id) is None  # its delivery log
    assert await stores.outbox.load_log(ACME, kept.id, "hook") == b"{}"
    assert await stores.contexts.page(DEMO, "conv", 10, 0) is None
    assert stores.tasks.finished_count == 1  # acme's, which has no retention
    assert await stores.contexts.page(ACME, "conv", 10, 0) is not None


async def test_retention_counts_from_finishing_and_spares_unfinished_tasks() -> None:
    clock = Clock()
    stores = InMemoryStores(lambda _tenant: 60, clock=clock)
    running, waiting, finished = make_task(), make_task(), make_task()
    v_running = await save(stores, running)
    await _finish(stores, running, v_running, WORKING)
    await _finish(stores, waiting, await save(stores, waiting), INPUT_REQUIRED)
    v_finished = await save(stores, finished)
    clock.now += 3_600  # an hour after creation, the third task finishes only now
    await _finish(stores, finished, v_finished)
    clock.now += 30
    assert await _exists(stores, finished)
    clock.now += 30
    assert not await _exists(stores, finished)
    clock.now += 86_400
    assert await _exists(stores, running) and await _exists(stores, waiting)


async def test_the_cap_drops_the_oldest_finished_first_never_a_running_task() -> None:
    clock = Clock()
    stores = InMemoryStores(max_finished=3, clock=clock)
    running = make_task(context_id="busy")
    await _finish(stores, running, await save(stores, running), WORKING)
    created = [make_task(context_id=f"c{i}") for i in range(5)]
    versions = [await save(stores, task) for task in created]
    # Finished in another order than created: 3, 0, 4, 1, 2.
    for index in (3, 0, 4, 1, 2):
        clock.now += 1
        await _finish(stores, created[index], versions[index])
    assert stores.tasks.finished_count == 3
    present = [await _exists(stores, task) for task in created]
    assert present == [False, True, True, False, True]  # 3 and 0 finished first, so went first
    assert await stores.contexts.page(DEMO, "c3", 10, 0) is None
    assert await stores.contexts.page(DEMO, "c4", 10, 0) is not None
    assert await _exists(stores, running)
    page = await stores.tasks.list(_list_all(), ctx())
    assert sorted(t.id for t in page.tasks) == sorted(
        [running.id, created[1].id, created[2].id, created[4].id])


async def test_a_context_keeps_its_other_tasks_when_one_is_dropped() -> None:
    stores = InMemoryStores(max_finished=1)
    first, second = make_task(context_id="shared"), make_task(context_id="shared")
    await _finish(stores, first, await save(stores, first))
    await _finish(stores, second, await save(stores, second))
    page = await stores.contexts.page(DEMO, "shared", 10, 0)
    assert page is not None and [item.task_id for item in page.items] == [second.id]


def _list_all() -> ListTasksRequest:
    return ListTasksRequest(page_size=100)


async def test_a_deleted_task_leaves_its_context_as_a_dropped_one_does() -> None:
    """delete() takes the task out of its context (as retention does): a context left
    without tasks goes, one with other tasks keeps them."""
    stores = InMemoryStores()
    alone, first, second = (make_task(context_id=c) for c in ("solo", "pair", "pair"))
    for task in (alone, first, second):
        await save(stores, task)
    for task in (alone, first):
        await stores.tasks.delete(task.id, ctx())
    assert await stores.contexts.page(DEMO, "solo", 10, 0) is None
    page = await stores.contexts.page(DEMO, "pair", 10, 0)
    assert page is not None and [item.task_id for item in page.items] == [second.id]


async def test_message_only_contexts_are_bounded_by_retention_and_the_cap() -> None:
    clock = Clock()
    stores = InMemoryStores(lambda tenant: 60 if tenant == "demo" else None, max_finished=2,
                            clock=clock)
    contexts = stores.contexts
    await contexts.add_message(DEMO, "chat", msg("hello"))
    clock.now += 50
    await contexts.add_message(DEMO, "chat", msg("again"))  # retention counts from this one
    clock.now += 50
    page = await contexts.page(DEMO, "chat", 10, 0)
    assert page is not None and page.total == 2
    clock.now += 10
    assert await contexts.page(DEMO, "chat", 10, 0) is None
    # No retention for acme: the cap, least recently written first.
    for name in ("a", "b", "c"):
        clock.now += 1
        await contexts.add_message(ACME, name, msg(name))
    assert [await contexts.page(ACME, n, 10, 0) is not None for n in "abc"] == [False, True, True]


async def test_a_context_with_a_task_is_not_dropped_for_its_messages() -> None:
    clock = Clock()
    stores = InMemoryStores(lambda _tenant: 60, max_finished=1, clock=clock)
    running = make_task(context_id="mixed")
    await _finish(stores, running, await save(stores, running), WORKING)
    await stores.contexts.add_message(DEMO, "mixed", msg("direct"))
    await stores.contexts.add_message(DEMO, "other", msg("direct"))  # the one message-only context allowed
    await stores.contexts.add_message(DEMO, "third", msg("direct"))  # drops "other"
    clock.now += 3_600
    page = await stores.contexts.page(DEMO, "mixed", 10, 0)
    assert page is not None and page.total == 2
    assert await stores.contexts.page(DEMO, "other", 10, 0) is None


async def test_the_setting_bounds_the_embedded_store_of_a_running_server(
    settings_for: Callable[..., Settings],
) -> None:
    settings = settings_for("memory", memory_max_finished_tasks=2)
    async with running_app(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            ids = []
            for text in ("one", "two", "three"):
                sent = await http.post("/agents/echo/v1/message:send",
                                       json=user_message_v1(text), headers={**DEMO_HEADERS, **V1})
                assert sent.status_code == 200, sent.text
                ids.append(sent.json()["task"]["id"])
            found = [(await http.get(f"/agents/echo/v1/tasks/{task_id}",
                                     headers={**DEMO_HEADERS, **V1})).status_code for task_id in ids]
    assert found == [404, 200, 200]


async def test_a_finished_tasks_event_log_goes_after_finished_events_seconds() -> None:
    """As on Redis: the log is kept for Last-Event-ID resumes only, not as long as the task
    (it repeats the task's messages and artifacts); 0 keeps it with the task."""
    clock = Clock()
    stores = InMemoryStores(clock=clock, finished_events_seconds=300)
    kept_forever = InMemoryStores(clock=clock, finished_events_seconds=0)
    set_current_scope(DEMO)
    for store in (stores, kept_forever):
        task, running = make_task(), make_task()
        v1 = await store.tasks.commit(DEMO, Commit(task, [task], TaskVersion.MISSING))
        await store.tasks.commit(DEMO, Commit(running, [running], TaskVersion.MISSING))
        task.status.state = COMPLETED
        await store.tasks.commit(DEMO, Commit(task, [status_event(task)], v1, stored_history=1))
        clock.now += 299
        assert await store.tasks.get(task.id, ctx()) is not None
        assert len(await store.events.replay(task.id, after=TaskVersion.MISSING) or []) == 2
        clock.now += 1
        assert await store.tasks.get(task.id, ctx()) is not None  # the task stays
        logged = await store.events.replay(task.id, after=TaskVersion.MISSING)
        assert (logged is None) is (store is stores)
        clock.now += 86_400  # a task still running keeps its log
        await store.tasks.get(running.id, ctx())
        assert await store.events.replay(running.id, after=TaskVersion.MISSING) is not None
