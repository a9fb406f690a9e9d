"""What an agent's work cost, and where it is written on tasks and messages.

The contract every executor that calls a language model follows (the LLM agent,
experts, remote agents passing a remote's figures through), and every view that
reads it (A2A task objects, Corti's, the seed APIs' ``usage`` / ``model_used`` /
``provider`` fields, the console, ``/metrics``):

- ``Task.metadata``:
    ``usage``: ``{"input_tokens", "output_tokens", "total_tokens", "estimated_cost",
    "currency"}``, summed over every turn, tool loop and expert of the task
    (``estimated_cost`` is absent when no price is configured for the model);
    ``model_used`` and ``provider``: the last model and provider that answered;
    ``error``: ``{"code": "timeout" | "provider_error" | "provider_not_configured" |
    ..., "message": "a sentence a person can act on"}`` on a task that failed;
    ``expert``: the name of the inline expert a task answered for (its caller's agent's task).
- Each agent ``Message.metadata`` carries ``usage`` for its own turn only.

Token counts are integers; a cost is a float in ``currency`` (ISO 4217, "USD" by
default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

USAGE = "usage"
MODEL_USED = "model_used"
PROVIDER = "provider"
ERROR = "error"
EXPERT = "expert"  # on an inline expert's task: the expert's name (docs/agents.md)

DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens used and their estimated cost (None: no price known)."""

    input_tokens: int = 0
    output_tokens: int = 0
    estimated_cost: float | None = None
    currency: str = DEFAULT_CURRENCY

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        if self.estimated_cost is None and other.estimated_cost is None:
            cost = None
        else:
            cost = (self.estimated_cost or 0.0) + (other.estimated_cost or 0.0)
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            cost,
            self.currency,
        )

    def to_metadata(self) -> dict[str, Any]:
        """The ``usage`` object as written on tasks and messages."""
        out: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "currency": self.currency,
        }
        if self.estimated_cost is not None:
            out["estimated_cost"] = round(self.estimated_cost, 8)
        return out

    @classmethod
    def from_metadata(cls, value: Any) -> Usage:
        """Read a ``usage`` object back (missing or malformed fields count as zero)."""
        if not isinstance(value, dict):
            return cls()

        def tokens(key: str) -> int:
            raw = value.get(key)
            return int(raw) if isinstance(raw, int | float) and raw >= 0 else 0

        cost = value.get("estimated_cost")
        currency = value.get("currency")
        return cls(
            tokens("input_tokens"),
            tokens("output_tokens"),
            float(cost) if isinstance(cost, int | float) else None,
            currency if isinstance(currency, str) and currency else DEFAULT_CURRENCY,
        )
