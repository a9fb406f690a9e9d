"""Cross-replica delivery on Redis Streams: task events, and cancels sent to a lease holder.

Events are XADDed by the save script (entry id ``<version>-0``), so ``publish``
has nothing left to do and a subscriber reads with ``XREAD BLOCK`` from the
version it already has: no polling, no gap, no duplicate.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime
from typing import Any

from a2a.server.cluster import (
    ConcurrentTaskModificationError,
    TaskVersion,
    VersionedEvent,
)
from a2a.server.events.event_queue import Event
from a2a.types.a2a_pb2 import (
    Message,
    Part,
    Role,
    StreamResponse,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)

from a2a_server.errors import StoreUnavailable, TaskLost
from a2a_server.stores._redis_base import (
    UNAVAILABLE_ERRORS,
    RedisContext,
    follow_stream,
    stop_if_cancelling,
)
from a2a_server.stores.base import (
    TERMINAL_STATES,
    EventLog,
    LeaseChange,
    LeaseManager,
    Scope,
    current_scope,
)
from a2a_server.stores.redis_tasks import RedisTaskStore, stored_context

logger = logging.getLogger(__name__)

_BLOCK_MS = 2_000
_CANCEL_MAXLEN = 1_000
_CANCEL_TTL_S = 86_400
_SEP = "\x1f"
INTERRUPTED_STATES = frozenset({TaskState.TASK_STATE_INPUT_REQUIRED,
                                TaskState.TASK_STATE_AUTH_REQUIRED})
LEASE_LOST_REASON = "the replica running this task stopped (its lease expired); task failed"


def stream_response_to_event(response: StreamResponse) -> Event:
    """A StreamResponse back to the SDK event it wraps."""
    which = response.WhichOneof("payload")
    if which is None:
        raise ValueError("StreamResponse without payload")
    return getattr(response, which)


def _version(value: TaskVersion) -> int:
    raw = value._value
    return raw if isinstance(raw, int) else int(raw)


def _parse(fields: dict[bytes, bytes]) -> VersionedEvent:
    response = StreamResponse.FromString(fields[b"e"])
    return VersionedEvent(stream_response_to_event(response), TaskVersion(int(fields[b"v"])))


class RedisEventStream(EventLog):
    """Per-task Redis Streams; subscribers block in XREAD."""

    def __init__(self, redis: RedisContext) -> None:
        self._r = redis

    async def publish(self, task_id: str, event: VersionedEvent) -> None:
        """Nothing to do: the save script appended the event atomically with the version."""
        del task_id, event

    async def subscribe(
        self, task_id: str, *, after: TaskVersion
    ) -> AsyncGenerator[VersionedEvent, None]:
        """Every event after version ``after``, then each new one as it is saved.

        Raises:
            TaskLost: an ``XREAD BLOCK`` round (``_BLOCK_MS``) brought nothing and the task's
                ``:task`` key is gone: the store lost the task (a Redis restarted empty, a
                failover that lost its writes); nothing will ever be appended again.
        """
        scope = current_scope()
        keys = self._r.keys.task(scope.tenant, scope.agent, task_id)
        cursor = "0-0" if after.is_missing else f"{_version(after)}-0"
        while True:
            with self._r.errors():
                reply = await self._r.client.xread({keys.events: cursor}, count=100,
                                                   block=_BLOCK_MS)
                if not reply and not await self._r.client.exists(keys.task):
                    logger.warning("task %s vanished from the store; its subscriber is told",
                                   task_id)
                    raise TaskLost(task_id)
            for _stream, entries in reply or []:
                for entry_id, fields in entries:
                    cursor = entry_id.decode()
                    yield _parse(fields)

    async def replay(self, task_id: str, *, after: TaskVersion) -> list[VersionedEvent] | None:
        """XRANGE after the version's entry; None once the log expired (or never existed)."""
        scope = current_scope()
        key = self._r.keys.task(scope.tenant, scope.agent, task_id).events
        start = "-" if after.is_missing else f"({_version(after)}-0"
        with self._r.errors():
            if not await self._r.client.exists(key):
                return None
            entries = await self._r.client.xrange(key, start, "+")
        return [_parse(fields) for _, fields in entries]

    async def destroy(self, task_id: str) -> None:
        """Keep the log: late subscribers replay it; retention expires it with the task."""
        del task_id


class RedisLeaseManager(LeaseManager):
    """Leases on running tasks (SET PX + an expiry sorted set), a reaper, and cancel delivery.

    A run claims its lease inside the commit that leaves its agent running and releases it
    inside its last commit (``commit_args``, single Redis: the same script as the save; Redis
    Cluster: ``after_commit``, two calls per change), and renews it every third of its
    length in between.
    """

    def __init__(self, redis: RedisContext, tasks: RedisTaskStore, replica_id: str,
                 lease_seconds: float) -> None:
        self._r = redis
        self._tasks = tasks
        self.replica_id = replica_id
        self._lease_ms = max(int(lease_seconds * 1000), 100)
        self.renew_every = self._lease_ms / 3000
        tasks.leases = self
        self._cancels: asyncio.Queue[tuple[Scope, str]] = asyncio.Queue()

    def commit_args(self, scope: Scope, task_id: str,
                    change: LeaseChange) -> tuple[list[str], list[Any]]:
        """KEYS (the task's :lease, the expiry set) and ARGV of a commit's lease change."""
        keys = [self._r.keys.task(scope.tenant, scope.agent, task_id).lease, self._r.keys.leases]
        member = self._r.keys.lease_member(scope.tenant, scope.agent, task_id)
        expiry = int(time.time() * 1000) + self._lease_ms
        return keys, [change.value, self.replica_id, self._lease_ms, member, expiry]

    async def after_commit(self, scope: Scope, task_id: str, change: LeaseChange) -> None:
        """Redis Cluster: the lease change of a commit, made after its save."""
        if change is LeaseChange.CLAIM:
            await self._claim(scope, task_id)
        elif change is LeaseChange.RELEASE:
            await self._release(scope, task_id)

    async def _claim(self, scope: Scope, task_id: str, *, renewal: bool = False) -> None:
        keys = self._r.keys.task(scope.tenant, scope.agent, task_id)
        member = self._r.keys.lease_member(scope.tenant, scope.agent, task_id)
        expiry = time.time() * 1000 + self._lease_ms
        with self._r.errors():
            if not self._r.cluster:  # one round trip
                lease_keys = [keys.lease, self._r.keys.leases]
                if renewal:
                    lease_keys.append(keys.task)
                if not await self._r.run("lease_claim", lease_keys,
                                         [self.replica_id, self._lease_ms, member, expiry]):
                    raise TaskLost(task_id)
                return
            if renewal and not await self._r.client.exists(keys.task):
                raise TaskLost(task_id)
            await self._r.client.set(keys.lease, self.replica_id, px=self._lease_ms)
            await self._r.client.zadd(self._r.keys.leases, {member: expiry})

    async def renew(self, scope: Scope, task_id: str) -> None:
        """Extend the lease by its full length from now.

        Raises:
            TaskLost: the task is gone from the store (nothing is renewed).
        """
        await self._claim(scope, task_id, renewal=True)

    async def release(self, scope: Scope, task_id: str) -> None:
        """Drop the lease if this replica holds it (and its expiry entry)."""
        await self._release(scope, task_id)

    async def _release(self, scope: Scope, task_id: str) -> None:
        keys = self._r.keys.task(scope.tenant, scope.agent, task_id)
        member = self._r.keys.lease_member(scope.tenant, scope.agent, task_id)
        with self._r.errors():
            if not self._r.cluster:  # one round trip
                await self._r.run("lease_release", [keys.lease, self._r.keys.leases],
                                  [self.replica_id, member])
                return
            await self._r.run("lease_release", [keys.lease], [self.replica_id])
            await self._r.client.zrem(self._r.keys.leases, member)

    async def request_cancel(self, scope: Scope, task_id: str) -> None:
        """Send the task id to the replica named by the task's lease, if any."""
        keys = self._r.keys.task(scope.tenant, scope.agent, task_id)
        with self._r.errors():
            holder = await self._r.client.get(keys.lease)
            if holder is None:
                return
            stream = self._r.keys.cancels(holder.decode())
            await self._r.client.xadd(stream, {"t": task_id, "s": f"{scope.tenant}{_SEP}{scope.agent}"},
                                      maxlen=_CANCEL_MAXLEN, approximate=True)
            await self._r.client.expire(stream, _CANCEL_TTL_S)

    async def start_cancel_reader(self) -> asyncio.Task[None]:
        """Start reading this replica's cancel stream from its current end.

        The position is taken before this returns, so a cancel sent after start-up is
        never missed (if Redis is unreachable now, the retained entries are read:
        stopping a task this replica does not run is a no-op).
        """
        key = self._r.keys.cancels(self.replica_id)
        try:
            last = await self._r.client.xrevrange(key, "+", "-", count=1)
            cursor = last[0][0].decode() if last else "0-0"
        except UNAVAILABLE_ERRORS:
            cursor = "0-0"
        return asyncio.create_task(self._read_cancels(key, cursor))

    async def _read_cancels(self, key: str, cursor: str) -> None:
        async for _, fields in follow_stream(self._r.client, key, cursor, block_ms=_BLOCK_MS):
            tenant, _, agent = fields[b"s"].decode().partition(_SEP)
            self._cancels.put_nowait((Scope(tenant, agent), fields[b"t"].decode()))

    async def cancellations(self) -> AsyncIterator[tuple[Scope, str]]:
        """Tasks other replicas cancelled (read from this replica's cancel stream)."""
        while True:
            yield await self._cancels.get()

    async def reap_once(self) -> list[str]:
        """Fail every task whose lease expired; return their ids."""
        now = time.time() * 1000
        with self._r.errors():
            expired = await self._r.client.zrangebyscore(self._r.keys.leases, "-inf", now,
                                                         start=0, num=100)
        failed: list[str] = []
        for raw in expired:
            tenant, agent, task_id = self._r.keys.parse_lease_member(raw.decode())
            keys = self._r.keys.task(tenant, agent, task_id)
            with self._r.errors():
                if await self._r.client.exists(keys.lease):
                    continue  # renewed since; the next renewal moves its score
                if not await self._r.client.zrem(self._r.keys.leases, raw):
                    continue  # another replica took this one
            if await self._fail(Scope(tenant, agent), task_id):
                failed.append(task_id)
        return failed

    async def _fail(self, scope: Scope, task_id: str) -> bool:
        context = stored_context(scope)
        for _ in range(10):
            stored = await self._tasks.get(task_id, context)
            if stored is None or stored.task.status.state in TERMINAL_STATES:
                return False
            if stored.task.status.state in INTERRUPTED_STATES:
                return False  # waiting for the client, no executor running: nothing was lost
            task = stored.task
            if task.status.HasField("message"):
                task.history.append(task.status.message)
            status = TaskStatus(state=TaskState.TASK_STATE_FAILED, message=Message(
                role=Role.ROLE_AGENT, message_id=str(uuid.uuid4()), task_id=task_id,
                context_id=task.context_id, parts=[Part(text=LEASE_LOST_REASON)]))
            status.timestamp.FromDatetime(datetime.now(UTC))
            task.status.CopyFrom(status)
            event = TaskStatusUpdateEvent(task_id=task_id, context_id=task.context_id,
                                          status=status)
            try:
                await self._tasks.save(task, event=event, prev=None,
                                       prev_version=stored.version, context=context)
            except ConcurrentTaskModificationError:
                continue
            logger.warning("task %s failed: %s", task_id, LEASE_LOST_REASON)
            return True
        return False

    async def reaper(self) -> None:
        """Reap expired leases forever (every replica runs one; ZREM decides who fails a task)."""
        while True:
            await asyncio.sleep(self._lease_ms / 2000)
            try:
                await self.reap_once()
            except StoreUnavailable:
                stop_if_cancelling()
                continue
            except Exception:  # a bad record must not stop the loop
                stop_if_cancelling()
                logger.exception("lease reaper failed")
