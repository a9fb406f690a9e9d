"""The push outbox on Redis (see ``_keys``: a task's ``:outbox``, ``:plog``, ``:oblease`` and
the process-wide ``{outbox}`` due set).

The save script writes the entries with the commit (same script, same slot); this module is
the deliverers' side: which tasks are due, claiming one (a lease on the task's slot), reading,
acknowledging, and rescheduling. The due set is in another slot than the tasks, so every step
that touches both is ordered to lose nothing: a commit XADDs, then lowers the task's due time;
a deliverer re-scores (or removes) the task, then looks at the outbox again.

On a Redis Cluster each of those orderings is several calls, and a replica dying between
them (after a save, before its due mark; a deliverer between its ZREM and its second look)
leaves entries that are stored but not due. The entries themselves are safe in the task's
slot, so the sweeper only has to find them: once per ``push_sweep_seconds`` one replica (the
one whose ``SET NX PX`` on ``{outbox}:sweep`` wins) SCANs every master for ``:outbox`` streams,
in batches, and marks due (``ZADD NX``) each non-empty one missing from the due set. The
normal claim then delivers them, with their stable delivery ids (at least once). SCAN is never
on a request path; a single Redis never needs it (every step there is one script).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from a2a_server.stores._redis_base import RedisContext
from a2a_server.stores.base import OutboxEntry, PushOutbox, Scope
from a2a_server.stores.memory_outbox import now_ms

_LOG_TTL_S = 7 * 24 * 3600
_SWEEP_BATCH = 500  # keys per SCAN call, and per pipeline of checks
_SWEEP_PAUSE_S = 0.005  # between batches: a sweep never monopolizes a master


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _newer(entry_id: str, seen: str | None) -> bool:
    if not entry_id:
        return False
    if seen is None:
        return True
    a, b = entry_id.split("-"), seen.split("-")
    return (int(a[0]), int(a[1])) > (int(b[0]), int(b[1]))


class RedisOutbox(PushOutbox):
    """Deliverer-side operations on the outbox the save script fills."""

    def __init__(self, redis: RedisContext) -> None:
        super().__init__()
        self._r = redis

    def _member(self, scope: Scope, task_id: str) -> str:
        return self._r.keys.lease_member(scope.tenant, scope.agent, task_id)

    async def due(self, limit: int) -> list[tuple[Scope, str]]:
        """Tasks whose due time has come (one ZRANGEBYSCORE)."""
        with self._r.errors():
            raw = await self._r.client.zrangebyscore(self._r.keys.outbox_due, "-inf", now_ms(),
                                                     start=0, num=limit)
        found = []
        for member in raw:
            tenant, agent, task_id = self._r.keys.parse_lease_member(_text(member))
            found.append((Scope(tenant, agent), task_id))
        return found

    async def claim(self, scope: Scope, task_id: str, owner: str, lease_ms: int) -> bool:
        """The claim script on the task's slot; a won claim pushes the due time past the lease
        (other replicas stop trying), an empty outbox leaves the due set."""
        keys = self._r.keys.task(scope.tenant, scope.agent, task_id)
        member = self._member(scope, task_id)
        if not self._r.cluster:  # one script: every key is on the one Redis
            with self._r.errors():
                won = int(await self._r.run(
                    "outbox_claim", [keys.oblease, keys.outbox, self._r.keys.outbox_due],
                    [owner, lease_ms, member, now_ms()]))
            return won == 1
        with self._r.errors():
            won = int(await self._r.run("outbox_claim", [keys.oblease, keys.outbox],
                                        [owner, lease_ms]))
            if won == -1:
                await self._r.client.zrem(self._r.keys.outbox_due, member)
                left = await self._r.client.xlen(keys.outbox)
                if left:  # a commit landed between the two: keep it due
                    await self._r.client.zadd(self._r.keys.outbox_due, {member: now_ms()})
                return False
            if won == 1:
                await self._r.client.zadd(self._r.keys.outbox_due,
                                          {member: now_ms() + lease_ms}, xx=True)
        return won == 1

    async def pending(self, scope: Scope, task_id: str, limit: int) -> list[OutboxEntry]:
        """XRANGE from the start."""
        key = self._r.keys.task(scope.tenant, scope.agent, task_id).outbox
        with self._r.errors():
            raw = await self._r.client.xrange(key, "-", "+", count=limit)
        entries = []
        for entry_id, fields in raw:
            trace = fields.get(b"p")  # absent: tracing was off, or written before it existed
            entries.append(OutboxEntry(_text(entry_id), _text(fields[b"c"]), fields[b"e"],
                                       int(fields[b"t"]), _text(trace) if trace else ""))
        return entries

    async def ack(self, scope: Scope, task_id: str, entry_ids: Sequence[str]) -> None:
        """XDEL."""
        if not entry_ids:
            return
        key = self._r.keys.task(scope.tenant, scope.agent, task_id).outbox
        with self._r.errors():
            await self._r.command("XDEL", key, *entry_ids)

    async def release(self, scope: Scope, task_id: str, owner: str, next_due_ms: int | None,
                      seen: str | None) -> None:
        """Drop the claim, then re-score the task (or remove it), then look again (single
        Redis: all in ``outbox_done.lua``)."""
        keys = self._r.keys.task(scope.tenant, scope.agent, task_id)
        member = self._member(scope, task_id)
        due = self._r.keys.outbox_due
        if not self._r.cluster:  # one script: every key is on the one Redis
            version, n = seen.split("-") if seen else ("", "")
            with self._r.errors():
                await self._r.run("outbox_done", [keys.oblease, keys.outbox, due],
                                  [owner, member, next_due_ms or "", now_ms(), version, n])
            return
        with self._r.errors():
            left, last = await self._r.run("outbox_release", [keys.oblease, keys.outbox],
                                           [owner])
            if not int(left):
                await self._r.client.zrem(due, member)
            else:
                await self._r.client.zadd(due, {member: next_due_ms or now_ms()})
            _, last = await self._r.run("outbox_release", [keys.oblease, keys.outbox], [owner])
            if _newer(_text(last), seen):  # a commit queued more while this replica delivered
                await self._r.client.zadd(due, {member: now_ms()}, lt=True)

    async def sweep(self, owner: str, interval_ms: int) -> int:
        """Redis Cluster: mark due every non-empty outbox missing from the due set (see the
        module docstring); at most one replica per ``interval_ms`` sweeps."""
        if not self._r.cluster:
            return 0
        client, keys = self._r.client, self._r.keys
        with self._r.errors():
            if not await client.set(keys.outbox_sweep, owner, nx=True, px=interval_ms):
                return 0
            marked = 0
            batch: list[str] = []
            async for raw in client.scan_iter(match=keys.outbox_pattern, count=_SWEEP_BATCH,
                                              _type="stream"):
                batch.append(_text(raw))
                if len(batch) >= _SWEEP_BATCH:
                    marked += await self._mark_missing(batch)
                    batch = []
                    await asyncio.sleep(_SWEEP_PAUSE_S)
            if batch:
                marked += await self._mark_missing(batch)
        return marked

    async def _mark_missing(self, outboxes: list[str]) -> int:
        """ZADD NX now the tasks of ``outboxes`` that hold entries but are not in the due set."""
        keys, due = self._r.keys, self._r.keys.outbox_due
        tasks = [(key, parsed) for key in outboxes
                 if (parsed := keys.parse_outbox_key(key)) is not None]
        if not tasks:
            return 0
        pipe = self._r.client.pipeline(transaction=False)
        for key, _ in tasks:
            pipe.xlen(key)
        lengths = await pipe.execute()
        held = [keys.lease_member(*parsed) for (_, parsed), n in zip(tasks, lengths, strict=True)
                if int(n)]
        if not held:
            return 0
        pipe = self._r.client.pipeline(transaction=False)
        for member in held:
            pipe.zscore(due, member)
        scores = await pipe.execute()
        missing = [member for member, score in zip(held, scores, strict=True) if score is None]
        if missing:  # NX: a task a commit or a deliverer marked meanwhile keeps its time
            await self._r.client.zadd(due, dict.fromkeys(missing, now_ms()), nx=True)
        return len(missing)

    async def save_log(self, scope: Scope, task_id: str, config_id: str, log: bytes) -> None:
        """HSET, and keep the log a week after its last write."""
        key = self._r.keys.task(scope.tenant, scope.agent, task_id).plog
        with self._r.errors():  # both in one write on a single Redis (auto-pipelined)
            await asyncio.gather(self._r.command("HSET", key, config_id, log),
                                 self._r.command("EXPIRE", key, _LOG_TTL_S))

    async def load_log(self, scope: Scope, task_id: str, config_id: str) -> bytes | None:
        """HGET."""
        key = self._r.keys.task(scope.tenant, scope.agent, task_id).plog
        with self._r.errors():
            raw = await self._r.command("HGET", key, config_id)
        return raw if isinstance(raw, bytes) else None
