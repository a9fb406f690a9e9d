"""The in-memory push outbox: the Redis outbox's semantics within one process."""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from a2a.server.events import Event
from a2a.server.tasks import InMemoryPushNotificationConfigStore

from a2a_server.stores._wire import stream_response_bytes
from a2a_server.stores.base import OutboxEntry, PushOutbox, Scope

_Key = tuple[Scope, str]


def now_ms() -> int:
    """Wall-clock milliseconds (what Redis's TIME gives the Lua scripts)."""
    return time.time_ns() // 1_000_000


@dataclass
class _Box:
    entries: deque[OutboxEntry] = field(default_factory=deque)
    owner: str | None = None
    lease_until: int = 0
    last: str = ""


def _newer(entry_id: str, seen: str | None) -> bool:
    if seen is None:
        return True
    a, b = entry_id.split("-"), seen.split("-")
    return (int(a[0]), int(a[1])) > (int(b[0]), int(b[1]))


class InMemoryOutbox(PushOutbox):
    """Entries per task, a due time per task, a claim per task (nothing survives the process)."""

    def __init__(self, configs: InMemoryPushNotificationConfigStore) -> None:
        super().__init__()
        self._configs = configs
        self._boxes: dict[_Key, _Box] = {}
        self._due: dict[_Key, int] = {}
        self._logs: dict[_Key, dict[str, bytes]] = {}  # per task: config id -> its log

    def enqueue(self, scope: Scope, task_id: str, base_version: int,
                steps: Sequence[Event | None]) -> None:
        """Called by the task store with each commit: one entry per event and config.

        Costs one dict lookup for a task without configs.
        """
        configs = self._configs._get_owner_push_notification_infos(scope.owner).get(task_id)
        if not configs:
            return
        ids = [configs[0].id] if len(configs) == 1 else sorted(c.id for c in configs)
        box = self._boxes.setdefault((scope, task_id), _Box())
        created = now_ms()
        trace = self.trace_context() if self.trace_context is not None else ""
        for offset, step in enumerate(steps, start=1):
            if step is None:
                continue
            payload = stream_response_bytes(step)
            for n, config_id in enumerate(ids, start=1):
                entry = OutboxEntry(f"{base_version + offset}-{n}", config_id, payload, created,
                                    trace)
                box.entries.append(entry)
                box.last = entry.entry_id
        self._due[(scope, task_id)] = min(self._due.get((scope, task_id), created), created)
        self.wakeup.set()

    async def due(self, limit: int) -> list[tuple[Scope, str]]:
        """Tasks due now, earliest first."""
        now = now_ms()
        ready = heapq.nsmallest(limit, ((at, key) for key, at in self._due.items() if at <= now),
                                key=itemgetter(0))  # O(n log limit), keys never compared
        return [(key[0], key[1]) for _, key in ready]

    async def claim(self, scope: Scope, task_id: str, owner: str, lease_ms: int) -> bool:
        """One owner at a time; a lapsed claim can be taken."""
        box = self._boxes.get((scope, task_id))
        if box is None:
            self._due.pop((scope, task_id), None)
            return False
        now = now_ms()
        if box.owner not in (None, owner) and box.lease_until > now:
            return False
        box.owner, box.lease_until = owner, now + lease_ms
        return True

    async def pending(self, scope: Scope, task_id: str, limit: int) -> list[OutboxEntry]:
        """The oldest entries."""
        box = self._boxes.get((scope, task_id))
        return [] if box is None else list(box.entries)[:limit]

    async def ack(self, scope: Scope, task_id: str, entry_ids: Sequence[str]) -> None:
        """Drop the entries."""
        box = self._boxes.get((scope, task_id))
        if box is not None:
            gone = set(entry_ids)
            box.entries = deque(e for e in box.entries if e.entry_id not in gone)

    async def release(self, scope: Scope, task_id: str, owner: str, next_due_ms: int | None,
                      seen: str | None) -> None:
        """Schedule the next attempt (or forget the task) and drop the claim."""
        key = (scope, task_id)
        box = self._boxes.get(key)
        if box is None:
            return
        if box.owner == owner:
            box.owner, box.lease_until = None, 0
        if box.entries and box.last and _newer(box.last, seen):
            next_due_ms = now_ms()
        if not box.entries:
            del self._boxes[key]
            self._due.pop(key, None)
        elif next_due_ms is not None:
            self._due[key] = next_due_ms

    def forget(self, scope: Scope, task_id: str) -> None:
        """Drop a task's pending notifications and delivery logs (the task is gone)."""
        self._boxes.pop((scope, task_id), None)
        self._due.pop((scope, task_id), None)
        self._logs.pop((scope, task_id), None)

    async def save_log(self, scope: Scope, task_id: str, config_id: str, log: bytes) -> None:
        """Keep the log."""
        self._logs.setdefault((scope, task_id), {})[config_id] = log

    async def load_log(self, scope: Scope, task_id: str, config_id: str) -> bytes | None:
        """The log, if any."""
        return self._logs.get((scope, task_id), {}).get(config_id)
