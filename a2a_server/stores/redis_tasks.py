"""``RedisTaskStore``: the SDK's ``VersionedTaskStore`` on Redis (see ``_keys`` for the schema).

Writes are one Lua script on the task's slot (compare-and-set, terminal guard,
history append, one version and one event XADD per step, retention) plus the
index update on the tenant's slot and the lease change: inside the same script
on a single Redis, further calls in a Redis Cluster. ``commit`` (the task
runner's group commit) knows how many messages Redis holds and sends only the
new ones; ``save`` (the SDK's own writes: remote cancels, the reaper) works it
out from what this replica last wrote or read, and sends the whole history
once when it does not know. Reads return the head and the framed messages as
stored (``_wire``); ``get_task_view_bytes`` hands them over unparsed. The store
holds, within a byte budget, the task as stored at the version it last wrote
or read (bytes, or the object a finished run handed back), so repeated full
reads cost one "unchanged?" round trip and no history transfer.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from a2a.server.cluster import ConcurrentTaskModificationError, StoredTask, TaskVersion
from a2a.server.context import ServerCallContext
from a2a.server.events.event_queue import Event
from a2a.types.a2a_pb2 import ListTasksRequest, ListTasksResponse, Task, TaskState
from a2a.utils.constants import DEFAULT_LIST_TASKS_PAGE_SIZE
from a2a.utils.errors import InvalidParamsError
from a2a.utils.task import (
    ListTasksCursor,
    decode_list_tasks_cursor,
    decode_page_token,
    encode_list_tasks_cursor,
)

from a2a_server.stores._gc import untracked
from a2a_server.stores._keys import EVENTS_MAXLEN, ScopeKeys, TaskKeys, sort_member
from a2a_server.stores._redis_base import RedisContext
from a2a_server.stores._wire import frame, framed, head_of, stream_response_bytes
from a2a_server.stores.base import (
    SCOPE_KEY,
    TERMINAL_STATES,
    Commit,
    LeaseChange,
    PushOutbox,
    Scope,
    ScopedTaskStore,
    scope_of,
)
from a2a_server.stores.memory_outbox import now_ms

_STATES = range(9)  # TaskState numbers 0..8, one index each
_CACHE_SIZE = 10_000
TASK_CACHE_BYTES = 64 * 1024 * 1024  # default budget of each cache of whole tasks (task_cache_mb)
_FULL_ENTRY_MAX = 8 * 1024 * 1024  # larger tasks are read from Redis every time
_MEMBER_PREFIX = 22  # "<flag><20 digits>:"


class _Written(NamedTuple):
    """What this replica last wrote or read of a task: version, history length, last id.

    Atomic values, untracked by the garbage collector (``_gc``): thousands are kept.
    """

    version: int
    length: int
    last_id: str
    nbytes: int  # serialized size of the task at that version (head + framed history)


def _sort_member(task: Task) -> str:
    has_ts = task.HasField("status") and task.status.HasField("timestamp")
    return sort_member(has_ts, task.status.timestamp.ToNanoseconds() if has_ts else 0, task.id)


def _state(task: Task) -> int:
    state = int(task.status.state)
    return state if state in _STATES else 0


def _copy(task: Task) -> Task:
    clone = Task()
    clone.CopyFrom(task)
    return clone


def _version(value: TaskVersion) -> int:
    raw = value._value
    return raw if isinstance(raw, int) else int(raw)


def _history(raw: list[Any]) -> bytes:
    """The framed history of a get script reply (framed here for a task stored unframed)."""
    return raw[2] if isinstance(raw[2], bytes) else framed(raw[2])


def _assemble(raw: list[Any]) -> tuple[Task, int]:
    """The task from the get script's reply: one protobuf parse, not one per message."""
    return Task.FromString(raw[0] + _history(raw)), int(raw[1])


class _Full(NamedTuple):
    """A task as stored at one version, as bytes: ``Task.FromString(head + history)``
    (atomic values, untracked by the garbage collector: ``_gc``)."""

    version: int
    length: int
    head: bytes
    history: bytes

    @property
    def size(self) -> int:
        return len(self.head) + len(self.history) + 200

    @property
    def tag(self) -> str:
        """What the get script compares with the stored ``v`` and ``h``."""
        return f"{self.version}:{self.length}"


@dataclass(frozen=True, slots=True)
class _Live:
    """A task object a finished run handed back, as committed at ``version``."""

    version: int
    task: Task
    nbytes: int

    @property
    def tag(self) -> str:
        return f"{self.version}:{len(self.task.history)}"


_Key = tuple[str, str, str]
_T = TypeVar("_T")


class _Held(Generic[_T]):
    """What this replica holds per task (LRU), within a byte budget; oversized ones not kept."""

    def __init__(self, size: Callable[[_T], int], budget: int) -> None:
        self._entries: OrderedDict[_Key, _T] = OrderedDict()
        self._size = size
        self._budget = budget
        self._bytes = 0

    @property
    def held_bytes(self) -> int:
        """The sizes of the entries held (at most the budget)."""
        return self._bytes

    def get(self, key: _Key) -> _T | None:
        """The entry, left where it is in the LRU order."""
        return self._entries.get(key)

    def touch(self, key: _Key) -> None:
        """Mark the entry as just used."""
        self._entries.move_to_end(key)

    def take(self, key: _Key) -> _T | None:
        """Remove and return the entry."""
        value = self._entries.pop(key, None)
        if value is not None:
            self._bytes -= self._size(value)
        return value

    def put(self, key: _Key, value: _T | None) -> None:
        """Hold ``value`` for ``key`` (None: hold nothing), evicting the least recently used."""
        self.take(key)
        if value is None or self._size(value) > min(_FULL_ENTRY_MAX, self._budget):
            return
        self._entries[key] = value
        self._bytes += self._size(value)
        while self._bytes > self._budget:
            _, dropped = self._entries.popitem(last=False)
            self._bytes -= self._size(dropped)


class LeaseCommits(Protocol):
    """How a commit changes a lease (implemented by the lease manager)."""

    def commit_args(self, scope: Scope, task_id: str,
                    change: LeaseChange) -> tuple[builtins.list[str], builtins.list[Any]]:
        """KEYS and ARGV of the lease part of the single-Redis commit script."""

    async def after_commit(self, scope: Scope, task_id: str, change: LeaseChange) -> None:
        """Redis Cluster: apply the change with its own calls after the save."""


class RedisTaskStore(ScopedTaskStore):
    """Versioned tasks in Redis, scoped by tenant and agent, with the terminal guard."""

    def __init__(self, redis: RedisContext, finished_events_ms: int = 0,
                 cache_bytes: int = TASK_CACHE_BYTES) -> None:
        """Tasks on ``redis``; ``cache_bytes`` bounds each of the two caches of whole tasks
        (read or written last, and handed back by finished runs); 0 holds none."""
        self._r = redis
        self._finished_events_ms = finished_events_ms
        self._written: OrderedDict[_Key, _Written] = OrderedDict()
        self._full: _Held[_Full] = _Held(lambda full: full.size, cache_bytes)
        self._live: _Held[_Live] = _Held(lambda live: live.nbytes, cache_bytes)
        # Set by the lease manager: the lease part of a commit.
        self.leases: LeaseCommits | None = None
        # Set by the outbox: wakes this replica's deliverer when a commit queued notifications.
        self.outbox_wakeup: asyncio.Event | None = None
        # Set by the outbox too: its trace_context hook (None unless tracing is on).
        self.outbox: PushOutbox | None = None
        self._context_index_keys = functools.lru_cache(maxsize=4_096)(self._build_index_keys)

    def cache_bytes(self) -> int:
        """Bytes of whole tasks this replica holds now, both caches (for metrics)."""
        return self._full.held_bytes + self._live.held_bytes

    def shed(self) -> None:
        """Empty the caches of keys (rebuilt on demand); the task caches stay (their budget
        is a setting)."""
        self._context_index_keys.cache_clear()
        self._r.keys.forget()

    def _forget(self, key: _Key) -> None:
        """Drop everything this replica believes about a task (it moved elsewhere)."""
        self._written.pop(key, None)
        self._full.take(key)
        self._live.take(key)

    def _keys(self, scope: Scope, task_id: str) -> TaskKeys:
        return self._r.keys.task(scope.tenant, scope.agent, task_id)

    def _remember(self, key: _Key, version: int, length: int, last_id: str,
                  nbytes: int) -> None:
        self._written[key] = untracked(_Written(version, length, last_id, nbytes))
        self._written.move_to_end(key)
        if len(self._written) > _CACHE_SIZE:
            self._written.popitem(last=False)

    def _append_from(self, scope: Scope, task: Task, prev: int, cancel: bool) -> int | None:
        """How many stored messages ``task.history`` extends, if this replica knows."""
        known = self._written.get((scope.tenant, scope.agent, task.id))
        if known is None or (known.version != prev and not cancel):
            return None
        if known.length > len(task.history):
            return None
        if known.length and task.history[known.length - 1].message_id != known.last_id:
            return None
        return known.length

    async def _write(self, scope: Scope, task: Task, steps: builtins.list[bytes], prev: int,
                     cancel: bool, start: int | None,
                     lease: LeaseChange = LeaseChange.KEEP, log: bool = True,
                     push_config: tuple[str, bytes] = ("", b"")) -> tuple[
                         int, int, bytes, builtins.list[bytes]]:
        """Run the save (single Redis: with the index update and lease change) for ``task``.

        ``log`` False: the steps' events go to the push outbox only (not to the event log);
        ``push_config``: a new task's inline config (id, bytes) written first (("", b""): none).

        Everything is serialized before the first await: the caller may change ``task``
        while the write is in flight. Returns (version, first new message, head, added).

        Raises:
            ConcurrentTaskModificationError: the compare-and-set or the terminal guard refused.
        """
        key = (scope.tenant, scope.agent, task.id)
        keys = self._keys(scope, task.id)
        state = task.status.state
        terminal = state in TERMINAL_STATES
        ttl = self._r.ttl_ms(scope.tenant)
        head = head_of(task).SerializeToString()
        task_keys = [keys.task, keys.hist, keys.events, keys.push, keys.outbox]
        index_keys = self._index_keys(scope, task)
        index_args = [task.id, _sort_member(task), _state(task), ttl, int(terminal)]
        if self._r.cluster or self.leases is None:
            member = self._r.keys.lease_member(scope.tenant, scope.agent, task.id)
            lease_keys, lease_args = [keys.lease, self._r.keys.leases], [0, "", 0, member, 0]
        else:
            lease_keys, lease_args = self.leases.commit_args(scope, task.id, lease)
        lease_keys = [*lease_keys, self._r.keys.outbox_due]
        length = len(task.history)  # the caller may append while the write is in flight
        outbox = self.outbox
        trace = (outbox.trace_context() if outbox is not None
                 and outbox.trace_context is not None else "")
        with self._r.errors():
            for attempt in (0, 1):
                first = 0 if start is None else start
                added = [frame(m.SerializeToString()) for m in task.history[first:length]]
                args: builtins.list[Any] = [
                    "replace" if start is None else "append", first, prev, int(cancel), head,
                    int(state), int(terminal), ttl, len(steps), EVENTS_MAXLEN,
                    self._finished_events_ms, trace, int(log), *push_config, *steps, *added]
                if self._r.cluster:
                    reply = await self._r.run("save", task_keys, args)
                else:  # one round trip: index update, lease change, outbox due mark
                    reply = await self._r.run(
                        "commit", [*task_keys, *lease_keys, *index_keys],
                        [*index_args, *lease_args, *args])
                code, version = reply[0], reply[1]
                if code != 2 or attempt or start is None:
                    break
                start = None  # the stored history is not what we extend: send it all
            if code != 1:
                self._forget(key)
                raise ConcurrentTaskModificationError(task.id)
            queued = int(reply[3])
            if self._r.cluster:  # the indexes are in another slot: a second, idempotent call
                await self._r.run("index", list(index_keys),
                                  [index_args[0], int(version), *index_args[1:]])
                if queued:  # the due set is in another slot too
                    await self._r.client.zadd(self._r.keys.outbox_due,
                                              {lease_args[3]: now_ms()}, lt=True)
        if queued and self.outbox_wakeup is not None:
            self.outbox_wakeup.set()
        if self._r.cluster and lease is not LeaseChange.KEEP and self.leases is not None:
            await self.leases.after_commit(scope, task.id, lease)
        return int(version), first, head, added

    async def save(
        self,
        task: Task,
        *,
        event: Event | None,
        prev: Task | None,
        prev_version: TaskVersion,
        context: ServerCallContext,
    ) -> TaskVersion:
        """Compare-and-set; CANCELED overwrites any non-terminal task; terminal is final."""
        del prev
        scope = scope_of(context)
        key = (scope.tenant, scope.agent, task.id)
        cancel = task.status.state == TaskState.TASK_STATE_CANCELED
        prev_int = _version(prev_version)
        event_bytes = stream_response_bytes(event) if event is not None else b""
        start = None if prev_version.is_missing else self._append_from(scope, task, prev_int,
                                                                         cancel)
        last_id = task.history[-1].message_id if task.history else ""
        version, first, head, added = await self._write(scope, task, [event_bytes], prev_int,
                                                        cancel, start)
        self._live.take(key)
        full = self._after_save(key, version, first, head, added)
        self._full.put(key, full)
        self._remember(key, version, first + len(added), last_id,
                       full.size if full is not None else 0)
        return TaskVersion(version)

    async def commit(self, scope: Scope, commit: Commit) -> TaskVersion:
        """One group commit: several versions, their events, the lease, in one round trip."""
        task = commit.task
        key = (scope.tenant, scope.agent, task.id)
        config = commit.push_config
        # Events are sent when they are logged, or queued for the inline config (a new task
        # that its first commit finishes has no log reader, nor other configs).
        notify = commit.log_events or config is not None
        steps = [b"" if step is None or not notify else stream_response_bytes(step)
                 for step in commit.steps]
        known = self._written.get(key)
        nbytes = known.nbytes if known is not None else 0
        start = None if commit.prev_version.is_missing else commit.stored_history
        last_id = task.history[-1].message_id if task.history else ""
        version, first, head, added = await self._write(
            scope, task, steps, _version(commit.prev_version), False, start, commit.lease,
            commit.log_events,
            ("", b"") if config is None else (config.id, config.SerializeToString()))
        self._full.take(key)  # the run holds the task; keep() hands it back
        if first == 0:
            nbytes = 0
        nbytes += len(head) + sum(len(m) for m in added)
        self._remember(key, version, first + len(added), last_id, nbytes)
        return TaskVersion(version)

    def keep(self, scope: Scope, task: Task, version: TaskVersion) -> None:
        """Hold the run's task object, so the next run on this replica skips the read.

        Only a task that can be continued: no run ever loads a finished one.
        """
        key = (scope.tenant, scope.agent, task.id)
        self._live.take(key)
        self._full.take(key)
        if task.status.state in TERMINAL_STATES:
            return
        known = self._written.get(key)
        if (known is None or known.version != _version(version)
                or known.length != len(task.history)):
            return  # not what this replica committed last: nothing to vouch for
        self._live.put(key, _Live(known.version, task, known.nbytes))

    def _after_save(self, key: _Key, version: int, first: int, head: bytes,
                    added: builtins.list[bytes]) -> _Full | None:
        """The stored task after a save, if this replica knows the history it extended."""
        if first == 0:  # replace: the save sent the whole history
            return untracked(_Full(version, len(added), head, b"".join(added)))
        known = self._full.get(key)
        # The script appended at ``first`` over version ``version - 1`` (every save adds 1).
        if known is None or known.version != version - 1 or known.length != first:
            return None
        return untracked(_Full(version, first + len(added), head,
                               known.history + b"".join(added)))

    def _index_keys(self, scope: Scope, task: Task) -> tuple[str, ...]:
        return self._context_index_keys(scope.tenant, scope.agent, task.context_id)

    def _build_index_keys(self, tenant: str, agent: str, context_id: str) -> tuple[str, ...]:
        sk = self._r.keys.scope(tenant, agent)
        return (sk.ixm, sk.ix, sk.ix_ctx(context_id), sk.ctx(context_id),
                *(sk.ix_state(s) for s in _STATES))

    async def _raw(self, scope: Scope, task_id: str, length: int) -> list[Any] | None:
        """The get script's reply for the last ``length`` messages (-1: all)."""
        keys = self._keys(scope, task_id)
        with self._r.errors():
            raw: list[Any] | None = await self._r.run("get", [keys.task, keys.hist], [length])
        return raw

    async def _read(self, scope: Scope, task_id: str, length: int) -> tuple[Task, int] | None:
        raw = await self._raw(scope, task_id, length)
        return None if raw is None else _assemble(raw)

    async def _get(self, scope: Scope, task_id: str, take: bool) -> StoredTask | None:
        """The whole task, asking Redis only whether it changed when this replica holds it.

        ``take``: the caller will change the task: a held object is handed over rather than
        copied, and no bytes are kept for it.
        """
        key = (scope.tenant, scope.agent, task_id)
        keys = self._keys(scope, task_id)
        live = self._live.take(key) if take else self._live.get(key)
        known: _Live | _Full | None = live if live is not None else self._full.get(key)
        with self._r.errors():
            raw = await self._r.run("get", [keys.task, keys.hist],
                                    [-1] if known is None else [-1, known.tag])
        if raw is None:
            self._forget(key)
            return None
        if known is not None and not isinstance(raw, list):  # unchanged since we held it
            if isinstance(known, _Live):
                task = known.task if take else _copy(known.task)
                nbytes = known.nbytes
            else:
                self._full.touch(key)
                task, nbytes = Task.FromString(known.head + known.history), known.size
            version = known.version
        else:
            history = _history(raw)
            task, version = Task.FromString(raw[0] + history), int(raw[1])
            nbytes = len(raw[0]) + len(history)
            if not take:
                self._full.put(key, untracked(_Full(version, int(raw[3]), raw[0], history)))
        last_id = task.history[-1].message_id if task.history else ""
        self._remember(key, version, len(task.history), last_id, nbytes)
        return StoredTask(task, TaskVersion(version))

    async def get(self, task_id: str, context: ServerCallContext) -> StoredTask | None:
        """The task with its full history and its version (one round trip).

        When this replica holds the task as stored at some version (it wrote or read it
        last), the get script is sent that version and history length and answers
        "unchanged" without reading the history; the task is then built from what the
        replica holds (a fresh object: the SDK mutates what it gets).
        """
        return await self._get(scope_of(context), task_id, take=False)

    async def load(self, scope: Scope, task_id: str) -> StoredTask | None:
        """Like ``get``, for a run: a task object this replica holds is handed over, not copied."""
        return await self._get(scope, task_id, take=True)

    async def get_task_view(
        self, scope: Scope, task_id: str, history_length: int | None
    ) -> Task | None:
        """The task with its last ``history_length`` messages: LRANGE -N -1, O(N)."""
        found = await self._read(scope, task_id, -1 if history_length is None else history_length)
        return None if found is None else found[0]

    async def get_task_view_bytes(
        self, scope: Scope, task_id: str, history_length: int | None
    ) -> bytes | None:
        """The view as stored: head and framed messages as Redis holds them, never parsed."""
        raw = await self._raw(scope, task_id, -1 if history_length is None else history_length)
        return None if raw is None else raw[0] + _history(raw)

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        """Remove every key of the task and its index entries."""
        scope = scope_of(context)
        found = await self._read(scope, task_id, 0)
        keys = self._keys(scope, task_id)
        with self._r.errors():
            await self._r.client.delete(*keys.all)
            if found is not None:
                await self._unindex(scope, task_id, found[0].context_id)
        self._forget((scope.tenant, scope.agent, task_id))

    async def _unindex(self, scope: Scope, task_id: str, context_id: str | None) -> None:
        sk = self._r.keys.scope(scope.tenant, scope.agent)
        ctx_ix = sk.ix_ctx(context_id) if context_id is not None else sk.ix
        await self._r.run("unindex", [sk.ixm, sk.ix, ctx_ix, *(sk.ix_state(s) for s in _STATES)],
                          [task_id])

    async def scrub(self, scope: Scope, task_id: str) -> None:
        """Clear history, artifacts, the status message and the event log (CAS on the version)."""
        keys = self._keys(scope, task_id)
        for _ in range(10):
            found = await self._read(scope, task_id, 0)
            if found is None:
                return
            task, version = found
            task.ClearField("artifacts")
            task.status.ClearField("message")
            with self._r.errors():
                if await self._r.run("put", [keys.task, keys.hist, keys.events],
                                     [version, task.SerializeToString(), 1]):
                    self._forget((scope.tenant, scope.agent, task_id))
                    return
        raise ConcurrentTaskModificationError(task_id)

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        """ListTasks from the lex-ordered indexes: the SDK's filters, order and page tokens."""
        scope = scope_of(context)
        sk = self._r.keys.scope(scope.tenant, scope.agent)
        low = "-"
        if params.HasField("status_timestamp_after"):
            low = "[" + sort_member(True, params.status_timestamp_after.ToNanoseconds(), "")
        high = await self._upper_bound(sk, params.page_token)
        page_size = params.page_size or DEFAULT_LIST_TASKS_PAGE_SIZE
        with self._r.errors():
            members, total = await self._members(sk, params, low, high, page_size + 1)
        more = len(members) > page_size
        members = members[:page_size]
        length = params.history_length if params.HasField("history_length") else -1
        tasks = await self._load_many(scope, sk, [m[_MEMBER_PREFIX:] for m in members], length)
        next_token = ""
        if more and tasks:
            last = members[-1]
            ts = int(last[1:21]) if last[0] == "1" else None
            next_token = encode_list_tasks_cursor(ListTasksCursor(timestamp_ns=ts,
                                                                  task_id=last[_MEMBER_PREFIX:]))
        return ListTasksResponse(next_page_token=next_token, tasks=tasks, total_size=total,
                                 page_size=page_size)

    async def _upper_bound(self, sk: ScopeKeys, token: str) -> str:
        if not token:
            return "+"
        cursor = decode_list_tasks_cursor(token)
        if cursor is not None:
            return "(" + sort_member(cursor.timestamp_ns is not None, cursor.timestamp_ns or 0,
                                     cursor.task_id)
        task_id = decode_page_token(token)
        with self._r.errors():
            meta = await self._r.client.hget(sk.ixm, task_id)
        if meta is None:
            raise InvalidParamsError(f"Invalid page token: {token}")
        member: str = meta.decode().split("|", 2)[2]
        return "[" + member

    async def _members(self, sk: ScopeKeys, params: ListTasksRequest, low: str, high: str,
                       count: int) -> tuple[builtins.list[str], int]:
        client = self._r.client
        if params.context_id:
            key = sk.ix_ctx(params.context_id)
        elif params.status:
            key = sk.ix_state(int(params.status) if int(params.status) in _STATES else 0)
        else:
            key = sk.ix
        if not (params.context_id and params.status):
            raw = await client.zrange(key, high, low, desc=True, bylex=True, offset=0, num=count)
            total = await client.zlexcount(key, low, "+")
            return [m.decode() for m in raw], int(total)
        # Context and state together: a context is small, filter its index by state.
        raw = [m.decode() for m in await client.zrange(key, "+", low, desc=True, bylex=True)]
        ids = [m[_MEMBER_PREFIX:] for m in raw]
        metas = await client.hmget(sk.ixm, ids) if ids else []
        wanted = str(int(params.status))
        matching = [m for m, meta in zip(raw, metas, strict=True)
                    if meta is not None and meta.decode().split("|", 2)[1] == wanted]
        bound = high[1:] if high != "+" else None
        inclusive = high.startswith("[")
        after = [m for m in matching
                 if bound is None or m < bound or (inclusive and m == bound)]
        return after[:count], len(matching)

    async def _load_many(self, scope: Scope, sk: ScopeKeys, task_ids: builtins.list[str],
                         length: int) -> builtins.list[Task]:
        del sk
        found = await asyncio.gather(*(self._read(scope, t, length) for t in task_ids))
        tasks: builtins.list[Task] = []
        for task_id, item in zip(task_ids, found, strict=True):
            if item is None:  # expired by retention: drop the stale index entry
                with self._r.errors():
                    await self._unindex(scope, task_id, None)
                continue
            tasks.append(item[0])
        return tasks


def stored_context(scope: Scope) -> ServerCallContext:
    """A call context for store calls made outside a request (reaper)."""
    return ServerCallContext(state={SCOPE_KEY: scope})
