"""Counters behind tenant quotas and idempotent sends: the interface and the in-memory backend.

``QuotaStore`` keeps, per tenant:

- fixed-window request counters (``hit``): requests per minute;
- bounded sets of slots (``acquire`` / ``renew`` / ``release``): concurrent running tasks,
  open streams. A slot expires unless its holder renews it, so the slots of a replica
  that died come free after ``slot_ms``;
- idempotency claims (``claim`` / ``get`` / ``put`` / ``release``): the first request with
  an ``Idempotency-Key`` claims it atomically; retries read what it recorded.

Every operation is one atomic step: in Redis one script or command (one round trip, see
``redis_quotas``), here one synchronous block of the event loop.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from a2a_server.stores.base import Stores


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to ``hit`` or ``acquire``."""

    admitted: bool
    used: int  # requests counted in the window / slots held, after this call
    reset_ms: int  # until the window resets (hit) / the earliest slot expires (refused acquire)


class QuotaStore(ABC):
    """Quota counters and idempotency claims, shared by every replica of a backend."""

    @abstractmethod
    async def hit(self, tenant: str, windows: Sequence[tuple[str, int]],
                  window_ms: int) -> list[Decision]:
        """Count one request in each of the tenant's ``(name, limit)`` windows, if all have room.

        Each decision's ``admitted`` says whether its window had room; the request was
        counted (everywhere) only if all did.
        """

    @abstractmethod
    async def acquire(self, tenant: str, name: str, holder: str, limit: int,
                      slot_ms: int) -> Decision:
        """Take a slot for ``holder`` if fewer than ``limit`` are held (expiring after ``slot_ms``)."""

    @abstractmethod
    async def renew(self, tenant: str, name: str, holder: str, slot_ms: int) -> bool:
        """Extend ``holder``'s slot; False if it was lost (expired)."""

    @abstractmethod
    async def release(self, tenant: str, name: str, holder: str) -> None:
        """Give ``holder``'s slot back."""

    @abstractmethod
    async def claim(self, tenant: str, agent: str, digest: str, value: bytes,
                    ttl_ms: int) -> bytes | None:
        """Record ``value`` under the key if it is free: None if claimed, else what is there."""

    @abstractmethod
    async def get_claim(self, tenant: str, agent: str, digest: str) -> bytes | None:
        """What is recorded under the key, if anything."""

    @abstractmethod
    async def put_claim(self, tenant: str, agent: str, digest: str, value: bytes,
                        ttl_ms: int) -> None:
        """Replace what is recorded under the key (the claimant completing its record)."""

    @abstractmethod
    async def release_claim(self, tenant: str, agent: str, digest: str, value: bytes) -> None:
        """Drop the claim if it still holds ``value`` (the claimant failed before any task)."""


_SWEEP_MIN = 1024


def _now_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class InMemoryQuotaStore(QuotaStore):
    """One process's counters (the embedded backend: a single replica)."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, str], tuple[int, int]] = {}  # -> (count, reset at)
        self._slots: dict[tuple[str, str], dict[str, int]] = {}  # holder -> expiry
        self._claims: dict[tuple[str, str, str], tuple[bytes, int]] = {}  # -> (value, expiry)
        self._next_sweep = _SWEEP_MIN

    async def hit(self, tenant: str, windows: Sequence[tuple[str, int]],
                  window_ms: int) -> list[Decision]:
        """See ``QuotaStore.hit``."""
        now = _now_ms()
        current = []
        for name, limit in windows:
            count, reset_at = self._windows.get((tenant, name), (0, 0))
            if reset_at <= now:
                count, reset_at = 0, now + window_ms
            current.append((name, count < limit, count, reset_at))
        if not all(room for _, room, _, _ in current):
            return [Decision(room, count, reset - now) for _, room, count, reset in current]
        for name, _, count, reset_at in current:
            self._windows[(tenant, name)] = (count + 1, reset_at)
        return [Decision(True, count + 1, reset - now) for _, _, count, reset in current]

    def _live(self, tenant: str, name: str) -> dict[str, int]:
        now = _now_ms()
        slots = self._slots.setdefault((tenant, name), {})
        for holder in [h for h, expiry in slots.items() if expiry <= now]:
            del slots[holder]
        return slots

    async def acquire(self, tenant: str, name: str, holder: str, limit: int,
                      slot_ms: int) -> Decision:
        """See ``QuotaStore.acquire``."""
        slots = self._live(tenant, name)
        if len(slots) >= limit:
            return Decision(False, len(slots), max(min(slots.values()) - _now_ms(), 0))
        slots[holder] = _now_ms() + slot_ms
        return Decision(True, len(slots), 0)

    async def renew(self, tenant: str, name: str, holder: str, slot_ms: int) -> bool:
        """See ``QuotaStore.renew``."""
        slots = self._live(tenant, name)
        if holder not in slots:
            return False
        slots[holder] = _now_ms() + slot_ms
        return True

    async def release(self, tenant: str, name: str, holder: str) -> None:
        """See ``QuotaStore.release``."""
        self._live(tenant, name).pop(holder, None)

    def _claim(self, key: tuple[str, str, str]) -> bytes | None:
        found = self._claims.get(key)
        if found is None:
            return None
        if found[1] <= _now_ms():
            del self._claims[key]
            return None
        return found[0]

    async def claim(self, tenant: str, agent: str, digest: str, value: bytes,
                    ttl_ms: int) -> bytes | None:
        """See ``QuotaStore.claim``."""
        key = (tenant, agent, digest)
        existing = self._claim(key)
        if existing is not None:
            return existing
        if len(self._claims) >= self._next_sweep:
            self._sweep()
        self._claims[key] = (value, _now_ms() + ttl_ms)
        return None

    def _sweep(self) -> None:
        """Drop expired claims (amortized: when the table doubled since the last sweep)."""
        now = _now_ms()
        for key in [k for k, (_, expiry) in self._claims.items() if expiry <= now]:
            del self._claims[key]
        self._next_sweep = max(2 * len(self._claims), _SWEEP_MIN)

    async def get_claim(self, tenant: str, agent: str, digest: str) -> bytes | None:
        """See ``QuotaStore.get_claim``."""
        return self._claim((tenant, agent, digest))

    async def put_claim(self, tenant: str, agent: str, digest: str, value: bytes,
                        ttl_ms: int) -> None:
        """See ``QuotaStore.put_claim``."""
        self._claims[(tenant, agent, digest)] = (value, _now_ms() + ttl_ms)

    async def release_claim(self, tenant: str, agent: str, digest: str, value: bytes) -> None:
        """See ``QuotaStore.release_claim``."""
        if self._claim((tenant, agent, digest)) == value:
            del self._claims[(tenant, agent, digest)]


def create_quota_store(stores: Stores) -> QuotaStore:
    """The quota store of a backend: on the same Redis as ``stores``, or in memory."""
    from a2a_server.stores.redis import RedisStores

    if isinstance(stores, RedisStores):
        from a2a_server.stores.redis_quotas import RedisQuotaStore

        return RedisQuotaStore(stores.redis)
    return InMemoryQuotaStore()
