"""Usage counters per tenant and agent, by UTC day: the contract and the in-memory backend.

Counts are integers so that concurrent additions from any number of replicas sum
exactly (Redis ``HINCRBY``): tokens, calls, and the estimated cost in billionths
of the currency unit. Each model also has its own tokens and calls.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from a2a_server.agents.usage import DEFAULT_CURRENCY, Usage
from a2a_server.stores.base import Scope

NANOS = 1_000_000_000
MAX_DAYS = 366  # the longest range one read may cover


@dataclass
class UsageDay:
    """One day's counters of one scope."""

    day: date
    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    cost_nanos: int = 0
    priced: bool = False
    currency: str = DEFAULT_CURRENCY
    models: dict[str, dict[str, int]] = field(default_factory=dict)

    def add_field(self, name: str, value: int | str) -> None:
        """Read one stored field (``in``, ``out``, ``calls``, ``cost``, ``cur``, ``m:<model>:<k>``)."""
        if name == "cur":
            self.currency = str(value)
            return
        number = int(value)
        if name.startswith("m:"):
            model, _, kind = name[2:].rpartition(":")
            self.models.setdefault(model, {"input_tokens": 0, "output_tokens": 0, "calls": 0})
            key = {"in": "input_tokens", "out": "output_tokens", "calls": "calls"}.get(kind)
            if key:
                self.models[model][key] += number
            return
        if name == "in":
            self.input_tokens += number
        elif name == "out":
            self.output_tokens += number
        elif name == "calls":
            self.calls += number
        elif name == "cost":
            self.cost_nanos += number
            self.priced = True

    def to_json(self) -> dict[str, Any]:
        """The day as ``GET /agents/{id}/usage`` shows it."""
        out: dict[str, Any] = {
            "date": self.day.isoformat(), "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens, "calls": self.calls,
            "currency": self.currency,
            "models": {name: {**m, "total_tokens": m["input_tokens"] + m["output_tokens"]}
                       for name, m in sorted(self.models.items())},
        }
        if self.priced:
            out["estimated_cost"] = round(self.cost_nanos / NANOS, 9)
        return out


def fields_of(usage: Usage, model: str) -> dict[str, int]:
    """The counter increments of one model call."""
    increments = {"in": usage.input_tokens, "out": usage.output_tokens, "calls": 1,
                  f"m:{model}:in": usage.input_tokens, f"m:{model}:out": usage.output_tokens,
                  f"m:{model}:calls": 1}
    if usage.estimated_cost is not None:
        increments["cost"] = round(usage.estimated_cost * NANOS)
    return increments


def today() -> date:
    """The current UTC day (the bucket a call is counted in)."""
    return datetime.now(UTC).date()


class UsageCounters(ABC):
    """Per-scope, per-day usage counters."""

    @abstractmethod
    async def add(self, scope: Scope, usage: Usage, model: str, day: date | None = None) -> None:
        """Count one model call (``day``: today, UTC)."""

    @abstractmethod
    async def days(self, scope: Scope, first: date, last: date) -> list[UsageDay]:
        """The days from ``first`` to ``last`` (inclusive) that have counts, in order."""


class InMemoryUsageCounters(UsageCounters):
    """Counters in a dict (one process)."""

    def __init__(self) -> None:
        self._days: dict[tuple[str, date], dict[str, int]] = defaultdict(dict)
        self._currency: dict[tuple[str, date], str] = {}
        self._lock = asyncio.Lock()

    async def add(self, scope: Scope, usage: Usage, model: str, day: date | None = None) -> None:
        """Add the call's counts."""
        key = (scope.owner, day or today())
        counters = self._days[key]
        for name, value in fields_of(usage, model).items():
            counters[name] = counters.get(name, 0) + value
        self._currency[key] = usage.currency

    async def days(self, scope: Scope, first: date, last: date) -> list[UsageDay]:
        """Every counted day in the range."""
        out = []
        for (owner, day), counters in sorted(self._days.items(), key=lambda kv: kv[0][1]):
            if owner != scope.owner or not first <= day <= last:
                continue
            item = UsageDay(day)
            for name, value in counters.items():
                item.add_field(name, value)
            item.currency = self._currency.get((owner, day), DEFAULT_CURRENCY)
            out.append(item)
        return out
