"""A tenant's quotas: the ``limits:`` block of its tenant file.

::

    limits:
      requests_per_minute: 600    # agent protocol requests (every binding, every agent)
      requests_per_minute_per_credential: 100   # the same, for each API key / OAuth client
      concurrent_tasks: 20        # sends whose agent is still running
      open_streams: 10            # message:stream responses open at once
      tokens_per_day: 2000000     # model tokens (input + output) of the tenant's LLM agents,
                                  # per UTC day: sends to them are refused once it is used

Every field is optional; a tenant without ``limits`` (or with every field unset) is
never counted. ``tokens_per_day`` reads the usage counters (``stores/usage.py``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LimitsConfig(BaseModel):
    """Per-tenant quotas, enforced across replicas (see ``protocol/quotas.py``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    requests_per_minute: int | None = Field(default=None, gt=0, le=1_000_000)
    requests_per_minute_per_credential: int | None = Field(default=None, gt=0, le=1_000_000)
    concurrent_tasks: int | None = Field(default=None, gt=0, le=100_000)
    open_streams: int | None = Field(default=None, gt=0, le=100_000)
    tokens_per_day: int | None = Field(default=None, gt=0, le=10**15)

    @property
    def any(self) -> bool:
        """Whether anything is limited."""
        return any(v is not None for v in (
            self.requests_per_minute, self.requests_per_minute_per_credential,
            self.concurrent_tasks, self.open_streams, self.tokens_per_day))
