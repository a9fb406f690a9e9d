"""Quota counters and idempotency claims on Redis: one script or command per call.

Keys (see ``_keys``): ``a2a:{q:<t>}:<name>`` per tenant (one slot per tenant, so a
tenant's counters never contend with another's), ``a2a:{q:<t>}:idem:<a>:<digest>``
per idempotency key. Every key has a TTL: the window, the slot length, the claim's.
Slot expiry uses Redis' clock (``TIME``), so replicas need not agree on theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

from a2a_server.stores._pipeline import Script
from a2a_server.stores._redis_base import RedisContext
from a2a_server.stores.quotas import Decision, QuotaStore

_SCRIPTS = ("quota_hit", "quota_acquire", "quota_renew", "idem_release")


class RedisQuotaStore(QuotaStore):
    """``QuotaStore`` on the backend's Redis."""

    def __init__(self, redis: RedisContext) -> None:
        self._redis = redis
        lua = resources.files("a2a_server.stores") / "lua"
        sources = {name: (lua / f"{name}.lua").read_text() for name in _SCRIPTS}
        self._fast = {name: Script(source) for name, source in sources.items()}
        self._scripts = {name: redis.client.register_script(source)
                         for name, source in sources.items()}

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        with self._redis.errors():
            if self._redis.pipelined is not None:
                return await self._redis.pipelined.evalsha(self._fast[name], keys, args)
            return await self._scripts[name](keys=keys, args=args)

    async def hit(self, tenant: str, windows: Sequence[tuple[str, int]],
                  window_ms: int) -> list[Decision]:
        """See ``QuotaStore.hit``: one script over the tenant's counters (one hash slot)."""
        keys = [self._redis.keys.quota(tenant, name) for name, _ in windows]
        found = await self._run("quota_hit", keys, [window_ms, *(limit for _, limit in windows)])
        return [Decision(bool(room), int(used), int(reset)) for room, used, reset in found]

    async def acquire(self, tenant: str, name: str, holder: str, limit: int,
                      slot_ms: int) -> Decision:
        """See ``QuotaStore.acquire``."""
        key = self._redis.keys.quota(tenant, name)
        admitted, used, reset = await self._run("quota_acquire", [key], [limit, slot_ms, holder])
        return Decision(bool(admitted), int(used), max(int(reset), 0))

    async def renew(self, tenant: str, name: str, holder: str, slot_ms: int) -> bool:
        """See ``QuotaStore.renew``."""
        key = self._redis.keys.quota(tenant, name)
        return bool(await self._run("quota_renew", [key], [slot_ms, holder]))

    async def release(self, tenant: str, name: str, holder: str) -> None:
        """See ``QuotaStore.release``."""
        with self._redis.errors():
            await self._redis.client.zrem(self._redis.keys.quota(tenant, name), holder)

    async def claim(self, tenant: str, agent: str, digest: str, value: bytes,
                    ttl_ms: int) -> bytes | None:
        """See ``QuotaStore.claim``: ``SET NX GET PX``, one atomic command (Redis >= 7)."""
        key = self._redis.keys.idempotency(tenant, agent, digest)
        with self._redis.errors():
            existing = await self._redis.client.set(key, value, nx=True, get=True, px=ttl_ms)
        return bytes(existing) if existing is not None else None

    async def get_claim(self, tenant: str, agent: str, digest: str) -> bytes | None:
        """See ``QuotaStore.get_claim``."""
        with self._redis.errors():
            found = await self._redis.client.get(self._redis.keys.idempotency(tenant, agent, digest))
        return bytes(found) if found is not None else None

    async def put_claim(self, tenant: str, agent: str, digest: str, value: bytes,
                        ttl_ms: int) -> None:
        """See ``QuotaStore.put_claim``."""
        with self._redis.errors():
            await self._redis.client.set(self._redis.keys.idempotency(tenant, agent, digest),
                                         value, px=ttl_ms)

    async def release_claim(self, tenant: str, agent: str, digest: str, value: bytes) -> None:
        """See ``QuotaStore.release_claim``."""
        key = self._redis.keys.idempotency(tenant, agent, digest)
        await self._run("idem_release", [key], [value])
