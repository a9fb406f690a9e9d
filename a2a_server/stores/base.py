"""The store interfaces every backend implements (memory and Redis).

``Stores`` bundles, for the whole process:

- ``tasks``: an SDK ``VersionedTaskStore`` (compare-and-set on a version; a
  write over a terminal task is always refused) plus the fast read
  ``get_task_view`` that trims history in the store, ``scrub``, and the
  group commit the task runner writes with (``commit``: several events, one
  round trip, the lease claimed or released in the same write).
- ``events``: an SDK ``TaskEventStream`` (cross-replica delivery, with ids) that can
  also ``replay`` its log without blocking (``EventLog``).
- ``push_configs``: an SDK ``PushNotificationConfigStore`` whose
  ``get_info_for_dispatch`` sees every owner's configs.
- ``contexts``: a context's tasks and direct messages, in order.
- ``leases``: which replica runs which task; expired leases fail the task.
- ``outbox``: push notifications not yet acknowledged, written by the commit that
  caused them (``PushOutbox``), and each config's delivery log.
- ``usage``: model usage counters per scope and UTC day (``stores/usage.py``).

Scoping: every record belongs to a ``Scope`` (authenticated tenant, agent id).
SDK calls that carry a ``ServerCallContext`` read it from
``context.state[SCOPE_KEY]``; SDK calls that do not (the event stream) read
the ``current_scope`` context variable, which the protocol layer sets for the
request before calling the SDK and which asyncio tasks spawned from it inherit.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from a2a.server.cluster import (
    StoredTask,
    TaskEventStream,
    TaskVersion,
    VersionedEvent,
    VersionedTaskStore,
)
from a2a.server.context import ServerCallContext
from a2a.server.events import Event
from a2a.server.tasks import PushNotificationConfigStore
from a2a.types.a2a_pb2 import Message, Task, TaskPushNotificationConfig, TaskState

if TYPE_CHECKING:
    from a2a_server.stores.agents import AgentDefinitionStore
    from a2a_server.stores.usage import UsageCounters

SCOPE_KEY = "a2a_server.scope"

TERMINAL_STATES = frozenset(
    {
        TaskState.TASK_STATE_COMPLETED,
        TaskState.TASK_STATE_CANCELED,
        TaskState.TASK_STATE_FAILED,
        TaskState.TASK_STATE_REJECTED,
    }
)


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a record lives: the authenticated tenant and the agent."""

    tenant: str
    agent: str

    @property
    def owner(self) -> str:
        """A single string for SDK owner-keyed structures."""
        return f"{self.tenant}/{self.agent}"


_current_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "a2a_server_scope", default=None
)


class ScopeMissingError(RuntimeError):
    """A store was called outside any authenticated request (a programming error)."""


def set_current_scope(scope: Scope) -> contextvars.Token[Scope | None]:
    """Bind ``scope`` to the running context (and tasks spawned from it)."""
    return _current_scope.set(scope)


def current_scope() -> Scope:
    """The scope bound by the protocol layer for this request."""
    scope = _current_scope.get()
    if scope is None:
        raise ScopeMissingError("no tenant scope bound to this call")
    return scope


def scope_of(context: ServerCallContext | None) -> Scope:
    """The scope of an SDK call; never derived from request bodies."""
    if context is not None:
        scope = context.state.get(SCOPE_KEY)
        if isinstance(scope, Scope):
            return scope
    return current_scope()


@dataclass(frozen=True, slots=True)
class ContextItem:
    """One entry of a context, in order: a task (by id) or a direct message."""

    task_id: str | None = None
    message: Message | None = None


@dataclass(frozen=True, slots=True)
class ContextPage:
    """A page of a context's items, with the total count."""

    items: list[ContextItem]
    total: int


class LeaseChange(enum.Enum):
    """What a commit does to the task's lease (which replica runs it)."""

    KEEP = 0
    CLAIM = 1  # the agent is still running after this commit: take (or renew) the lease
    RELEASE = 2  # the run is over with this commit: drop the lease if this replica holds it


@dataclass(frozen=True, slots=True)
class Commit:
    """One group commit of a run: the task after ``steps``, written atomically.

    Each step is one new version of the task; a step's event (None: a version with no
    event, e.g. a task the runner created for an artifact) is appended to the task's
    event log with that version. ``stored_history`` is how many of ``task.history``
    the store already holds at ``prev_version`` (the run read them); only the rest is
    written, so a commit costs O(new messages). ``log_events`` False writes the versions
    without logging their events: for a task that its first commit leaves finished,
    whose log no subscriber can be waiting on (a ``Last-Event-ID`` resume is answered
    with the final task, as once a log has expired). The events still go to the push
    outbox for each of the task's push configs either way.

    ``push_config`` (a new task's first commit only): the request's inline push config,
    normalized (its id set), stored by this same write before the events are queued for
    it: what ``push_configs.set_info`` would store, without a write of its own.
    """

    task: Task
    steps: Sequence[Event | None]
    prev_version: TaskVersion
    stored_history: int = 0
    lease: LeaseChange = LeaseChange.KEEP
    log_events: bool = True
    push_config: TaskPushNotificationConfig | None = None


class TaskViewStore(ABC):
    """Reads the protocol layer needs that the SDK interface lacks."""

    @abstractmethod
    async def get_task_view(
        self, scope: Scope, task_id: str, history_length: int | None
    ) -> Task | None:
        """The task with only its last ``history_length`` messages (None = all).

        Reads O(history_length) messages, not the whole history.
        """

    async def get_task_view_bytes(
        self, scope: Scope, task_id: str, history_length: int | None
    ) -> bytes | None:
        """``get_task_view`` serialized: a store that holds bytes answers without parsing."""
        view = await self.get_task_view(scope, task_id, history_length)
        return None if view is None else view.SerializeToString()

    @abstractmethod
    async def scrub(self, scope: Scope, task_id: str) -> None:
        """Remove the task's messages and artifacts, keeping id/status/metadata."""


class ScopedTaskStore(VersionedTaskStore, TaskViewStore, ABC):
    """A ``VersionedTaskStore`` scoped by tenant and agent, with view reads and group commits."""

    @abstractmethod
    async def commit(self, scope: Scope, commit: Commit) -> TaskVersion:
        """Write ``commit`` if the task is still at ``commit.prev_version`` (new: absent).

        The version moves by ``len(commit.steps)``; the steps' events are logged with
        their versions, so subscribers on any replica see them in order. A write over a
        terminal task is refused like any stale write.

        Raises:
            ConcurrentTaskModificationError: the task moved (or is terminal) meanwhile.
        """

    @abstractmethod
    async def load(self, scope: Scope, task_id: str) -> StoredTask | None:
        """The task and its version, for a run that will change it (the caller owns it)."""

    def keep(self, scope: Scope, task: Task, version: TaskVersion) -> None:
        """A finished run hands back its task as committed at ``version`` (may be cached)."""


class ContextStore(ABC):
    """A context (conversation) of one scope: its tasks and direct messages in order."""

    @abstractmethod
    async def add_task(self, scope: Scope, context_id: str, task_id: str) -> None:
        """Record that ``task_id`` belongs to ``context_id`` (idempotent)."""

    @abstractmethod
    async def add_message(self, scope: Scope, context_id: str, message: Message) -> None:
        """Append a direct message (an exchange that created no task)."""

    @abstractmethod
    async def page(
        self, scope: Scope, context_id: str, limit: int, offset: int
    ) -> ContextPage | None:
        """Items ``offset .. offset+limit`` in order, or None if the context is unknown."""

    @abstractmethod
    async def scrub(self, scope: Scope, context_id: str) -> list[str] | None:
        """Drop the context's direct messages; return its task ids (None if unknown)."""


class EventLog(TaskEventStream, ABC):
    """A ``TaskEventStream`` whose log can also be read without waiting."""

    @abstractmethod
    async def replay(self, task_id: str, *, after: TaskVersion) -> list[VersionedEvent] | None:
        """The logged events after ``after`` (in the current scope), or None if the log is gone."""


class LeaseManager(ABC):
    """Which replica runs which task; a lapsed lease lets another replica fail it.

    A run claims the lease with the commit that leaves its agent running
    (``LeaseChange.CLAIM``), renews it every ``renew_every`` seconds while the
    agent runs, and releases it with its last commit (or ``release``).
    """

    renew_every: float | None = None  # None: nothing lapses, nothing to renew

    async def renew(self, scope: Scope, task_id: str) -> None:  # noqa: B027
        """Extend this replica's lease on ``task_id``.

        Raises:
            TaskLost: the task is no longer in the store (its run must stop).
            StoreUnavailable: the store cannot be reached (the run retries at the next beat).
        """

    async def release(self, scope: Scope, task_id: str) -> None:  # noqa: B027
        """Drop this replica's lease on ``task_id`` (if it still holds it)."""

    @abstractmethod
    def cancellations(self) -> AsyncIterator[tuple[Scope, str]]:
        """Tasks (scope, id) other replicas cancelled that this replica may be running."""

    @abstractmethod
    async def request_cancel(self, scope: Scope, task_id: str) -> None:
        """Tell whichever replica runs ``task_id`` to stop its executor."""


@dataclass(slots=True)
class OutboxEntry:
    """One push notification waiting for its webhook's 2xx (never changed once built).

    ``entry_id`` is ``<task version>-<n>`` (n: the config's place among the task's configs at
    the commit): unique and ordered within the task, the stable delivery id.
    """

    # Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__,
    # ~9,400 instructions an entry against ~3,100 (callgrind, CPython 3.11), paid per event
    # and config by every in-memory commit of a task with push configs, and per entry read
    # by the deliverer on Redis.

    entry_id: str
    config_id: str
    event: bytes  # StreamResponse protobuf
    created_ms: int
    # W3C trace context of the run that committed it: ``traceparent``, or ``traceparent``
    # + "\n" + ``tracestate``; "" when tracing was off (and for entries written before).
    trace: str = ""


class PushOutbox(ABC):
    """Push notifications written with their commits, delivered by whichever replica is alive.

    A task with pending entries is *due* from a time on; a replica ``claim``s a due task
    for ``lease_ms`` (one deliverer per task at a time), delivers its entries in order,
    ``ack``s the acknowledged (or finally failed) ones and ``release``s the task with the
    time its next retry is due. A replica that dies holding a claim loses nothing: the
    lease lapses and another replica claims the task.
    """

    def __init__(self) -> None:
        self.wakeup = asyncio.Event()  # set when a commit on this replica queued entries
        # Set when tracing is on: the committing code's W3C trace context, stored with each
        # entry (``OutboxEntry.trace``); None costs nothing.
        self.trace_context: Callable[[], str] | None = None

    @abstractmethod
    async def due(self, limit: int) -> list[tuple[Scope, str]]:
        """Up to ``limit`` tasks whose entries are due now (claimed or not)."""

    @abstractmethod
    async def claim(self, scope: Scope, task_id: str, owner: str, lease_ms: int) -> bool:
        """Take (or extend, for the same ``owner``) the right to deliver the task's entries."""

    @abstractmethod
    async def pending(self, scope: Scope, task_id: str, limit: int) -> list[OutboxEntry]:
        """The task's first ``limit`` entries, oldest first."""

    @abstractmethod
    async def ack(self, scope: Scope, task_id: str, entry_ids: Sequence[str]) -> None:
        """Remove delivered (or finally failed) entries."""

    @abstractmethod
    async def release(self, scope: Scope, task_id: str, owner: str, next_due_ms: int | None,
                      seen: str | None) -> None:
        """Drop the claim; due again at ``next_due_ms`` (None: nothing pending), or now if an
        entry newer than ``seen`` (the last entry id the deliverer read) arrived meanwhile."""

    async def sweep(self, owner: str, interval_ms: int) -> int:
        """Mark due every task whose entries are not (a writer died between writing them and
        marking the task due); the number marked. Only a store where those are two steps (a
        Redis Cluster) has anything to do; one replica per ``interval_ms`` does it."""
        del owner, interval_ms
        return 0

    @abstractmethod
    async def save_log(self, scope: Scope, task_id: str, config_id: str, log: bytes) -> None:
        """Store a config's delivery log (JSON, written by the deliverer holding the claim)."""

    @abstractmethod
    async def load_log(self, scope: Scope, task_id: str, config_id: str) -> bytes | None:
        """A config's delivery log, if any attempt was made."""


class Stores(ABC):
    """The backend as a whole: every store plus health and lifecycle."""

    tasks: ScopedTaskStore
    events: EventLog
    push_configs: PushNotificationConfigStore
    contexts: ContextStore
    leases: LeaseManager
    outbox: PushOutbox
    usage: UsageCounters
    agents: AgentDefinitionStore  # tenant-created agents (Corti's agent CRUD)
    name: str

    @property
    def available(self) -> bool:
        """False while the backend is known to be unreachable (requests fail fast with 503)."""
        return True

    async def agree(self, name: str, value: bytes) -> bytes:
        """``value`` stored under ``name`` unless one is already: what every replica sharing
        this backend gets (a process-local backend keeps it in memory)."""
        agreed: dict[str, bytes] = self.__dict__.setdefault("_agreed", {})
        return agreed.setdefault(name, value)

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open connections, load scripts, start background loops."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Stop background loops and close connections."""

    @abstractmethod
    async def ready(self) -> tuple[bool, str]:
        """Whether the backend can serve requests now, and why not."""
