"""The embedded default: every store in process memory (one replica, nothing durable).

Bounded like the Redis store is by its TTLs: a finished task (completed, failed,
canceled, rejected) is dropped once its tenant's ``retention_seconds`` have passed since
it finished, and beyond ``max_finished`` finished tasks the oldest finished goes first.
A running, input-required or auth-required task is never dropped. A dropped task takes
its history, event log, push configs and its entry in its context with it; a context
whose last task went goes too (with its direct messages). Contexts that only ever held
direct messages are bounded the same way (``InMemoryContextStore``). A finished task's
event log goes earlier, ``finished_events_seconds`` after it finished (as on Redis): it is
kept only for ``Last-Event-ID`` resumes, and repeats what the task holds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import OrderedDict, defaultdict
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import NamedTuple

from a2a.server.cluster import (
    ConcurrentTaskModificationError,
    StoredTask,
    TaskVersion,
    VersionedEvent,
)
from a2a.server.context import ServerCallContext
from a2a.server.events.event_queue import Event
from a2a.server.tasks import InMemoryPushNotificationConfigStore, InMemoryTaskStore
from a2a.types.a2a_pb2 import (
    ListTasksRequest,
    ListTasksResponse,
    Message,
    Task,
    TaskPushNotificationConfig,
    TaskState,
)

from a2a_server.stores._gc import untracked
from a2a_server.stores._wire import frame, head_of
from a2a_server.stores.agents import InMemoryAgentStore
from a2a_server.stores.base import (
    SCOPE_KEY,
    TERMINAL_STATES,
    Commit,
    ContextItem,
    ContextPage,
    ContextStore,
    EventLog,
    LeaseManager,
    Scope,
    ScopedTaskStore,
    Stores,
    current_scope,
    scope_of,
)
from a2a_server.stores.memory_outbox import InMemoryOutbox
from a2a_server.stores.usage import InMemoryUsageCounters

_MAX_EVENTS_PER_TASK = 10_000


def _owner(context: ServerCallContext) -> str:
    return scope_of(context).owner


_LIVE_MAX = 1_024  # task objects handed back by finished runs (for the next run of each)
MAX_FINISHED_TASKS = 10_000  # default cap on finished tasks kept (memory_max_finished_tasks)
FINISHED_EVENTS_SECONDS = 300.0  # a finished task's event log (finished_events_seconds' default)

_Key = tuple[str, str]
TenantTtl = Callable[[str], "int | None"]


class _Finished(NamedTuple):
    """A finished task as the bounds see it: whose, in which context, finished when.

    Atomic values, untracked by the garbage collector (``_gc``): up to ``max_finished``
    are kept, and the collector would otherwise walk each (and its ``Scope``).
    """

    tenant: str
    agent: str
    context_id: str
    at: float


class InMemoryScopedTaskStore(ScopedTaskStore):
    """Tasks kept as the Redis store keeps them: a head and the framed history (``_wire``).

    The heads sit in the SDK's ``InMemoryTaskStore`` (its ListTasks filters, order and
    page tokens); the messages, serialized once each, in a list per task. A commit
    serializes only the new messages, a view joins the ones it returns, and a run that
    ends hands its task object back (``keep``) for the next run of that task to take
    instead of a copy: like on Redis, a follow-up costs the same with 10 or 10,000
    messages in the task.
    """

    def __init__(self, contexts: InMemoryContextStore, events: InMemoryEventStream | None = None,
                 push_configs: InMemoryPushConfigStore | None = None,
                 outbox: InMemoryOutbox | None = None, *,
                 tenant_ttl: TenantTtl = lambda _tenant: None,
                 max_finished: int = MAX_FINISHED_TASKS,
                 finished_events_seconds: float = FINISHED_EVENTS_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Tasks in memory, bounded (see the module docstring).

        Args:
            contexts: the context store dropped tasks are removed from.
            events: the event logs (dropped with their task).
            push_configs: the push configs (dropped with their task).
            outbox: the push outbox (written by saves; a dropped task's pending
                notifications go with it).
            tenant_ttl: a tenant's ``retention_seconds`` (None: keep until the cap).
            max_finished: finished tasks kept at most, oldest finished dropped first.
            finished_events_seconds: how long a finished task's event log is kept (0: as
                long as the task).
            clock: seconds, monotonic (retention is measured with it).
        """
        if max_finished < 1:
            raise ValueError("max_finished must be at least 1")
        if finished_events_seconds < 0:
            raise ValueError("finished_events_seconds must not be negative")
        self._outbox = outbox
        self._heads = InMemoryTaskStore(owner_resolver=_owner, use_copying=False)
        # Tuples: of bytes only, the garbage collector stops tracking them (lists it would not).
        self._history: dict[_Key, tuple[bytes, ...]] = {}
        self._versions: dict[_Key, int] = {}
        self._live: OrderedDict[_Key, tuple[int, Task]] = OrderedDict()
        self._events = events
        self._contexts = contexts
        self._push_configs = push_configs
        self._tenant_ttl = tenant_ttl
        self._max_finished = max_finished
        self._clock = clock
        self._finished: OrderedDict[_Key, _Finished] = OrderedDict()  # in the order they finished
        self._deadlines: list[tuple[float, float, _Key]] = []  # (drop at, finished at, key), heap
        self._finished_events = finished_events_seconds
        self._log_deadlines: list[tuple[float, float, _Key]] = []  # the same, for event logs

    @property
    def finished_count(self) -> int:
        """Finished tasks held now."""
        return len(self._finished)

    def _context(self, scope: Scope) -> ServerCallContext:
        return ServerCallContext(state={SCOPE_KEY: scope})

    async def _write(self, scope: Scope, head: Task, history: tuple[bytes, ...], version: int,
                     new: bool) -> None:
        key = (scope.owner, head.id)
        self._versions[key] = version
        self._history[key] = history
        self._live.pop(key, None)  # a run holds it, or it changed: nobody may take the old one
        await self._heads.save(head, self._context(scope))
        if new:
            await self._contexts.add_task(scope, head.context_id, head.id)
        if head.status.state in TERMINAL_STATES and key not in self._finished:
            await self._finish(scope, key, head.context_id)

    async def _finish(self, scope: Scope, key: _Key, context_id: str) -> None:
        """Count a task that just finished against the bounds, then apply them."""
        now = self._clock()
        self._finished[key] = untracked(_Finished(scope.tenant, scope.agent, context_id, now))
        ttl = self._tenant_ttl(scope.tenant)
        if ttl:
            heapq.heappush(self._deadlines, (now + ttl, now, key))
        if self._events is not None and self._finished_events and (
                not ttl or ttl > self._finished_events):
            heapq.heappush(self._log_deadlines, (now + self._finished_events, now, key))
        while len(self._finished) > self._max_finished:
            oldest = next(iter(self._finished))
            await self._drop(oldest)
        await self._expire()

    async def _expire(self) -> None:
        """Drop the finished tasks whose tenant's retention has passed, and the event logs
        of those finished ``finished_events_seconds`` ago."""
        now = self._clock()
        for key, _ in self._due(self._deadlines, now):
            await self._drop(key)
        for key, entry in self._due(self._log_deadlines, now):
            if self._events is not None:
                self._events.forget(Scope(entry.tenant, entry.agent), key[1])

    def _due(self, deadlines: list[tuple[float, float, _Key]], now: float
             ) -> Iterator[tuple[_Key, _Finished]]:
        """Pop the deadlines passed by ``now``; each task still finished as it was then
        (not dropped or re-created since), with its entry."""
        while deadlines and deadlines[0][0] <= now:
            _, finished_at, key = heapq.heappop(deadlines)
            entry = self._finished.get(key)
            if entry is not None and entry.at == finished_at:
                yield key, entry

    async def _drop(self, key: _Key) -> None:
        """Remove a finished task with everything that hangs off it."""
        entry = self._finished.pop(key)
        await self._remove(Scope(entry.tenant, entry.agent), key[1], entry.context_id)

    async def _remove(self, scope: Scope, task_id: str, context_id: str | None) -> None:
        """The task, its history and version, event log, push configs, queued notifications
        and delivery logs, and its place in its context."""
        key = (scope.owner, task_id)
        await self._heads.delete(task_id, self._context(scope))
        for table in (self._versions, self._history, self._live, self._finished):
            table.pop(key, None)
        if self._events is not None:
            self._events.forget(scope, task_id)
        if self._push_configs is not None:
            self._push_configs.forget(scope, task_id)
        if self._outbox is not None:
            self._outbox.forget(scope, task_id)
        if context_id is not None:
            self._contexts.remove_task(scope, context_id, task_id)

    async def _current(self, scope: Scope, task_id: str) -> tuple[Task | None, int]:
        await self._expire()
        head = await self._heads.get(task_id, self._context(scope))
        return head, self._versions.get((scope.owner, task_id), 0)

    async def save(
        self,
        task: Task,
        *,
        event: Event | None,
        prev: Task | None,
        prev_version: TaskVersion,
        context: ServerCallContext,
    ) -> TaskVersion:
        """Compare-and-set; CANCELED overwrites any non-terminal task (the whole task is written:
        the SDK's own writes, a cancel or the reaper's FAILED, are rare)."""
        del prev
        scope = scope_of(context)
        head, history = head_of(task), tuple(frame(m.SerializeToString()) for m in task.history)
        stored, current = await self._current(scope, task.id)
        if stored is not None and stored.status.state in TERMINAL_STATES:
            raise ConcurrentTaskModificationError(task.id)
        if task.status.state == TaskState.TASK_STATE_CANCELED:
            if stored is None:
                raise ConcurrentTaskModificationError(task.id)
        elif current != (0 if prev_version.is_missing else prev_version._value):
            raise ConcurrentTaskModificationError(task.id)
        await self._write(scope, head, history, current + 1, stored is None)
        if self._outbox is not None and event is not None:
            self._outbox.enqueue(scope, task.id, current, [event])
        return TaskVersion(current + 1)

    async def commit(self, scope: Scope, commit: Commit) -> TaskVersion:
        """Compare-and-set, append the new messages, then log each step's event."""
        task = commit.task  # serialized before any await: the run goes on changing it
        head = head_of(task)
        added = [frame(m.SerializeToString()) for m in task.history[commit.stored_history:]]
        steps = list(commit.steps)
        stored, current = await self._current(scope, task.id)
        expected = 0 if commit.prev_version.is_missing else commit.prev_version._value
        if (stored is not None and stored.status.state in TERMINAL_STATES) or current != expected:
            raise ConcurrentTaskModificationError(task.id)
        history = self._history.get((scope.owner, task.id), ()) if stored is not None else ()
        if len(history) != commit.stored_history:
            raise ConcurrentTaskModificationError(task.id)
        if commit.push_config is not None and self._push_configs is not None:
            self._push_configs.put(scope, task.id, commit.push_config)  # dropped with the task
        await self._write(scope, head, (*history, *added), current + len(steps), stored is None)
        if self._events is not None and commit.log_events:
            for offset, step in enumerate(steps, start=1):
                if step is not None:
                    self._events.append(scope, task.id,
                                        VersionedEvent(step, TaskVersion(current + offset)))
        if self._outbox is not None:
            self._outbox.enqueue(scope, task.id, current, steps)
        return TaskVersion(current + len(steps))

    def _assemble(self, scope: Scope, head: Task, history_length: int | None) -> Task:
        task = Task()
        task.CopyFrom(head)
        task.MergeFromString(self._joined(scope, head.id, history_length))
        return task

    def _joined(self, scope: Scope, task_id: str, history_length: int | None) -> bytes:
        history = self._history.get((scope.owner, task_id), ())
        if history_length is None or history_length >= len(history):
            return b"".join(history)
        return b"".join(history[len(history) - history_length:]) if history_length > 0 else b""

    async def get(self, task_id: str, context: ServerCallContext) -> StoredTask | None:
        """The whole task (a fresh object) and its version, if it exists in the caller's scope."""
        scope = scope_of(context)
        head, version = await self._current(scope, task_id)
        if head is None:
            return None
        return StoredTask(self._assemble(scope, head, None), TaskVersion(version))

    async def load(self, scope: Scope, task_id: str) -> StoredTask | None:
        """For a run: the object the task's last run handed back if it is still current, else
        a fresh one."""
        key = (scope.owner, task_id)
        live = self._live.pop(key, None)
        if live is not None and live[0] == self._versions.get(key):
            return StoredTask(live[1], TaskVersion(live[0]))
        return await self.get(task_id, self._context(scope))

    def keep(self, scope: Scope, task: Task, version: TaskVersion) -> None:
        """Hold a finished run's task for the next run of it (not a finished task's)."""
        key = (scope.owner, task.id)
        if (task.status.state in TERMINAL_STATES or self._versions.get(key) != version._value
                or len(self._history.get(key, ())) != len(task.history)):
            return
        self._live[key] = (int(version._value), task)
        if len(self._live) > _LIVE_MAX:
            self._live.popitem(last=False)

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        """ListTasks with the SDK's filters, order and page tokens (on the heads), each task
        with its history (the last ``history_length`` messages when given)."""
        await self._expire()
        page = await self._heads.list(params, context)
        scope = scope_of(context)
        length = params.history_length if params.HasField("history_length") else None
        for task in page.tasks:  # the SDK built the page from copies of the heads
            task.MergeFromString(self._joined(scope, task.id, length))
        return page

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        """Remove the task with everything that hangs off it, as retention does (and as
        the Redis store deletes every key of the task)."""
        scope = scope_of(context)
        head = await self._heads.get(task_id, self._context(scope))
        await self._remove(scope, task_id, head.context_id if head is not None else None)

    async def get_task_view(
        self, scope: Scope, task_id: str, history_length: int | None
    ) -> Task | None:
        """The head and the last ``history_length`` messages, parsed once."""
        await self._expire()
        head = await self._heads.get(task_id, self._context(scope))
        return None if head is None else self._assemble(scope, head, history_length)

    async def get_task_view_bytes(
        self, scope: Scope, task_id: str, history_length: int | None
    ) -> bytes | None:
        """The view serialized: the head's bytes and the stored messages, never parsed."""
        await self._expire()
        head = await self._heads.get(task_id, self._context(scope))
        if head is None:
            return None
        return head.SerializeToString() + self._joined(scope, task_id, history_length)

    async def scrub(self, scope: Scope, task_id: str) -> None:
        """Clear history, artifacts and the status message; bump the version."""
        head, version = await self._current(scope, task_id)
        if head is None:
            return
        scrubbed = Task()
        scrubbed.CopyFrom(head)
        scrubbed.ClearField("artifacts")
        scrubbed.status.ClearField("message")
        await self._write(scope, scrubbed, (), version + 1, False)
        if self._events is not None:
            self._events.forget(scope, task_id)  # the log holds the same messages


class _TaskLog:
    __slots__ = ("changed", "events")

    def __init__(self) -> None:
        self.events: list[VersionedEvent] = []
        self.changed = asyncio.Event()  # set (and replaced) on every append


class InMemoryEventStream(EventLog):
    """Per-task event logs in memory; subscribers wait for the next append, no polling."""

    def __init__(self) -> None:
        self._logs: dict[tuple[str, str], _TaskLog] = defaultdict(_TaskLog)

    def append(self, scope: Scope, task_id: str, event: VersionedEvent) -> None:
        """Append ``event`` unless a later version is already logged; wake subscribers."""
        log = self._logs[(scope.owner, task_id)]
        if log.events and not event.version.is_after(log.events[-1].version):
            return
        log.events.append(event)
        if len(log.events) > _MAX_EVENTS_PER_TASK:
            del log.events[: len(log.events) - _MAX_EVENTS_PER_TASK]
        log.changed.set()
        log.changed = asyncio.Event()

    async def publish(self, task_id: str, event: VersionedEvent) -> None:
        """Append ``event`` to the log of ``task_id`` in the current scope."""
        self.append(current_scope(), task_id, event)

    async def subscribe(
        self, task_id: str, *, after: TaskVersion
    ) -> AsyncGenerator[VersionedEvent, None]:
        """Every event after ``after``, then each new one as it is published."""
        log = self._logs[(current_scope().owner, task_id)]
        cursor = after
        while True:
            pending = [e for e in log.events if e.version.is_after(cursor)]
            if not pending:
                await log.changed.wait()
                continue
            for versioned in pending:
                cursor = versioned.version
                yield versioned

    async def replay(self, task_id: str, *, after: TaskVersion) -> list[VersionedEvent] | None:
        """The logged events after ``after``, or None if the task logged none or its log is
        gone (the task was dropped, or finished ``finished_events_seconds`` ago)."""
        log = self._logs.get((current_scope().owner, task_id))
        if log is None:
            return None
        return [e for e in log.events if e.version.is_after(after)]

    def forget(self, scope: Scope, task_id: str) -> None:
        """Drop a task's log (its task was dropped or scrubbed, or finished long enough ago)."""
        self._logs.pop((scope.owner, task_id), None)

    async def destroy(self, task_id: str) -> None:
        """Keep the log so late subscribers can still replay it (the task store drops it
        ``finished_events_seconds`` after the task finished, or with the task)."""
        del task_id


class InMemoryPushConfigStore(InMemoryPushNotificationConfigStore):
    """The SDK's store, scoped by tenant/agent, that dispatches across owners."""

    def __init__(self) -> None:
        super().__init__(owner_resolver=_owner)

    async def get_info_for_dispatch(self, task_id: str) -> list[TaskPushNotificationConfig]:
        """Every config registered for ``task_id``, whoever registered it."""
        owner = current_scope().owner
        return list(self._get_owner_push_notification_infos(owner).get(task_id, []))

    def put(self, scope: Scope, task_id: str, config: TaskPushNotificationConfig) -> None:
        """``set_info`` for a task's commit: ``config`` is already normalized, and is kept as
        it is (the committing run does not change it)."""
        with self.lock:
            tasks = self._push_notification_infos.setdefault(scope.owner, {})
            configs = tasks.get(task_id)
            if configs is None:  # a new task's (the usual case)
                tasks[task_id] = [config]
                return
            configs[:] = [c for c in configs if c.id != config.id]
            configs.append(config)

    def forget(self, scope: Scope, task_id: str) -> None:
        """Drop every config of a task (the task was dropped), silently if it has none."""
        with self.lock:
            self._get_owner_push_notification_infos(scope.owner).pop(task_id, None)


class InMemoryContextStore(ContextStore):
    """Ordered context items per scope.

    A context with tasks lives as long as its last task. One that holds only direct
    messages (an agent that answers without tasks) is bounded like finished tasks: its
    tenant's retention counted from its last message, and at most ``max_idle`` of them,
    the least recently written dropped first.
    """

    def __init__(self, tenant_ttl: TenantTtl = lambda _tenant: None,
                 max_idle: int = MAX_FINISHED_TASKS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Contexts in memory; message-only ones bounded by ``tenant_ttl`` and ``max_idle``."""
        # Per context, its items in order: a task id, or a direct message. A tuple of
        # strings (and a dict of strings) the garbage collector stops tracking; a list
        # of ContextItem and a set it would walk, for every context kept.
        self._items: dict[_Key, tuple[str | Message, ...]] = {}
        self._task_ids: dict[_Key, dict[str, None]] = {}
        self._tenant_ttl = tenant_ttl
        self._max_idle = max_idle
        self._clock = clock
        self._idle: OrderedDict[_Key, float] = OrderedDict()  # message-only, by last write
        self._deadlines: list[tuple[float, float, _Key]] = []  # (drop at, written at, key)

    def _expire(self) -> None:
        now = self._clock()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, written_at, key = heapq.heappop(self._deadlines)
            if self._idle.get(key) == written_at:  # no message since, and still task-less
                self._forget(key)

    def _forget(self, key: _Key) -> None:
        self._idle.pop(key, None)
        self._items.pop(key, None)
        self._task_ids.pop(key, None)

    def _touch_idle(self, scope: Scope, key: _Key) -> None:
        """A direct message went into a context without tasks: count it against the bounds."""
        now = self._clock()
        self._idle[key] = now
        self._idle.move_to_end(key)
        ttl = self._tenant_ttl(scope.tenant)
        if ttl:
            heapq.heappush(self._deadlines, (now + ttl, now, key))
        while len(self._idle) > self._max_idle:
            self._forget(next(iter(self._idle)))
        self._expire()

    @property
    def idle_count(self) -> int:
        """Contexts held that have only direct messages."""
        return len(self._idle)

    async def add_task(self, scope: Scope, context_id: str, task_id: str) -> None:
        """Append a task reference once."""
        key = (scope.owner, context_id)
        task_ids = self._task_ids.setdefault(key, {})
        if task_id in task_ids:
            return
        task_ids[task_id] = None
        self._idle.pop(key, None)  # it has a task now: it lives as long as its tasks
        self._items[key] = (*self._items.get(key, ()), task_id)

    async def add_message(self, scope: Scope, context_id: str, message: Message) -> None:
        """Append a copy of a direct message."""
        clone = Message()
        clone.CopyFrom(message)
        key = (scope.owner, context_id)
        self._items[key] = (*self._items.get(key, ()), clone)
        if not self._task_ids.get(key):
            self._touch_idle(scope, key)

    async def page(
        self, scope: Scope, context_id: str, limit: int, offset: int
    ) -> ContextPage | None:
        """A slice of the context, in order."""
        self._expire()
        items = self._items.get((scope.owner, context_id))
        if items is None:
            return None
        return ContextPage(items=[ContextItem(task_id=item) if isinstance(item, str)
                                  else ContextItem(message=item)
                                  for item in itertools.islice(items, offset, offset + limit)],
                           total=len(items))

    def remove_task(self, scope: Scope, context_id: str, task_id: str) -> None:
        """Drop a task's reference (the task was dropped); a context left without tasks goes."""
        key = (scope.owner, context_id)
        task_ids = self._task_ids.get(key)
        if task_ids is None or task_id not in task_ids:
            return
        del task_ids[task_id]
        items = tuple(item for item in self._items.get(key, ()) if item != task_id)
        if task_ids:
            self._items[key] = items
        else:
            self._forget(key)

    async def scrub(self, scope: Scope, context_id: str) -> list[str] | None:
        """Drop direct messages; keep task references (their tasks are scrubbed)."""
        key = (scope.owner, context_id)
        items = self._items.get(key)
        if items is None:
            return None
        kept = tuple(item for item in items if isinstance(item, str))
        self._items[key] = kept
        return list(kept)


class InMemoryLeaseManager(LeaseManager):
    """One process runs everything: nothing lapses, cancels are local."""

    def __init__(self) -> None:
        self._cancels: asyncio.Queue[tuple[Scope, str]] = asyncio.Queue()

    async def cancellations(self) -> AsyncIterator[tuple[Scope, str]]:
        """Cancels requested in this process."""
        while True:
            yield await self._cancels.get()

    async def request_cancel(self, scope: Scope, task_id: str) -> None:
        """Queue a local cancel."""
        await self._cancels.put((scope, task_id))


class InMemoryStores(Stores):
    """All stores in memory."""

    name = "memory"

    def __init__(self, tenant_ttl: TenantTtl = lambda _tenant: None,
                 max_finished: int = MAX_FINISHED_TASKS,
                 clock: Callable[[], float] = time.monotonic, *,
                 finished_events_seconds: float = FINISHED_EVENTS_SECONDS) -> None:
        """Every store in memory; finished tasks bounded by ``tenant_ttl`` (a tenant's
        ``retention_seconds``) and ``max_finished``, their event logs by
        ``finished_events_seconds``."""
        self.contexts = InMemoryContextStore(tenant_ttl, max_finished, clock)
        self.events = InMemoryEventStream()
        self.push_configs = InMemoryPushConfigStore()
        self.outbox = InMemoryOutbox(self.push_configs)
        self.tasks = InMemoryScopedTaskStore(self.contexts, self.events, self.push_configs,
                                             self.outbox, tenant_ttl=tenant_ttl,
                                             max_finished=max_finished,
                                             finished_events_seconds=finished_events_seconds,
                                             clock=clock)
        self.leases = InMemoryLeaseManager()
        self.usage = InMemoryUsageCounters()
        self.agents = InMemoryAgentStore()

    async def ready(self) -> tuple[bool, str]:
        """Always ready."""
        return True, "in-memory store"
