"""One request's execution of an agent on one task, with its events committed in groups.

The agent's ``execute()`` gets a ``RunQueue``. Each event it enqueues is checked
and applied to the run's task at once (``accept``), and kept as a step; a
driver coroutine commits the steps accepted so far in ONE store write (one
round trip on Redis), and while that write is in flight the agent goes on and
the next steps gather for the next write: group commit. An agent that
enqueues its whole answer without waiting on anything (the echo agent) costs
one write per request. Only committed events are shown to anyone -- the
sender's result, streams, push notifications (queued by the store with the commit) --
with one exception: artifact updates at the head of a commit are sent to this replica's
streams when the write starts, tagged with the version it gives them (``_show_early``;
docs/architecture.md, "Artifact updates before their commit", argues why that is safe).

The lease (which replica runs the task) is claimed by the commit that leaves
the agent running, renewed every ``renew_every`` while it runs (however often the
agent enqueues), and released by the last commit. A renewal that finds the task
gone from the store (``TaskLost``) stops the run at once: the agent is cancelled
and the sender's stream ends with the error. A follow-up holds no lease before its
first commit; its stored task is checked at the same pace instead.

Errors are the SDK's: an agent that breaks the protocol gets the SDK's
``InvalidAgentResponseError``; an agent that raises leaves its task FAILED and
the sender gets the error; a task that another writer moved to a terminal
state (a cancel on another replica) ends the run with that state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.agent_execution.active_task import (
    INTERRUPTED_TASK_STATES,
    TERMINAL_TASK_STATES,
)
from a2a.server.cluster import ConcurrentTaskModificationError, StoredTask, TaskVersion
from a2a.server.events import Event, EventQueue
from a2a.types.a2a_pb2 import (
    Message,
    Task,
    TaskArtifactUpdateEvent,
    TaskPushNotificationConfig,
    TaskState,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import InternalError, InvalidAgentResponseError, InvalidParamsError

from a2a_server.errors import StoreUnavailable, TaskLost
from a2a_server.runs import apply
from a2a_server.stores.base import Commit, LeaseChange, Scope, Stores

logger = logging.getLogger(__name__)

_MAX_BACKLOG = 256  # steps an agent may get ahead of the store before enqueue_event waits
_CONFLICT_RETRIES = 3

Tagged = tuple[TaskVersion | None, Event]


async def let_commit_start() -> None:
    """Let the run's driver start the commit of what its agent has enqueued, then go on.

    For an agent about to start slow outbound work (a provider call): the driver, woken by
    the enqueue, otherwise runs only when the agent first waits, somewhere inside the HTTP
    client, and the commit of a new task's Task and ``working`` -- and, once it is back, the
    stream's start -- then contend with the provider's answer for the event loop. With a
    provider that answers at once, its first token waited for them (docs/performance.md,
    "LLM streaming"). One turn of the event loop: the driver builds the commit and hands it
    to the store before the agent prepares its request. Only an ordering hint: nothing
    depends on it.
    """
    await asyncio.sleep(0)


class RunQueue(EventQueue):
    """The queue an agent enqueues into: events are applied at once, committed in groups."""

    def __init__(self, run: TaskRun) -> None:
        self._run: TaskRun | None = run
        self._task_id = run.task_id
        self._closed = False

    async def enqueue_event(self, event: Event) -> None:
        """Apply ``event`` to the task; wait only if the store is far behind."""
        run = self._run
        if self._closed or run is None:
            logger.warning("task %s: event after the run ended, dropped", self._task_id)
            return
        run.accept(event)
        await run.backpressure()

    def detach(self) -> None:
        """The run is over: later events are dropped (and the run can be freed at once)."""
        self._run = None

    async def close(self, immediate: bool = False) -> None:
        """Refuse further events (for agents written against the legacy queue)."""
        del immediate
        self._closed = True

    def is_closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed


class TaskRun:
    """The execution of one request: the agent, its task, and the commits of its events."""

    def __init__(
        self,
        *,
        scope: Scope,
        stores: Stores,
        executor: AgentExecutor,
        request: RequestContext,
        stored: StoredTask | None,
        push_config: TaskPushNotificationConfig | None,
        history_length: int | None,
        return_immediately: bool,
        on_finished: Callable[[TaskRun], None],
    ) -> None:
        self.scope = scope
        self.task_id: str = request.task_id or ""
        self.context_id: str = request.context_id or ""
        self.request = request
        self.queue = RunQueue(self)
        self._stores = stores
        self._executor = executor
        # A new task's inline push config: written by the first commit (the same store write).
        self._push_config = push_config
        self._history_length = history_length
        self._return_immediately = return_immediately
        self._on_finished = on_finished
        message = request.message
        assert message is not None  # a send always carries one
        self._message = message
        # The task as the agent's events left it (committed or not), and what is committed.
        self.task: Task | None = stored.task if stored is not None else None
        self.version = stored.version if stored is not None else TaskVersion.MISSING
        self._stored_history = len(self.task.history) if self.task is not None else 0
        # A follow-up's message joins the history with the agent's first change (as the SDK).
        self._message_pending = stored is not None
        self._message_committed = stored is None  # a new task's message is the agent's to save
        self._task_mode: bool | None = True if stored is not None else None
        self._steps: list[Event | None] = []  # accepted, not committed yet
        self.reply: Message | None = None
        self.error: BaseException | None = None
        self.result: Task | None = None  # what the sender is answered with, once committed
        self._producer: asyncio.Task[None] | None = None
        self._driver: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._settled = asyncio.Event()  # a result, a reply, an error, or the end
        self.finished = asyncio.Event()
        self._listeners: list[asyncio.Queue[Tagged | None]] = []
        # Steps sent to the listeners before their commit came back (id -> the step).
        self._shown: dict[int, Event] = {}
        self._lease_held = False
        self._renew_at: float | None = None  # loop time of the next lease renewal
        self._watch_stored = stored is not None  # a follow-up: its task must stay stored
        self._lease_released = False
        self._cancelling = False  # a local cancel: the server closes the task as CANCELED
        self._stopped = False  # another writer ended the task: write nothing more
        self._shutdown = False  # the server is stopping: leave the lease to lapse

    # -- the agent's side -----------------------------------------------------------------

    def accept(self, event: Event) -> None:
        """Check ``event`` against the protocol, apply it to the task, keep it as a step.

        Raises nothing into the agent: a protocol violation fails the run (the SDK's
        consumer does the same) and later events are dropped.
        """
        if self.error is not None or self._stopped:
            return
        try:
            self._apply(event)
        except Exception as exc:  # noqa: BLE001 - the agent broke the protocol: fail the run
            logger.warning("task %s: agent event refused: %s", self.task_id, exc)
            self.error = exc
            self._cancel_producer()
        self._wake.set()

    def _apply(self, event: Event) -> None:
        if isinstance(event, Message):
            self._accept_message(event)
            return
        if not isinstance(event, Task | TaskStatusUpdateEvent | TaskArtifactUpdateEvent):
            raise InvalidAgentResponseError(f"unsupported event type {type(event).__name__}")
        if self._task_mode is False:
            raise InvalidAgentResponseError(
                f"Received {type(event).__name__} in message mode. Use Task with "
                "TaskStatusUpdateEvent and TaskArtifactUpdateEvent instead.")
        self._task_mode = True
        event_task = event.id if isinstance(event, Task) else event.task_id
        if event_task != self.task_id:
            raise InvalidParamsError(
                message=f"Task in event doesn't match the request's task {self.task_id} : "
                        f"{event_task}")
        if event.context_id != self.context_id:
            raise InvalidParamsError(
                message=f"Context in event doesn't match the request's context "
                        f"{self.context_id} : {event.context_id}")
        if self.task is not None and self.task.status.state in TERMINAL_TASK_STATES:
            raise InvalidAgentResponseError(
                f"{type(event).__name__} after the task reached "
                f"{TaskState.Name(self.task.status.state)}")
        if isinstance(event, Task):
            if self.task is not None:
                logger.error("task %s already exists; ignoring the agent's Task event",
                             self.task_id)
                return
            self.task = Task()
            self.task.CopyFrom(event)  # the event itself may reach a stream: keep it intact
            self._steps.append(event)
            return
        if self.task is None:
            if isinstance(event, TaskStatusUpdateEvent):
                raise InvalidAgentResponseError(
                    "Agent should enqueue Task before TaskStatusUpdateEvent event")
            self.task = apply.new_task(self.task_id, self.context_id, self._message)
            self._steps.append(None)  # the task the SDK would have created for the artifact
        if self._message_pending:
            apply.append_message(self.task, self._message)
            self._message_pending = False
        if isinstance(event, TaskStatusUpdateEvent):
            apply.apply_status(self.task, event)
        else:
            apply.apply_artifact(self.task, event)
        self._steps.append(event)

    def _accept_message(self, message: Message) -> None:
        if self._task_mode is True:
            raise InvalidAgentResponseError(
                "Received Message object in task mode. Use TaskStatusUpdateEvent or "
                "TaskArtifactUpdateEvent instead.")
        if self.reply is not None:
            raise InvalidAgentResponseError("Multiple Message objects received.")
        self._task_mode = False
        self.reply = message
        for listener in self._listeners:
            listener.put_nowait((None, message))

    async def backpressure(self) -> None:
        """Hold an agent that is far ahead of the store."""
        if len(self._steps) >= _MAX_BACKLOG:
            self._drained.clear()
            await self._drained.wait()

    # -- driving -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the agent and the driver that commits its events."""
        self._schedule_renewal()  # a follow-up's first check (a new task has nothing stored)
        self._producer = asyncio.create_task(self._execute(), name=f"agent:{self.task_id}")
        self._producer.add_done_callback(lambda _: self._wake.set())
        self._driver = asyncio.create_task(self._drive(), name=f"run:{self.task_id}")

    async def _execute(self) -> None:
        await self._executor.execute(self.request, self.queue)

    def _cancel_producer(self) -> None:
        if self._producer is not None and not self._producer.done():
            self._producer.cancel()

    async def _drive(self) -> None:
        try:
            while True:
                if self._renewal_due():
                    await self._renew()
                if self._steps and not self._stopped:
                    await self._commit_steps()
                    continue
                assert self._producer is not None
                if self._producer.done():
                    break
                await self._wait()
            await self._settle()
        except TaskLost as exc:  # the store lost the task: nobody can read what we would write
            self._lease_held = False  # it went with the task
            self._fail(exc)
        except StoreUnavailable as exc:
            self._fail(exc)
        except InternalError as exc:  # ours, with a message meant for the client
            logger.warning("task %s: %s", self.task_id, exc.message)
            self._fail(exc)
        except Exception:  # a bug: logged here, the client gets no internals
            logger.exception("task %s: run failed", self.task_id)
            self._fail(InternalError(message=f"task {self.task_id}: the run failed"))
        finally:
            await self._finish()

    async def _wait(self) -> None:
        """Until the agent enqueues or ends, or the lease is due for renewal."""
        self._wake.clear()
        if self._renew_at is None:
            await self._wake.wait()
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(self._renew_at):
                await self._wake.wait()

    def _renewal_due(self) -> bool:
        return self._renew_at is not None and asyncio.get_running_loop().time() >= self._renew_at

    def _schedule_renewal(self) -> None:
        """The lease is renewed every ``renew_every`` from now on, however busy the agent is.

        A follow-up holds no lease until its first commit, but its task is stored: it is
        checked at the same pace, so a run whose agent is slow to say anything also learns
        that the store lost its task.
        """
        every = self._stores.leases.renew_every
        beats = self._lease_held or (self._watch_stored and not self._lease_released)
        self._renew_at = (asyncio.get_running_loop().time() + every
                          if beats and every is not None else None)

    async def _renew(self) -> None:
        """Renew the lease (or check a follow-up's stored task); this is also how a quiet
        run learns that the store lost its task.

        Raises:
            TaskLost: the task is gone from the store.
        """
        self._schedule_renewal()
        try:
            if self._lease_held:
                await self._stores.leases.renew(self.scope, self.task_id)
            elif await self._stores.tasks.get_task_view_bytes(self.scope, self.task_id,
                                                              0) is None:
                raise TaskLost(self.task_id)
        except TaskLost:
            logger.warning("task %s vanished from the store during its run; run stopped",
                           self.task_id)
            raise
        except StoreUnavailable:
            pass  # keep running; retry at the next beat

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self._cancel_producer()

    async def _commit_steps(self, lease: LeaseChange | None = None) -> None:
        """Commit every accepted step; on a conflict, rebase onto the stored task."""
        for _ in range(_CONFLICT_RETRIES):
            try:
                await self._commit_once(lease)
                return
            except ConcurrentTaskModificationError:
                if not await self._rebase():
                    return
        raise InternalError(message=f"task {self.task_id} kept changing under this run")

    async def _commit_once(self, lease: LeaseChange | None) -> None:
        if self._show_early(self._steps):
            # Not for correctness (the listeners' queues keep the order; the runs tests pass
            # without it): one loop turn so that the streams write the early updates before
            # this write is built (serialized, and on the memory store run to its end with
            # no suspension) -- the point of showing them early. What the agent adds
            # meanwhile joins this commit, after them (their versions stay). Without it the
            # first token through the server was 3.96 ms p50 against 3.34 on Redis
            # (docs/performance.md, "LLM streaming: the loop turn before a commit").
            await asyncio.sleep(0)
        task = self.task
        assert task is not None
        steps, self._steps = self._steps, []
        state = task.status.state
        done = self._producer is not None and self._producer.done()
        if lease is None:
            lease = self._lease_change(state, done)
        history = len(task.history)
        with_message = not self._message_pending
        answer = self._answer(task, state, done)
        # A task its first commit finishes has no log reader: nobody knew its id before. Its
        # events still go to the outbox when it has push configs (an inline one: this commit).
        log = not (self.version.is_missing and state in TERMINAL_TASK_STATES)
        try:
            version = await self._stores.tasks.commit(self.scope, Commit(
                task, steps, self.version, self._stored_history, lease, log,
                self._push_config))
        except BaseException:
            self._steps[:0] = steps  # not written: they are still to be committed
            raise
        self.version = version
        self._push_config = None  # stored
        self._stored_history = history
        self._message_committed = self._message_committed or with_message
        if lease is LeaseChange.CLAIM:
            self._lease_held = True
            self._schedule_renewal()
        elif lease is LeaseChange.RELEASE:
            self._lease_held, self._lease_released = False, True
            self._schedule_renewal()
        if answer is not None and self.result is None:
            self.result = answer
            self._settled.set()
        if not self._steps:
            self._drained.set()
        self._publish(steps, version)

    def _lease_change(self, state: int, done: bool) -> LeaseChange:
        ends = done or state in TERMINAL_TASK_STATES
        if self._lease_held:
            return LeaseChange.RELEASE if ends else LeaseChange.KEEP
        return LeaseChange.KEEP if ends else LeaseChange.CLAIM

    def _answer(self, task: Task, state: int, done: bool) -> Task | None:
        """The sender's result, if this commit settles it (built before the write)."""
        if self.result is not None:
            return None
        final = state in TERMINAL_TASK_STATES or state in INTERRUPTED_TASK_STATES
        if final and state == TaskState.TASK_STATE_FAILED and not done:
            final = False  # a FAILED task may still be followed by the agent's error
        if not (final or self._return_immediately):
            return None
        return apply.view(task, self._history_length)

    async def _rebase(self) -> bool:
        """Another writer moved the task: reapply the uncommitted steps on what is stored.

        Returns False if the task is now terminal (the run stops with the stored state).
        """
        stored = await self._stores.tasks.load(self.scope, self.task_id)
        if stored is None:
            logger.warning("task %s vanished from the store during its run; run stopped",
                           self.task_id)
            raise TaskLost(self.task_id)
        self.version = stored.version
        self._stored_history = len(stored.task.history)
        if stored.task.status.state in TERMINAL_TASK_STATES:
            self._stop_with(stored.task)
            return False
        pending = [s for s in self._steps if s is not None]
        self.task, self._steps = stored.task, []
        self._message_pending = not self._message_committed
        for event in pending:
            self._apply(event)
        return True

    def _stop_with(self, task: Task) -> None:
        """The task ended elsewhere: show its final state, stop the agent, write nothing."""
        logger.info("task %s was %s by another writer; run stopped", self.task_id,
                    TaskState.Name(task.status.state))
        self.task = task
        self._steps = []
        self._shown.clear()  # never committed: the stored task below stands for them
        self._stopped = True
        self._cancel_producer()
        if self.result is None:
            self.result = apply.view(task, self._history_length)
            self._settled.set()
        self._publish([task], self.version)

    async def _adopt_stored(self) -> None:
        """Learn the task's state from the store (after being stopped from elsewhere)."""
        stored = await self._stores.tasks.load(self.scope, self.task_id)
        if stored is not None and stored.task.status.state in TERMINAL_TASK_STATES:
            self.version = stored.version
            self._stop_with(stored.task)

    async def _settle(self) -> None:
        """The agent has ended and its steps are committed: close the task as it must be."""
        assert self._producer is not None
        failure = None if self._producer.cancelled() else self._producer.exception()
        if self._shutdown:
            return  # the lease is left to lapse: another replica's reaper judges the task
        if self._stopped:
            await self._release_lease()  # it ended elsewhere: nothing more will be written
            return
        if self._producer.cancelled() and not self._cancelling and self.error is None:
            await self._adopt_stored()  # stopped by a cancel on another replica
            if self._stopped:
                await self._release_lease()
                return
        if failure is not None and self.error is None:
            logger.error("task %s: agent failed", self.task_id, exc_info=failure)
            self.error = failure
        if self.reply is None:
            self._close_task()
        if self._steps:
            await self._commit_steps(LeaseChange.RELEASE if self._lease_held else None)
        await self._release_lease()

    async def _release_lease(self) -> None:
        if self._lease_held:
            with contextlib.suppress(StoreUnavailable):
                await self._stores.leases.release(self.scope, self.task_id)
            self._lease_held, self._lease_released = False, True
            self._schedule_renewal()

    def _close_task(self) -> None:
        """A failed run leaves its task FAILED, a cancelled one CANCELED (as the SDK does)."""
        if self.error is not None:
            closing = TaskState.TASK_STATE_FAILED
        elif self._cancelling:
            closing = TaskState.TASK_STATE_CANCELED
        else:
            return
        if self.task is None:
            if self.error is None:
                return  # cancelled before the agent created anything
            self.task = apply.new_task(self.task_id, self.context_id, self._message)
            self.task.status.state = closing
            self._steps.append(None)
        elif self.task.status.state not in TERMINAL_TASK_STATES:
            if self._message_pending:
                apply.append_message(self.task, self._message)
                self._message_pending = False
            event = apply.status_event(self.task, closing)
            apply.apply_status(self.task, event)
            self._steps.append(event)

    async def _finish(self) -> None:
        self._cancel_producer()
        if self._producer is not None:
            with contextlib.suppress(BaseException):
                await self._producer
        if self.result is None and self.task is not None and self.error is None:
            self.result = apply.view(self.task, self._history_length)
        if self.error is None and self.task is not None and not self._steps:
            self._stores.tasks.keep(self.scope, self.task, self.version)
        for listener in self._listeners:
            listener.put_nowait(None)
        self._drained.set()
        self._settled.set()
        self.finished.set()
        self.queue.detach()
        self._on_finished(self)

    # -- what others see ------------------------------------------------------------------

    def _show_early(self, steps: list[Event | None]) -> bool:
        """Send the artifact updates that open this commit to the listeners now.

        Each is tagged with the version this commit gives it (the version moves by one per
        step), so a stream's ids stay in order and mean the same as the log's. Only a
        leading run of artifact updates: anything after a status (or the task's creation)
        waits for the commit, so a listener never sees an event before one accepted ahead
        of it. Steps shown by an attempt that was refused are not shown again (``_rebase``).
        """
        if not self._listeners:
            return False
        shown = False
        base = int(self.version._value)
        for offset, step in enumerate(steps, start=1):
            if id(step) in self._shown:
                continue
            if not isinstance(step, TaskArtifactUpdateEvent):
                break
            shown = True
            self._shown[id(step)] = step
            tagged = (TaskVersion(base + offset), step)
            for listener in self._listeners:
                listener.put_nowait(tagged)
        return shown

    def _publish(self, steps: list[Event | None] | list[Task], version: TaskVersion) -> None:
        base = int(version._value) - len(steps)
        for offset, step in enumerate(steps, start=1):
            if step is None or self._shown.pop(id(step), None) is not None:
                continue
            tagged = (TaskVersion(base + offset), step)
            for listener in self._listeners:
                listener.put_nowait(tagged)

    def listen(self) -> AsyncIterator[Tagged]:
        """Every event committed from now on, with its version, until the run ends.

        Call before ``start`` to see every event of the run.
        """
        queue: asyncio.Queue[Tagged | None] = asyncio.Queue()
        self._listeners.append(queue)
        return self._drain(queue)

    async def _drain(self, queue: asyncio.Queue[Tagged | None]) -> AsyncIterator[Tagged]:
        try:
            while (item := await queue.get()) is not None:
                yield item
            if self.error is not None:
                raise self.error
        finally:
            if queue in self._listeners:
                self._listeners.remove(queue)

    async def outcome(self) -> Task | Message:
        """What a blocking send answers: the settling task, the agent's Message, or its error.

        Raises:
            Exception: the agent's error, or the store's.
        """
        await self._settled.wait()
        if self.result is not None and not (
            self.error is not None and self.result.status.state == TaskState.TASK_STATE_FAILED
        ):
            return self.result
        if self.reply is not None or self.error is not None:
            await self.finished.wait()
        if self.error is not None:
            raise self.error
        if self.reply is not None:
            return self.reply
        await self.finished.wait()
        if self.result is None:
            raise InternalError(message=f"task {self.task_id}: the agent produced nothing")
        return self.result

    # -- control -----------------------------------------------------------------------

    async def cancel(self) -> Task | None:
        """A local cancel: ask the agent to stop, stop it, close the task as CANCELED."""
        self._cancelling = True
        if self._producer is not None and not self._producer.done():
            try:
                await self._executor.cancel(self.request, self.queue)
            except Exception:
                logger.exception("task %s: agent cancel failed", self.task_id)
            finally:
                self._cancel_producer()
        await self.finished.wait()
        return self.task

    def stop(self) -> None:
        """Another replica cancelled the task: stop the agent; the store holds the outcome."""
        self._cancel_producer()

    async def aclose(self) -> None:
        """Shutdown: stop the agent and wait for the run to end (its lease is left to lapse,
        so another replica's reaper fails a task that was cut short)."""
        self._shutdown = True
        self._cancel_producer()
        if self._driver is not None:
            with contextlib.suppress(BaseException):
                await self._driver
