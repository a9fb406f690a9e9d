"""A push config's delivery log: its state and its last attempts (JSON in the store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

MAX_ATTEMPTS = 20  # the last attempts kept per config

OK = "ok"  # the last notification was acknowledged
RETRYING = "retrying"  # a notification is waiting for its next attempt
FAILED = "failed"  # the last notification failed for good (final 4xx, too old, refused body)


@dataclass
class Attempt:
    """One POST (or one notification given up without a POST)."""

    at: int  # ms since the epoch
    delivery_id: str
    status: int | None  # HTTP status, None when no response came
    error: str | None
    next_retry_at: int | None  # ms, when this attempt is retried


@dataclass
class DeliveryLog:
    """The state of one config of one task, as the deliverer left it."""

    state: str = OK
    reason: str | None = None
    failures: int = 0  # consecutive retryable failures of the notification at the head
    next_retry_at: int | None = None
    delivered: int = 0
    last_error: str | None = None  # the last failure's reason (kept after later successes)
    last_error_at: int | None = None
    attempts: list[Attempt] = field(default_factory=list)

    def add(self, attempt: Attempt) -> None:
        """Record an attempt (the oldest beyond ``MAX_ATTEMPTS`` are dropped)."""
        self.attempts.append(attempt)
        del self.attempts[:-MAX_ATTEMPTS]
        if attempt.error is not None:
            self.last_error, self.last_error_at = attempt.error, attempt.at

    def dumps(self) -> bytes:
        """The stored form (orjson serializes dataclasses natively: ``asdict``'s deep copy
        cost ~100 us for a full log, once per config per delivery pass)."""
        return orjson.dumps(self)

    @classmethod
    def loads(cls, raw: bytes | None) -> DeliveryLog:
        """The stored form read back (an empty log for None)."""
        if raw is None:
            return cls()
        data: dict[str, Any] = orjson.loads(raw)
        attempts = [Attempt(**a) for a in data.pop("attempts", [])]
        return cls(**data, attempts=attempts)

    def to_json(self, task_id: str, config_id: str) -> dict[str, Any]:
        """The API's JSON (camelCase, times as RFC 3339)."""
        return {
            "taskId": task_id,
            "configId": config_id,
            "state": self.state,
            "reason": self.reason,
            "nextRetryAt": _rfc3339(self.next_retry_at),
            "delivered": self.delivered,
            "lastError": self.last_error,
            "lastErrorAt": _rfc3339(self.last_error_at),
            "attempts": [{
                "at": _rfc3339(a.at),
                "deliveryId": a.delivery_id,
                "status": a.status,
                "error": a.error,
                "nextRetryAt": _rfc3339(a.next_retry_at),
            } for a in reversed(self.attempts)],
        }


def _rfc3339(ms: int | None) -> str | None:
    if ms is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")
