"""The task runner: group commits, leases, failures, cancels and turns, on memory and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from a2a.helpers.proto_helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.cluster import ConcurrentTaskModificationError, TaskVersion
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import (
    Message,
    Part,
    Role,
    SendMessageRequest,
    Task,
    TaskState,
)
from a2a.utils.errors import InvalidAgentResponseError, UnsupportedOperationError

from a2a_server.agents.echo import EchoAgentExecutor
from a2a_server.errors import TaskLost
from a2a_server.protocol.streaming import subscribe_events
from a2a_server.runs.run import TaskRun
from a2a_server.runs.runner import TaskRunner
from a2a_server.stores.base import Commit, Stores, set_current_scope
from a2a_server.stores.redis import RedisStores
from tests.agents import ChatExecutor, DirectReplyExecutor
from tests.stores.test_contract import DEMO, ctx, save

COMPLETED = TaskState.TASK_STATE_COMPLETED
WORKING = TaskState.TASK_STATE_WORKING
INPUT_REQUIRED = TaskState.TASK_STATE_INPUT_REQUIRED


def request(text: str, task_id: str = "", context_id: str = "", **config: Any) -> SendMessageRequest:
    params = SendMessageRequest(message=Message(
        message_id=uuid.uuid4().hex, role=Role.ROLE_USER, parts=[Part(text=text)],
        task_id=task_id, context_id=context_id))
    for name, value in config.items():
        setattr(params.configuration, name, value)
    return params


async def start(runner: TaskRunner, params: SendMessageRequest) -> TaskRun:
    """What the request handler does: take the task's turn, start the run."""
    stored, turn = await runner.load(DEMO, params)
    if stored is None:
        params.message.task_id = uuid.uuid4().hex
    run = runner.start(DEMO, ctx(), params, stored, turn, None)
    run.start()
    return run


async def send(runner: TaskRunner, params: SendMessageRequest) -> Task | Message:
    return await (await start(runner, params)).outcome()


class CountingCommits:
    """Wraps a task store's ``commit``: records each commit's steps; can hold them."""

    def __init__(self, stores: Stores) -> None:
        self.steps: list[list[str]] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.landed = asyncio.Event()
        inner = stores.tasks.commit

        async def commit(scope: Any, commit: Commit) -> TaskVersion:
            self.steps.append([type(s).__name__ for s in commit.steps])
            self.entered.set()
            if self.gate is not None:
                await self.gate.wait()
            version = await inner(scope, commit)
            self.landed.set()
            return version

        stores.tasks.commit = commit  # type: ignore[method-assign]


class Gated(AgentExecutor):
    """Creates the task, reports working, waits for ``release``, then finishes as told."""

    def __init__(self, then: str = "complete") -> None:
        self.release = asyncio.Event()
        self.working = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.then = then

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        await event_queue.enqueue_event(new_task_from_user_message(context.message))
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        await updater.start_work()
        self.working.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        if self.then == "raise":
            raise RuntimeError("the agent broke")
        await updater.add_artifact([new_text_part("done")], name="out")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()


@contextlib.asynccontextmanager
async def started(stores_factory: Callable[..., Stores], kind: str) -> AsyncIterator[Stores]:
    """A started backend of ``kind`` (short leases on Redis), the demo scope bound."""
    options = {"replica_id": "replica-a", "lease_seconds": 0.3} if kind != "memory" else {}
    backend = stores_factory(kind, **options)
    await backend.start()
    set_current_scope(DEMO)
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture(params=["memory", "redis", pytest.param("cluster", marks=pytest.mark.cluster)])
async def stores(request: pytest.FixtureRequest,
                 stores_factory: Callable[..., Stores]) -> AsyncIterator[Stores]:
    async with started(stores_factory, request.param) as backend:
        yield backend


async def test_an_agent_that_answers_at_once_costs_one_commit(stores: Stores) -> None:
    commits = CountingCommits(stores)
    result = await send(TaskRunner(EchoAgentExecutor(), stores), request("hello"))
    assert isinstance(result, Task) and result.status.state == COMPLETED
    assert result.artifacts[0].parts[0].text == "echo: hello"
    assert commits.steps == [["Task", "TaskArtifactUpdateEvent", "TaskStatusUpdateEvent"]]
    stored = await stores.tasks.get(result.id, ctx())
    assert stored is not None and stored.version == TaskVersion(3)
    # finished by its first commit: nobody can be subscribed, nothing is logged
    assert await stores.events.replay(result.id, after=TaskVersion.MISSING) is None


async def test_the_events_of_a_task_that_outlives_its_first_commit_are_logged(
    stores: Stores,
) -> None:
    commits = CountingCommits(stores)
    agent = Gated()
    run = await start(TaskRunner(agent, stores), request("hi"))
    await commits.landed.wait()
    agent.release.set()
    await run.outcome()
    await run.finished.wait()
    logged = await stores.events.replay(run.task_id, after=TaskVersion.MISSING)
    assert logged is not None
    assert [(e.version, type(e.event).__name__) for e in logged] == [
        (TaskVersion(1), "Task"), (TaskVersion(2), "TaskStatusUpdateEvent"),
        (TaskVersion(3), "TaskArtifactUpdateEvent"), (TaskVersion(4), "TaskStatusUpdateEvent")]


async def test_events_enqueued_during_a_commit_go_out_in_the_next_one(stores: Stores) -> None:
    commits = CountingCommits(stores)
    commits.gate = asyncio.Event()
    agent = Gated()
    run = await start(TaskRunner(agent, stores), request("hi"))
    await commits.entered.wait()  # the first commit holds the Task and working
    agent.release.set()  # the agent finishes while that commit is in flight
    for _ in range(20):
        await asyncio.sleep(0)
    commits.gate.set()
    result = await run.outcome()
    assert isinstance(result, Task) and result.status.state == COMPLETED
    assert commits.steps == [["Task", "TaskStatusUpdateEvent"],
                             ["TaskArtifactUpdateEvent", "TaskStatusUpdateEvent"]]


@pytest.fixture
async def redis_stores(stores_factory: Callable[..., Stores]) -> AsyncIterator[RedisStores]:
    async with started(stores_factory, "redis") as backend:
        assert isinstance(backend, RedisStores)
        yield backend


async def test_the_lease_is_held_while_the_agent_runs_and_released_by_the_last_commit(
    redis_stores: RedisStores,
) -> None:
    stores = redis_stores
    agent = Gated()
    run = await start(TaskRunner(agent, stores), request("hi"))
    await agent.working.wait()
    lease = stores.redis.keys.task("demo", "echo", run.task_id).lease
    for _ in range(100):  # the commit of working (which claims the lease) lands
        if await stores.client.get(lease) is not None:
            break
        await asyncio.sleep(0.01)
    assert await stores.client.get(lease) == b"replica-a"
    for _ in range(8):  # 2.5 lease lengths: only the run's renewals keep it
        assert await stores.leases.reap_once() == []
        await asyncio.sleep(0.1)
    agent.release.set()
    result = await run.outcome()
    assert isinstance(result, Task) and result.status.state == COMPLETED
    await run.finished.wait()
    assert await stores.client.get(lease) is None
    member = stores.redis.keys.lease_member("demo", "echo", run.task_id)
    assert await stores.client.zscore(stores.redis.keys.leases, member) is None


class Chatty(AgentExecutor):
    """Reports progress every 20 ms until released: never quiet for a whole renewal period."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.working = asyncio.Event()

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        await event_queue.enqueue_event(new_task_from_user_message(context.message))
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        await updater.start_work()
        self.working.set()
        while not self.release.is_set():
            await updater.update_status(WORKING, updater.new_agent_message(
                [new_text_part("still at it")]))
            await asyncio.sleep(0.02)
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        del context, event_queue


async def test_a_busy_agent_still_has_its_lease_renewed(redis_stores: RedisStores) -> None:
    stores = redis_stores
    agent = Chatty()
    run = await start(TaskRunner(agent, stores), request("hi"))
    await agent.working.wait()
    lease = stores.redis.keys.task("demo", "echo", run.task_id).lease
    for _ in range(100):
        if await stores.client.get(lease) is not None:
            break
        await asyncio.sleep(0.01)
    for _ in range(8):  # 2.5 lease lengths of events every 20 ms: the renewals go on anyway
        assert await stores.leases.reap_once() == []
        await asyncio.sleep(0.1)
    agent.release.set()
    result = await run.outcome()
    assert isinstance(result, Task) and result.status.state == COMPLETED


@pytest.fixture(params=["redis", pytest.param("cluster", marks=pytest.mark.cluster)])
async def leased_stores(request: pytest.FixtureRequest,
                        stores_factory: Callable[..., Stores]) -> AsyncIterator[RedisStores]:
    """The stores whose runs hold leases: a single Redis and a Redis Cluster."""
    async with started(stores_factory, request.param) as backend:
        assert isinstance(backend, RedisStores)
        yield backend


async def test_a_quiet_run_whose_task_vanishes_stops_at_its_lease_renewal(
    leased_stores: RedisStores,
) -> None:
    stores = leased_stores
    agent = Gated()  # never released: only the loss can end this run
    run = await start(TaskRunner(agent, stores), request("hi"))
    await agent.working.wait()
    lease = stores.redis.keys.task("demo", "echo", run.task_id).lease
    for _ in range(100):
        if await stores.client.get(lease) is not None:
            break
        await asyncio.sleep(0.01)
    listener = run.listen()
    await stores.client.flushdb()  # a Redis without persistence restarted empty
    with pytest.raises(TaskLost, match="lost task"):
        await asyncio.wait_for(run.outcome(), 10)
    with pytest.raises(TaskLost):
        async for _ in listener:
            pass
    await run.finished.wait()
    assert agent.cancelled.is_set()  # no agent work goes on for a task nobody can read
    assert [k async for k in stores.client.scan_iter(match=f"*{run.task_id}*")] == []


class SlowToAnswer(AgentExecutor):
    """Asks for input; on a follow-up, thinks (until released) before saying anything."""

    def __init__(self) -> None:
        self.thinking = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        if context.current_task is None:
            await event_queue.enqueue_event(new_task_from_user_message(context.message))
            await updater.requires_input()
            return
        self.thinking.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        del context, event_queue


async def test_a_follow_up_whose_task_vanishes_before_its_first_event_stops(
    leased_stores: RedisStores,
) -> None:
    stores = leased_stores
    agent = SlowToAnswer()
    runner = TaskRunner(agent, stores)
    first = await send(runner, request("hi"))
    assert isinstance(first, Task) and first.status.state == INPUT_REQUIRED
    run = await start(runner, request("and then?", task_id=first.id, context_id=first.context_id))
    await agent.thinking.wait()  # nothing committed yet: the run holds no lease
    await stores.client.flushdb()
    with pytest.raises(TaskLost, match="lost task"):
        await asyncio.wait_for(run.outcome(), 10)
    await run.finished.wait()
    assert agent.cancelled.is_set()


async def test_an_agent_that_raises_leaves_the_task_failed_and_the_sender_gets_the_error(
    stores: Stores,
) -> None:
    agent = Gated(then="raise")
    agent.release.set()
    run = await start(TaskRunner(agent, stores), request("hi"))
    with pytest.raises(RuntimeError, match="the agent broke"):
        await run.outcome()
    stored = await stores.tasks.get(run.task_id, ctx())
    assert stored is not None and stored.task.status.state == TaskState.TASK_STATE_FAILED


class StatusFirst(AgentExecutor):
    """Breaks the protocol: a status update before any Task."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        del context, event_queue


async def test_an_agent_that_breaks_the_protocol_gets_the_sdks_error(stores: Stores) -> None:
    run = await start(TaskRunner(StatusFirst(), stores), request("hi"))
    with pytest.raises(InvalidAgentResponseError):
        await run.outcome()
    # nothing existed to fail: a FAILED task holding the user's message is left behind
    stored = await stores.tasks.get(run.task_id, ctx())
    assert stored is not None and stored.task.status.state == TaskState.TASK_STATE_FAILED


async def test_a_direct_message_creates_no_task(stores: Stores) -> None:
    run = await start(TaskRunner(DirectReplyExecutor(), stores), request("hi"))
    result = await run.outcome()
    assert isinstance(result, Message) and result.parts[0].text == "direct: hi"
    assert await stores.tasks.get(run.task_id, ctx()) is None


async def test_a_local_cancel_asks_the_agent_and_closes_the_task(stores: Stores) -> None:
    agent = Gated()
    run = await start(TaskRunner(agent, stores), request("hi"))
    await agent.working.wait()
    task = await run.cancel()
    assert task is not None and task.status.state == TaskState.TASK_STATE_CANCELED
    assert agent.cancelled.is_set()
    result = await run.outcome()
    assert isinstance(result, Task) and result.status.state == TaskState.TASK_STATE_CANCELED
    stored = await stores.tasks.get(run.task_id, ctx())
    assert stored is not None and stored.task.status.state == TaskState.TASK_STATE_CANCELED


async def test_a_cancel_written_by_another_replica_stops_the_run(stores: Stores) -> None:
    agent = Gated()
    runner = TaskRunner(agent, stores)
    run = await start(runner, request("hi"))
    await agent.working.wait()
    stored = None
    for _ in range(100):  # the working status is committed
        stored = await stores.tasks.get(run.task_id, ctx())
        if stored is not None and stored.task.status.state == WORKING:
            break
        await asyncio.sleep(0.01)
    assert stored is not None
    stored.task.status.state = TaskState.TASK_STATE_CANCELED  # the SDK's remote cancel write
    await save(stores, stored.task, stored.version)
    assert runner.stop(DEMO, run.task_id)  # the cancel relay of this replica
    result = await run.outcome()
    assert isinstance(result, Task) and result.status.state == TaskState.TASK_STATE_CANCELED
    assert agent.cancelled.is_set()


async def test_a_concurrent_change_is_rebased_not_lost(stores: Stores) -> None:
    commits = CountingCommits(stores)
    agent = Gated()
    run = await start(TaskRunner(agent, stores), request("hi"))
    await agent.working.wait()
    await commits.landed.wait()  # Task and working are stored
    stored = await stores.tasks.get(run.task_id, ctx())
    assert stored is not None
    stored.task.metadata.update({"touched": "elsewhere"})
    await save(stores, stored.task, stored.version)  # another writer moves the version
    agent.release.set()
    result = await run.outcome()
    assert isinstance(result, Task) and result.status.state == COMPLETED
    final = await stores.tasks.get(run.task_id, ctx())
    assert final is not None and final.task.status.state == COMPLETED
    assert final.task.metadata["touched"] == "elsewhere"
    assert [a.name for a in final.task.artifacts] == ["out"]


async def test_follow_ups_to_one_task_take_turns(stores: Stores) -> None:
    runner = TaskRunner(ChatExecutor(), stores)
    first = await send(runner, request("hello"))
    assert isinstance(first, Task) and first.status.state == INPUT_REQUIRED
    results = await asyncio.gather(*(send(runner, request(f"turn {i}", task_id=first.id))
                                     for i in range(5)))
    assert all(isinstance(r, Task) and r.status.state == INPUT_REQUIRED for r in results)
    stored = await stores.tasks.get(first.id, ctx())
    assert stored is not None
    texts = [m.parts[0].text for m in [*stored.task.history, stored.task.status.message]]
    assert sorted(t for t in texts if t.startswith("turn")) == [f"turn {i}" for i in range(5)]
    assert len(texts) == 2 + 5 * 2  # every message and every reply, none lost
    final = await send(runner, request("bye", task_id=first.id))
    assert isinstance(final, Task) and final.status.state == COMPLETED
    with pytest.raises(UnsupportedOperationError):
        await send(runner, request("too late", task_id=first.id))


async def test_a_follow_up_sees_a_change_made_on_another_replica(stores: Stores) -> None:
    runner = TaskRunner(ChatExecutor(), stores)
    first = await send(runner, request("hello"))
    assert isinstance(first, Task)
    stored = await stores.tasks.get(first.id, ctx())
    assert stored is not None
    stored.task.metadata.update({"from": "replica-b"})
    await save(stores, stored.task, stored.version)
    run = await start(runner, request("again", task_id=first.id))
    assert run.request.current_task is not None
    assert run.request.current_task.metadata["from"] == "replica-b"
    await run.outcome()


async def test_return_immediately_answers_with_the_first_commit(stores: Stores) -> None:
    agent = Gated()
    run = await start(TaskRunner(agent, stores), request("hi", return_immediately=True))
    result = await run.outcome()
    assert isinstance(result, Task) and result.status.state in (
        TaskState.TASK_STATE_SUBMITTED, WORKING)
    agent.release.set()
    await run.finished.wait()
    stored = await stores.tasks.get(run.task_id, ctx())
    assert stored is not None and stored.task.status.state == COMPLETED


class Flood(AgentExecutor):
    """Enqueues many status updates as fast as the queue takes them."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.enqueued = 0

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        await event_queue.enqueue_event(new_task_from_user_message(context.message))
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        for _ in range(self.count):
            await updater.update_status(WORKING)
            self.enqueued += 1
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        del context, event_queue


async def test_an_agent_far_ahead_of_the_store_waits(stores: Stores) -> None:
    commits = CountingCommits(stores)
    commits.gate = asyncio.Event()
    agent = Flood(1000)
    run = await start(TaskRunner(agent, stores), request("hi"))
    await commits.entered.wait()
    for _ in range(50):
        await asyncio.sleep(0)
    assert agent.enqueued < 1000  # held back while nothing could be written
    commits.gate.set()
    result = await run.outcome()
    assert isinstance(result, Task) and result.status.state == COMPLETED
    logged = await stores.events.replay(run.task_id, after=TaskVersion.MISSING)
    assert logged is not None and len(logged) == 1002  # Task, 1000 updates, completed


async def test_a_stream_sees_each_committed_event_with_its_version(stores: Stores) -> None:
    params = request("hello")
    stored, turn = await TaskRunner(EchoAgentExecutor(), stores).load(DEMO, params)
    runner = TaskRunner(EchoAgentExecutor(), stores)
    params.message.task_id = uuid.uuid4().hex
    run = runner.start(DEMO, ctx(), params, stored, turn, None)
    events = run.listen()
    run.start()
    seen = [(v, type(e).__name__) async for v, e in events]
    assert seen == [(TaskVersion(1), "Task"), (TaskVersion(2), "TaskArtifactUpdateEvent"),
                    (TaskVersion(3), "TaskStatusUpdateEvent")]


async def test_a_store_refusal_of_an_unknown_cause_is_an_error_not_a_hang(stores: Stores) -> None:
    async def refuse(scope: Any, commit: Commit) -> TaskVersion:
        raise ConcurrentTaskModificationError(commit.task.id)

    async def missing(scope: Any, task_id: str) -> None:
        return None

    stores.tasks.commit = refuse  # type: ignore[method-assign]
    stores.tasks.load = missing  # type: ignore[method-assign]
    run = await start(TaskRunner(EchoAgentExecutor(), stores), request("hello"))
    with pytest.raises(Exception, match="the task store lost task"):
        await run.outcome()


async def _next(events: AsyncIterator[Any]) -> tuple[TaskVersion, str]:
    version, event = await asyncio.wait_for(anext(events), 5)
    return version, type(event).__name__


async def test_an_artifact_update_reaches_a_stream_while_its_commit_is_in_flight(
    stores: Stores,
) -> None:
    commits = CountingCommits(stores)
    agent = Gated()
    params = request("hi")
    params.message.task_id = uuid.uuid4().hex
    run = TaskRunner(agent, stores).start(DEMO, ctx(), params, None, None, None)
    events = run.listen()
    run.start()
    assert [await _next(events), await _next(events)] == [
        (TaskVersion(1), "Task"), (TaskVersion(2), "TaskStatusUpdateEvent")]
    commits.gate = asyncio.Event()  # the next commit (artifact, completed) is held
    agent.release.set()
    # Sent with the version its commit will give it, before that commit is back...
    assert await _next(events) == (TaskVersion(3), "TaskArtifactUpdateEvent")
    assert commits.steps[-1] == ["TaskArtifactUpdateEvent", "TaskStatusUpdateEvent"]
    stored = await stores.tasks.get(run.task_id, ctx())
    assert stored is not None and stored.version == TaskVersion(2)  # not written yet
    # ...while the final status waits for it.
    held = asyncio.ensure_future(anext(events))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not held.done()
    commits.gate.set()
    version, event = await asyncio.wait_for(held, 5)
    assert (version, type(event).__name__) == (TaskVersion(4), "TaskStatusUpdateEvent")
    # What the stream was sent is what the log holds, version for version.
    logged = await stores.events.replay(run.task_id, after=TaskVersion.MISSING)
    assert logged is not None
    assert [(e.version, type(e.event).__name__) for e in logged] == [
        (TaskVersion(1), "Task"), (TaskVersion(2), "TaskStatusUpdateEvent"),
        (TaskVersion(3), "TaskArtifactUpdateEvent"), (TaskVersion(4), "TaskStatusUpdateEvent")]


async def _update_sent_while_its_commit_is_held(
    stores: Stores,
) -> tuple[Any, AsyncIterator[tuple[TaskVersion, Any]], CountingCommits]:
    """A run whose artifact update (version 3) reached its stream while that commit is held
    (``commits.gate`` releases it)."""
    commits = CountingCommits(stores)
    agent = Gated()
    params = request("hi")
    params.message.task_id = uuid.uuid4().hex
    run = TaskRunner(agent, stores).start(DEMO, ctx(), params, None, None, None)
    events = run.listen()
    run.start()
    await _next(events)
    await _next(events)
    commits.gate = asyncio.Event()
    agent.release.set()
    assert await _next(events) == (TaskVersion(3), "TaskArtifactUpdateEvent")
    return run, events, commits


async def test_an_update_sent_before_a_commit_that_a_cancel_beat_is_followed_by_the_stored_task(
    stores: Stores,
) -> None:
    run, events, commits = await _update_sent_while_its_commit_is_held(stores)
    stored = await stores.tasks.get(run.task_id, ctx())
    assert stored is not None and stored.version == TaskVersion(2)
    stored.task.status.state = TaskState.TASK_STATE_CANCELED  # another replica's cancel
    await save(stores, stored.task, stored.version)  # takes version 3 first
    commits.gate.set()
    version, event = await asyncio.wait_for(anext(events), 5)
    # The stream ends with the task as stored: canceled, without the unstored update.
    assert (version, type(event).__name__) == (TaskVersion(3), "Task")
    assert isinstance(event, Task) and event.status.state == TaskState.TASK_STATE_CANCELED
    assert not event.artifacts
    # A client that lost the connection after the update resumes from its id (3) and
    # still learns the final state.
    resumed = [item async for item in await subscribe_events(
        stores, run.task_id, ctx(), TaskVersion(3))]
    assert [(v, type(e).__name__) for v, e in resumed] == [(TaskVersion(3), "Task")]
    assert resumed[0][1].status.state == TaskState.TASK_STATE_CANCELED  # type: ignore[union-attr]


async def test_a_resume_from_an_update_whose_commit_is_in_flight_skips_it_once_stored(
    stores: Stores,
) -> None:
    run, _events, commits = await _update_sent_while_its_commit_is_held(stores)
    # The client drops here and resumes, on any replica, while version 3 is in flight.
    resumed = await subscribe_events(stores, run.task_id, ctx(), TaskVersion(3))
    commits.gate.set()
    seen = [(v, type(e).__name__) async for v, e in resumed]
    assert seen == [(TaskVersion(4), "TaskStatusUpdateEvent")]  # the update is not repeated


class YieldingStreamer(AgentExecutor):
    """Reports working, then streams an update and finishes one loop turn later."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        await event_queue.enqueue_event(new_task_from_user_message(context.message))
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        await updater.start_work()
        await asyncio.sleep(0.05)  # the first commit is back
        await updater.add_artifact([new_text_part("chunk")], name="out")
        await asyncio.sleep(0)  # while the update is being sent early
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError


async def test_a_status_accepted_while_an_update_is_sent_early_is_committed_after_it(
    stores: Stores,
) -> None:
    params = request("hi")
    params.message.task_id = uuid.uuid4().hex
    run = TaskRunner(YieldingStreamer(), stores).start(DEMO, ctx(), params, None, None, None)
    events = run.listen()
    run.start()
    seen = [(v, type(e).__name__) async for v, e in events]
    assert seen == [(TaskVersion(1), "Task"), (TaskVersion(2), "TaskStatusUpdateEvent"),
                    (TaskVersion(3), "TaskArtifactUpdateEvent"),
                    (TaskVersion(4), "TaskStatusUpdateEvent")]
    stored = await stores.tasks.get(run.task_id, ctx())
    assert stored is not None and stored.version == TaskVersion(4)
    assert stored.task.status.state == COMPLETED
