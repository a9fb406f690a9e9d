"""Usage counters on Redis: one hash per tenant, agent and UTC day (see ``_keys``)."""

from __future__ import annotations

from datetime import date, timedelta

from a2a_server.agents.usage import Usage
from a2a_server.stores._redis_base import RedisContext
from a2a_server.stores.base import Scope
from a2a_server.stores.usage import MAX_DAYS, UsageCounters, UsageDay, fields_of, today

USAGE_TTL_MS = 400 * 24 * 3600 * 1000  # a day's counters are kept for 400 days


class RedisUsageCounters(UsageCounters):
    """``HINCRBY`` in one script per call; a range is one script over the days' keys."""

    def __init__(self, redis: RedisContext) -> None:
        self._r = redis

    async def add(self, scope: Scope, usage: Usage, model: str, day: date | None = None) -> None:
        """Count one call (one round trip)."""
        key = self._r.keys.usage(scope.tenant, scope.agent, (day or today()).isoformat())
        args: list[str | int] = [USAGE_TTL_MS, usage.currency]
        for name, value in fields_of(usage, model).items():
            args += [name, value]
        with self._r.errors():
            await self._r.run("usage_add", [key], args)

    async def days(self, scope: Scope, first: date, last: date) -> list[UsageDay]:
        """The counted days of the range (at most ``MAX_DAYS``)."""
        span = min((last - first).days + 1, MAX_DAYS)
        if span <= 0:
            return []
        dates = [first + timedelta(days=n) for n in range(span)]
        keys = [self._r.keys.usage(scope.tenant, scope.agent, d.isoformat()) for d in dates]
        with self._r.errors():
            replies = await self._r.run("usage_get", keys, [])
        out = []
        for day, reply in zip(dates, replies, strict=True):
            if not reply:
                continue
            item = UsageDay(day)
            for name, value in zip(reply[::2], reply[1::2], strict=True):
                item.add_field(name.decode(), value.decode())
            out.append(item)
        return out
