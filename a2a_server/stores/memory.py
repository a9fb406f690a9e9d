"""The embedded default: every store in process memory (one replica, nothing durable)."""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict, defaultdict
from collections.abc import AsyncGenerator, AsyncIterator

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

from a2a_server.stores._wire import frame, head_of
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
from a2a_server.stores.usage import InMemoryUsageCounters

_MAX_EVENTS_PER_TASK = 10_000


def _owner(context: ServerCallContext) -> str:
    return scope_of(context).owner


_LIVE_MAX = 1_024  # task objects handed back by finished runs (for the next run of each)

_Key = tuple[str, str]


class InMemoryScopedTaskStore(ScopedTaskStore):
    """Tasks kept as the Redis store keeps them: a head and the framed history (``_wire``).

    The heads sit in the SDK's ``InMemoryTaskStore`` (its ListTasks filters, order and
    page tokens); the messages, serialized once each, in a list per task. A commit
    serializes only the new messages, a view joins the ones it returns, and a run that
    ends hands its task object back (``keep``) for the next run of that task to take
    instead of a copy: like on Redis, a follow-up costs the same with 10 or 10,000
    messages in the task.
    """

    def __init__(self, contexts: ContextStore, events: InMemoryEventStream | None = None) -> None:
        self._heads = InMemoryTaskStore(owner_resolver=_owner, use_copying=False)
        # Tuples: of bytes only, the garbage collector stops tracking them (lists it would not).
        self._history: dict[_Key, tuple[bytes, ...]] = {}
        self._versions: dict[_Key, int] = {}
        self._live: OrderedDict[_Key, tuple[int, Task]] = OrderedDict()
        self._events = events
        self._contexts = contexts

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

    async def _current(self, scope: Scope, task_id: str) -> tuple[Task | None, int]:
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
        del event, prev
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
        await self._write(scope, head, (*history, *added), current + len(steps), stored is None)
        if self._events is not None and commit.log_events:
            for offset, step in enumerate(steps, start=1):
                if step is not None:
                    self._events.append(scope, task.id,
                                        VersionedEvent(step, TaskVersion(current + offset)))
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
        page = await self._heads.list(params, context)
        scope = scope_of(context)
        length = params.history_length if params.HasField("history_length") else None
        for task in page.tasks:  # the SDK built the page from copies of the heads
            task.MergeFromString(self._joined(scope, task.id, length))
        return page

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        """Remove the task, its history and its version."""
        key = (scope_of(context).owner, task_id)
        await self._heads.delete(task_id, context)
        for table in (self._versions, self._history, self._live):
            table.pop(key, None)

    async def get_task_view(
        self, scope: Scope, task_id: str, history_length: int | None
    ) -> Task | None:
        """The head and the last ``history_length`` messages, parsed once."""
        head = await self._heads.get(task_id, self._context(scope))
        return None if head is None else self._assemble(scope, head, history_length)

    async def get_task_view_bytes(
        self, scope: Scope, task_id: str, history_length: int | None
    ) -> bytes | None:
        """The view serialized: the head's bytes and the stored messages, never parsed."""
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
        """The logged events after ``after`` (the log lives as long as the process)."""
        log = self._logs.get((current_scope().owner, task_id))
        if log is None:
            return None
        return [e for e in log.events if e.version.is_after(after)]

    def forget(self, scope: Scope, task_id: str) -> None:
        """Drop a task's log (its task was scrubbed)."""
        self._logs.pop((scope.owner, task_id), None)

    async def destroy(self, task_id: str) -> None:
        """Keep the log so late subscribers can still replay it (bounded per task)."""
        del task_id


class InMemoryPushConfigStore(InMemoryPushNotificationConfigStore):
    """The SDK's store, scoped by tenant/agent, that dispatches across owners."""

    def __init__(self) -> None:
        super().__init__(owner_resolver=_owner)

    async def get_info_for_dispatch(self, task_id: str) -> list[TaskPushNotificationConfig]:
        """Every config registered for ``task_id``, whoever registered it."""
        owner = current_scope().owner
        return list(self._get_owner_push_notification_infos(owner).get(task_id, []))


class InMemoryContextStore(ContextStore):
    """Ordered context items per scope."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], list[ContextItem]] = {}
        self._task_ids: dict[tuple[str, str], set[str]] = defaultdict(set)

    async def add_task(self, scope: Scope, context_id: str, task_id: str) -> None:
        """Append a task reference once."""
        key = (scope.owner, context_id)
        if task_id in self._task_ids[key]:
            return
        self._task_ids[key].add(task_id)
        self._items.setdefault(key, []).append(ContextItem(task_id=task_id))

    async def add_message(self, scope: Scope, context_id: str, message: Message) -> None:
        """Append a copy of a direct message."""
        clone = Message()
        clone.CopyFrom(message)
        self._items.setdefault((scope.owner, context_id), []).append(ContextItem(message=clone))

    async def page(
        self, scope: Scope, context_id: str, limit: int, offset: int
    ) -> ContextPage | None:
        """A slice of the context, in order."""
        items = self._items.get((scope.owner, context_id))
        if items is None:
            return None
        return ContextPage(items=list(itertools.islice(items, offset, offset + limit)),
                           total=len(items))

    async def scrub(self, scope: Scope, context_id: str) -> list[str] | None:
        """Drop direct messages; keep task references (their tasks are scrubbed)."""
        key = (scope.owner, context_id)
        items = self._items.get(key)
        if items is None:
            return None
        self._items[key] = [item for item in items if item.task_id is not None]
        return [item.task_id for item in items if item.task_id is not None]


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

    def __init__(self) -> None:
        self.contexts = InMemoryContextStore()
        self.events = InMemoryEventStream()
        self.tasks = InMemoryScopedTaskStore(self.contexts, self.events)
        self.push_configs = InMemoryPushConfigStore()
        self.leases = InMemoryLeaseManager()
        self.usage = InMemoryUsageCounters()

    async def ready(self) -> tuple[bool, str]:
        """Always ready."""
        return True, "in-memory store"
