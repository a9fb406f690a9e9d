"""One contract for the store interfaces, run on memory, Redis and a Redis Cluster alike."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from a2a.server.cluster import ConcurrentTaskModificationError, TaskVersion, VersionedEvent
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import (
    Artifact,
    ListTasksRequest,
    Message,
    Part,
    Role,
    Task,
    TaskArtifactUpdateEvent,
    TaskPushNotificationConfig,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)

from a2a_server.stores.base import (
    SCOPE_KEY,
    Commit,
    LeaseChange,
    Scope,
    Stores,
    set_current_scope,
)

DEMO = Scope("demo", "echo")
ACME = Scope("acme", "echo")
OTHER_AGENT = Scope("demo", "other")

WORKING = TaskState.TASK_STATE_WORKING
COMPLETED = TaskState.TASK_STATE_COMPLETED
CANCELED = TaskState.TASK_STATE_CANCELED


def ctx(scope: Scope = DEMO) -> ServerCallContext:
    return ServerCallContext(state={SCOPE_KEY: scope})


def msg(text: str, role: Role = Role.ROLE_USER) -> Message:
    return Message(message_id=uuid.uuid4().hex, role=role, parts=[Part(text=text)])


def make_task(task_id: str | None = None, state: TaskState = TaskState.TASK_STATE_SUBMITTED,
              context_id: str = "ctx-1", history: int = 1, ts: int | None = None) -> Task:
    task = Task(id=task_id or uuid.uuid4().hex, context_id=context_id,
                status=TaskStatus(state=state))
    if ts is not None:
        task.status.timestamp.FromSeconds(ts)
    task.history.extend(msg(f"m{i}") for i in range(history))
    return task


def status_event(task: Task) -> TaskStatusUpdateEvent:
    return TaskStatusUpdateEvent(task_id=task.id, context_id=task.context_id, status=task.status)


async def save(stores: Stores, task: Task, prev: TaskVersion = TaskVersion.MISSING,
               scope: Scope = DEMO) -> TaskVersion:
    version = await stores.tasks.save(task, event=status_event(task), prev=None,
                                      prev_version=prev, context=ctx(scope))
    set_current_scope(scope)
    await stores.events.publish(task.id, VersionedEvent(status_event(task), version))
    return version


# --- tasks: versions, compare-and-set, terminal guard -------------------------------------


async def test_save_get_roundtrip_and_versions(stores: Stores) -> None:
    task = make_task(history=2)
    v1 = await save(stores, task)
    stored = await stores.tasks.get(task.id, ctx())
    assert stored is not None and stored.task == task and stored.version == v1
    task.status.state = WORKING
    task.history.append(msg("more"))
    v2 = await save(stores, task, v1)
    assert v2.is_after(v1)
    stored = await stores.tasks.get(task.id, ctx())
    assert stored is not None and stored.task == task and stored.version == v2


async def test_stale_version_is_refused(stores: Stores) -> None:
    task = make_task()
    v1 = await save(stores, task)
    task.status.state = WORKING
    await save(stores, task, v1)
    with pytest.raises(ConcurrentTaskModificationError):
        await save(stores, task, v1)
    with pytest.raises(ConcurrentTaskModificationError):
        await save(stores, make_task(task.id))  # a second "first write"


@pytest.mark.parametrize("final", [COMPLETED, TaskState.TASK_STATE_FAILED,
                                   TaskState.TASK_STATE_REJECTED, CANCELED])
async def test_no_write_over_a_terminal_task(stores: Stores, final: TaskState) -> None:
    task = make_task()
    v1 = await save(stores, task)
    task.status.state = final
    v2 = await save(stores, task, v1)
    for state in (WORKING, COMPLETED, CANCELED):
        task.status.state = state
        with pytest.raises(ConcurrentTaskModificationError):
            await save(stores, task, v2)
    stored = await stores.tasks.get(task.id, ctx())
    assert stored is not None and stored.task.status.state == final and stored.version == v2


async def test_cancel_overwrites_a_running_task_without_version(stores: Stores) -> None:
    task = make_task()
    v1 = await save(stores, task)
    task.status.state = WORKING
    await save(stores, task, v1)
    canceled = make_task(task.id, CANCELED, history=0)
    canceled.history.extend(task.history)
    await save(stores, canceled, v1)  # stale version, still accepted for CANCELED
    task.status.state = COMPLETED  # the running replica's late COMPLETED
    with pytest.raises(ConcurrentTaskModificationError):
        await save(stores, task, TaskVersion(99))
    stored = await stores.tasks.get(task.id, ctx())
    assert stored is not None and stored.task.status.state == CANCELED


async def test_cancel_of_an_absent_task_is_refused(stores: Stores) -> None:
    with pytest.raises(ConcurrentTaskModificationError):
        await save(stores, make_task(state=CANCELED), TaskVersion(1))


async def test_concurrent_writers_exactly_one_wins(stores: Stores) -> None:
    task = make_task()
    v1 = await save(stores, task)
    results = await asyncio.gather(
        *(save(stores, make_task(task.id, WORKING, history=2), v1) for _ in range(8)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1


# --- group commits (the task runner's writes) ---------------------------------------------


def artifact_event(task: Task, text: str) -> TaskArtifactUpdateEvent:
    return TaskArtifactUpdateEvent(task_id=task.id, context_id=task.context_id,
                                   artifact=Artifact(artifact_id="a-1", parts=[Part(text=text)]))


async def test_a_commit_writes_one_version_per_step_and_logs_their_events(stores: Stores) -> None:
    task = make_task(history=1)
    created = Task()
    created.CopyFrom(task)
    task.status.state = COMPLETED
    steps = [created, None, artifact_event(task, "out"), status_event(task)]
    version = await stores.tasks.commit(DEMO, Commit(task, steps, TaskVersion.MISSING))
    assert version == TaskVersion(4)
    stored = await stores.tasks.get(task.id, ctx())
    assert stored is not None and stored.task == task and stored.version == version
    set_current_scope(DEMO)
    logged = await stores.events.replay(task.id, after=TaskVersion.MISSING)
    assert logged is not None
    assert [e.version for e in logged] == [TaskVersion(1), TaskVersion(3), TaskVersion(4)]
    assert [type(e.event).__name__ for e in logged] == [
        "Task", "TaskArtifactUpdateEvent", "TaskStatusUpdateEvent"]
    page = await stores.contexts.page(DEMO, task.context_id, 10, 0)
    assert page is not None and [i.task_id for i in page.items] == [task.id]


async def test_a_commit_appends_only_what_follows_the_stored_history(stores: Stores) -> None:
    task = make_task(history=3)
    v1 = await stores.tasks.commit(DEMO, Commit(task, [task], TaskVersion.MISSING))
    task.history.append(msg("follow-up"))
    task.status.state = TaskState.TASK_STATE_INPUT_REQUIRED
    v2 = await stores.tasks.commit(DEMO, Commit(task, [status_event(task)], v1,
                                                stored_history=3))
    stored = await stores.tasks.get(task.id, ctx())
    assert stored is not None and stored.version == v2
    assert [m.message_id for m in stored.task.history] == [m.message_id for m in task.history]


async def test_a_stale_or_terminal_commit_changes_nothing(stores: Stores) -> None:
    task = make_task()
    v1 = await stores.tasks.commit(DEMO, Commit(task, [task], TaskVersion.MISSING))
    task.status.state = WORKING
    v2 = await stores.tasks.commit(DEMO, Commit(task, [status_event(task)], v1,
                                                stored_history=1))
    with pytest.raises(ConcurrentTaskModificationError):  # a second first write
        await stores.tasks.commit(DEMO, Commit(make_task(task.id), [None], TaskVersion.MISSING))
    with pytest.raises(ConcurrentTaskModificationError):  # stale
        await stores.tasks.commit(DEMO, Commit(task, [status_event(task)], v1,
                                               stored_history=1))
    task.status.state = CANCELED
    await save(stores, task, v2)
    task.status.state = COMPLETED
    with pytest.raises(ConcurrentTaskModificationError):  # over a terminal task
        await stores.tasks.commit(DEMO, Commit(task, [status_event(task)], TaskVersion(3),
                                               stored_history=1))
    stored = await stores.tasks.get(task.id, ctx())
    assert stored is not None and stored.task.status.state == CANCELED
    assert stored.version == TaskVersion(3)


async def test_load_hands_over_a_task_that_changed_elsewhere_as_stored(stores: Stores) -> None:
    """A task a run handed back (``keep``) is never served stale: another writer's change
    since then is what the next ``load`` returns."""
    task = make_task(history=1)
    v1 = await stores.tasks.commit(DEMO, Commit(task, [task], TaskVersion.MISSING))
    stores.tasks.keep(DEMO, task, v1)
    other = make_task(task.id, WORKING, history=0)
    other.history.extend(task.history)
    other.history.append(msg("written by another replica"))
    await save(stores, other, v1)
    loaded = await stores.tasks.load(DEMO, task.id)
    assert loaded is not None and loaded.task == other and loaded.version.is_after(v1)


# --- history: appended, trimmed in the store, never altered by reads ----------------------


async def test_history_grows_by_appends_and_reads_in_order(stores: Stores) -> None:
    task = make_task(history=1)
    version = await save(stores, task)
    for i in range(5):
        task.history.append(msg(f"reply {i}", Role.ROLE_AGENT))
        version = await save(stores, task, version)
    stored = await stores.tasks.get(task.id, ctx())
    assert stored is not None
    assert [m.parts[0].text for m in stored.task.history] == [
        "m0", *(f"reply {i}" for i in range(5))]


async def test_a_task_event_may_replace_the_history(stores: Stores) -> None:
    task = make_task(history=4)
    version = await save(stores, task)
    replaced = make_task(task.id, WORKING, history=0)
    replaced.history.append(msg("only"))
    await save(stores, replaced, version)
    stored = await stores.tasks.get(task.id, ctx())
    assert stored is not None and [m.parts[0].text for m in stored.task.history] == ["only"]


async def test_view_trims_history_without_altering_it(stores: Stores) -> None:
    task = make_task(history=30)
    await save(stores, task)
    full = await stores.tasks.get_task_view(DEMO, task.id, None)
    none = await stores.tasks.get_task_view(DEMO, task.id, 0)
    last = await stores.tasks.get_task_view(DEMO, task.id, 3)
    more = await stores.tasks.get_task_view(DEMO, task.id, 100)
    assert full is not None and len(full.history) == 30
    assert none is not None and len(none.history) == 0
    assert last is not None and list(last.history) == list(task.history[-3:])
    assert more is not None and len(more.history) == 30
    stored = await stores.tasks.get(task.id, ctx())
    assert stored is not None and len(stored.task.history) == 30
    assert await stores.tasks.get_task_view(DEMO, "missing", 3) is None


# --- isolation --------------------------------------------------------------------------


async def test_tasks_are_invisible_across_tenants_and_agents(stores: Stores) -> None:
    task = make_task()
    await save(stores, task)
    for scope in (ACME, OTHER_AGENT):
        assert await stores.tasks.get(task.id, ctx(scope)) is None
        assert await stores.tasks.get_task_view(scope, task.id, None) is None
        assert len((await stores.tasks.list(ListTasksRequest(), ctx(scope))).tasks) == 0
    # the same id in another scope is another task
    await save(stores, make_task(task.id, history=0), scope=ACME)
    stored = await stores.tasks.get(task.id, ctx())
    assert stored is not None and len(stored.task.history) == 1


# --- ListTasks ----------------------------------------------------------------------------


async def _seed(stores: Stores) -> list[Task]:
    tasks = [
        make_task(f"t{i}", WORKING if i % 2 else COMPLETED, f"ctx-{i % 3}", ts=1_000 + i)
        for i in range(10)
    ]
    tasks.append(make_task("t-nots", WORKING, "ctx-0"))
    for task in tasks:
        await save(stores, task)
    return tasks


async def test_list_order_filters_and_pages(stores: Stores) -> None:
    await _seed(stores)
    page = await stores.tasks.list(ListTasksRequest(), ctx())
    assert [t.id for t in page.tasks] == [f"t{i}" for i in range(9, -1, -1)] + ["t-nots"]
    assert page.total_size == 11

    by_ctx = await stores.tasks.list(ListTasksRequest(context_id="ctx-0"), ctx())
    assert [t.id for t in by_ctx.tasks] == ["t9", "t6", "t3", "t0", "t-nots"]
    by_state = await stores.tasks.list(ListTasksRequest(status=WORKING), ctx())
    assert [t.id for t in by_state.tasks] == ["t9", "t7", "t5", "t3", "t1", "t-nots"]
    both = await stores.tasks.list(ListTasksRequest(context_id="ctx-0", status=WORKING), ctx())
    assert [t.id for t in both.tasks] == ["t9", "t3", "t-nots"] and both.total_size == 3
    recent = ListTasksRequest()
    recent.status_timestamp_after.FromSeconds(1_007)
    assert [t.id for t in (await stores.tasks.list(recent, ctx())).tasks] == ["t9", "t8", "t7"]

    seen: list[str] = []
    token = ""
    while True:
        page = await stores.tasks.list(ListTasksRequest(page_size=4, page_token=token), ctx())
        seen += [t.id for t in page.tasks]
        assert page.total_size == 11
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"t{i}" for i in range(9, -1, -1)] + ["t-nots"]

    paged = await stores.tasks.list(
        ListTasksRequest(context_id="ctx-0", status=WORKING, page_size=2), ctx())
    rest = await stores.tasks.list(ListTasksRequest(
        context_id="ctx-0", status=WORKING, page_size=2, page_token=paged.next_page_token), ctx())
    assert [t.id for t in paged.tasks] + [t.id for t in rest.tasks] == ["t9", "t3", "t-nots"]


async def test_a_page_token_that_is_not_ours_is_invalid_params(stores: Stores) -> None:
    from a2a.utils.errors import InvalidParamsError

    await _seed(stores)
    with pytest.raises(InvalidParamsError):
        await stores.tasks.list(ListTasksRequest(page_token="bm90LWEtdGFzaw"), ctx())


async def test_list_follows_updates_and_history_length(stores: Stores) -> None:
    tasks = await _seed(stores)
    t1 = tasks[1]
    stored = await stores.tasks.get(t1.id, ctx())
    assert stored is not None
    t1.status.state = COMPLETED
    t1.status.timestamp.FromSeconds(5_000)
    t1.history.extend([msg("a"), msg("b")])
    await save(stores, t1, stored.version)
    page = await stores.tasks.list(ListTasksRequest(history_length=1), ctx())
    # a store may trim to history_length (Redis reads only that much); the SDK trims anyway
    assert page.tasks[0].id == "t1" and page.tasks[0].history[-1].parts[0].text == "b"
    working = await stores.tasks.list(ListTasksRequest(status=WORKING), ctx())
    assert "t1" not in [t.id for t in working.tasks]


async def test_delete(stores: Stores) -> None:
    task = make_task()
    await save(stores, task)
    await stores.tasks.delete(task.id, ctx())
    assert await stores.tasks.get(task.id, ctx()) is None
    assert len((await stores.tasks.list(ListTasksRequest(), ctx())).tasks) == 0
    await save(stores, make_task(task.id))  # the id can be used again


async def test_delete_drops_everything_the_store_keeps_for_the_task(stores: Stores) -> None:
    """A deleted task's event log, push configs, pending notifications and delivery logs go
    with it (Redis: every key of the task)."""
    task = make_task()
    version = await save(stores, task)
    await stores.push_configs.set_info(task.id, TaskPushNotificationConfig(
        id="hook", url="https://example.com/hook"), ctx())
    task.status.state = WORKING
    await save(stores, task, version)  # with a config: a notification is queued
    assert await stores.outbox.pending(DEMO, task.id, 10)
    await stores.outbox.save_log(DEMO, task.id, "hook", b"{}")
    await stores.tasks.delete(task.id, ctx())
    set_current_scope(DEMO)
    assert await stores.events.replay(task.id, after=TaskVersion.MISSING) is None
    assert await stores.push_configs.get_info(task.id, ctx()) == []
    assert await stores.outbox.pending(DEMO, task.id, 10) == []
    assert await stores.outbox.load_log(DEMO, task.id, "hook") is None


async def test_scrub_keeps_status_and_drops_content(stores: Stores) -> None:
    task = make_task(history=3, state=COMPLETED)
    task.status.message.CopyFrom(msg("done", Role.ROLE_AGENT))
    task.artifacts.add(artifact_id="a", parts=[Part(text="secret")])
    await save(stores, task)
    await stores.tasks.scrub(DEMO, task.id)
    view = await stores.tasks.get_task_view(DEMO, task.id, None)
    assert view is not None and view.status.state == COMPLETED
    assert not view.history and not view.artifacts and not view.status.HasField("message")
    set_current_scope(DEMO)
    assert await stores.events.replay(task.id, after=TaskVersion.MISSING) is None  # the log too
    await stores.tasks.scrub(DEMO, "missing")


# --- contexts -----------------------------------------------------------------------------


async def test_context_orders_tasks_and_messages(stores: Stores) -> None:
    contexts = stores.contexts
    assert await contexts.page(DEMO, "c", 10, 0) is None
    await contexts.add_task(DEMO, "c", "t1")
    await contexts.add_message(DEMO, "c", msg("direct"))
    await contexts.add_task(DEMO, "c", "t1")  # idempotent
    await contexts.add_task(DEMO, "c", "t2")
    page = await contexts.page(DEMO, "c", 10, 0)
    assert page is not None and page.total == 3
    assert [i.task_id or i.message.parts[0].text for i in page.items] == ["t1", "direct", "t2"]
    second = await contexts.page(DEMO, "c", 1, 1)
    assert second is not None and second.items[0].message is not None
    assert await contexts.page(ACME, "c", 10, 0) is None
    assert await contexts.scrub(DEMO, "c") == ["t1", "t2"]
    page = await contexts.page(DEMO, "c", 10, 0)
    assert page is not None and [i.task_id for i in page.items] == ["t1", "t2"]
    assert await contexts.scrub(DEMO, "unknown") is None


async def test_saving_a_task_records_it_in_its_context(stores: Stores) -> None:
    task = make_task(context_id="conv")
    version = await save(stores, task)
    task.status.state = WORKING
    await save(stores, task, version)
    page = await stores.contexts.page(DEMO, "conv", 10, 0)
    assert page is not None and [i.task_id for i in page.items] == [task.id]


async def test_a_context_with_only_messages_survives_scrub(stores: Stores) -> None:
    await stores.contexts.add_message(DEMO, "c2", msg("x"))
    assert await stores.contexts.scrub(DEMO, "c2") == []
    page = await stores.contexts.page(DEMO, "c2", 10, 0)
    assert page is not None and page.total == 0


# --- push configs -------------------------------------------------------------------------


async def test_push_configs(stores: Stores) -> None:
    push = stores.push_configs
    config = TaskPushNotificationConfig(url="https://example.com/hook", token="tok")
    stored = await push.set_info("t1", config, ctx())
    assert stored is not None and stored.id == "t1" and stored.task_id == "t1"
    await push.set_info("t1", TaskPushNotificationConfig(id="b", url="https://x/y"), ctx())
    assert sorted(c.id for c in await push.get_info("t1", ctx())) == ["b", "t1"]
    assert await push.get_info("t1", ctx(ACME)) == []
    set_current_scope(DEMO)
    assert len(await push.get_info_for_dispatch("t1")) == 2
    await push.delete_info("t1", ctx(), "b")
    assert [c.id for c in await push.get_info("t1", ctx())] == ["t1"]
    await push.delete_info("t1", ctx())
    assert await push.get_info("t1", ctx()) == []


# --- events ---------------------------------------------------------------------------------


async def test_subscribe_replays_then_follows_in_order(stores: Stores) -> None:
    task = make_task()
    version = await save(stores, task)
    set_current_scope(DEMO)
    seen: list[tuple[int, TaskState]] = []
    done = asyncio.Event()

    async def follow() -> None:
        set_current_scope(DEMO)
        async for versioned in stores.events.subscribe(task.id, after=TaskVersion.MISSING):
            seen.append((len(seen), versioned.event.status.state))
            if versioned.event.status.state == COMPLETED:
                done.set()
                return

    follower = asyncio.create_task(follow())
    for state in (WORKING, TaskState.TASK_STATE_INPUT_REQUIRED, WORKING, COMPLETED):
        task.status.state = state
        version = await save(stores, task, version)
    await asyncio.wait_for(done.wait(), 10)
    await follower
    assert [s for _, s in seen] == [TaskState.TASK_STATE_SUBMITTED, WORKING,
                                    TaskState.TASK_STATE_INPUT_REQUIRED, WORKING, COMPLETED]


async def test_subscribe_after_a_version_skips_what_the_caller_has(stores: Stores) -> None:
    task = make_task()
    v1 = await save(stores, task)
    task.status.state = WORKING
    v2 = await save(stores, task, v1)
    task.status.state = COMPLETED
    await save(stores, task, v2)
    set_current_scope(DEMO)
    stream = stores.events.subscribe(task.id, after=v2)
    first = await asyncio.wait_for(anext(stream), 10)
    await stream.aclose()
    assert first.event.status.state == COMPLETED and first.version.is_after(v2)


async def test_replay_reads_the_log_without_waiting(stores: Stores) -> None:
    task = make_task()
    v1 = await save(stores, task)
    task.status.state = WORKING
    await save(stores, task, v1)
    set_current_scope(DEMO)
    assert [e.version for e in await stores.events.replay(task.id, after=v1) or []] != []
    everything = await stores.events.replay(task.id, after=TaskVersion.MISSING)
    assert everything is not None and len(everything) == 2
    assert await stores.events.replay("never-saved", after=TaskVersion.MISSING) is None


# --- leases -------------------------------------------------------------------------------


async def test_cancel_request_reaches_the_lease_holder(
    stores: Stores, store_kind: str, stores_factory: Callable[..., Stores]
) -> None:
    canceller = stores if store_kind == "memory" else stores_factory(store_kind)
    await canceller.start()
    try:
        received = aiter(stores.leases.cancellations())
        listener = asyncio.ensure_future(anext(received))
        task = make_task("t-running", WORKING)  # committed by a run whose agent goes on
        await stores.tasks.commit(DEMO, Commit(task, [status_event(task)], TaskVersion.MISSING,
                                               lease=LeaseChange.CLAIM))
        await canceller.leases.request_cancel(DEMO, "t-running")
        assert await asyncio.wait_for(listener, 10) == (DEMO, "t-running")
    finally:
        if canceller is not stores:
            await canceller.close()
