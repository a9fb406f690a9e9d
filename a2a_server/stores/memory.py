"""The embedded default: every store in process memory (one replica, nothing durable)."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
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

_MAX_EVENTS_PER_TASK = 10_000


def _owner(context: ServerCallContext) -> str:
    return scope_of(context).owner


def _copy(task: Task) -> Task:
    clone = Task()
    clone.CopyFrom(task)
    return clone


class InMemoryScopedTaskStore(ScopedTaskStore):
    """Tasks in a dict, versioned by a counter, with the terminal guard."""

    def __init__(self, contexts: ContextStore, events: InMemoryEventStream | None = None) -> None:
        # Copies are made here, where needed, rather than on every SDK read and write.
        self._inner = InMemoryTaskStore(owner_resolver=_owner, use_copying=False)
        self._events = events
        self._versions: dict[tuple[str, str], int] = {}
        self._contexts = contexts

    async def save(
        self,
        task: Task,
        *,
        event: Event | None,
        prev: Task | None,
        prev_version: TaskVersion,
        context: ServerCallContext,
    ) -> TaskVersion:
        """Compare-and-set; CANCELED overwrites any non-terminal task."""
        del event, prev
        scope = scope_of(context)
        key = (scope.owner, task.id)
        stored = await self._inner.get(task.id, context)
        current = self._versions.get(key, 0)
        if stored is not None and stored.status.state in TERMINAL_STATES:
            raise ConcurrentTaskModificationError(task.id)
        if task.status.state == TaskState.TASK_STATE_CANCELED:
            if stored is None:
                raise ConcurrentTaskModificationError(task.id)
        elif current != (0 if prev_version.is_missing else prev_version._value):
            raise ConcurrentTaskModificationError(task.id)
        self._versions[key] = current + 1
        await self._inner.save(_copy(task), context)
        if stored is None:
            await self._contexts.add_task(scope, task.context_id, task.id)
        return TaskVersion(current + 1)

    async def commit(self, scope: Scope, commit: Commit) -> TaskVersion:
        """Compare-and-set, then log each step's event with its version."""
        context = self._context(scope)
        task = _copy(commit.task)  # before any await: the run goes on changing its task
        steps = list(commit.steps)
        key = (scope.owner, task.id)
        stored = await self._inner.get(task.id, context)
        current = self._versions.get(key, 0)
        expected = 0 if commit.prev_version.is_missing else commit.prev_version._value
        if (stored is not None and stored.status.state in TERMINAL_STATES) or current != expected:
            raise ConcurrentTaskModificationError(task.id)
        self._versions[key] = current + len(steps)
        await self._inner.save(task, context)
        if stored is None:
            await self._contexts.add_task(scope, task.context_id, task.id)
        if self._events is not None and commit.log_events:
            for offset, step in enumerate(steps, start=1):
                if step is not None:
                    self._events.append(scope, task.id,
                                        VersionedEvent(step, TaskVersion(current + offset)))
        return TaskVersion(current + len(steps))

    async def load(self, scope: Scope, task_id: str) -> StoredTask | None:
        """A copy the run may change, and its version."""
        return await self.get(task_id, self._context(scope))

    async def get(self, task_id: str, context: ServerCallContext) -> StoredTask | None:
        """The task and its version, if it exists in the caller's scope."""
        task = await self._inner.get(task_id, context)
        if task is None:
            return None
        version = self._versions.get((scope_of(context).owner, task_id), 0)
        return StoredTask(_copy(task), TaskVersion(version))

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        """ListTasks with the SDK's filters, order and page tokens."""
        page = await self._inner.list(params, context)
        result = ListTasksResponse()
        result.CopyFrom(page)
        return result

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        """Remove the task and its version."""
        await self._inner.delete(task_id, context)
        self._versions.pop((scope_of(context).owner, task_id), None)

    def _context(self, scope: Scope) -> ServerCallContext:
        return ServerCallContext(state={SCOPE_KEY: scope})

    async def get_task_view(
        self, scope: Scope, task_id: str, history_length: int | None
    ) -> Task | None:
        """A trimmed copy that copies only the messages it returns; the stored task is untouched."""
        task = await self._inner.get(task_id, self._context(scope))
        if task is None:
            return None
        view = Task(id=task.id, context_id=task.context_id)
        view.status.CopyFrom(task.status)
        view.artifacts.extend(task.artifacts)
        if task.HasField("metadata"):
            view.metadata.CopyFrom(task.metadata)
        history = task.history
        if history_length is None or history_length >= len(history):
            view.history.extend(history)
        elif history_length > 0:
            view.history.extend(history[len(history) - history_length :])
        return view

    async def scrub(self, scope: Scope, task_id: str) -> None:
        """Clear history, artifacts and the status message; bump the version."""
        context = self._context(scope)
        task = await self._inner.get(task_id, context)
        if task is None:
            return
        scrubbed = _copy(task)
        scrubbed.ClearField("history")
        scrubbed.ClearField("artifacts")
        scrubbed.status.ClearField("message")
        await self._inner.save(scrubbed, context)
        if self._events is not None:
            self._events.forget(scope, task_id)  # the log holds the same messages
        key = (scope.owner, task_id)
        self._versions[key] = self._versions.get(key, 0) + 1


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

    async def ready(self) -> tuple[bool, str]:
        """Always ready."""
        return True, "in-memory store"
