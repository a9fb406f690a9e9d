"""Push delivery attempts counted by outcome (``PushDeliverer.observers``).

Each attempt to deliver one notification to one config counts once, labelled by
agent and outcome: ``delivered`` (2xx), ``refused`` (the URL policy said no at
delivery time; retried, since DNS can change), ``retrying`` (a connection error,
timeout, 408, 429 or 5xx that will be tried again) or ``failed`` (final: another
4xx, a redirect, or the notification grew too old).
"""

from __future__ import annotations

from typing import Any

from a2a_server.observability.metrics import Metrics
from a2a_server.push.deliverer import REFUSED_BY_POLICY, AttemptEvent

OUTCOMES = ("delivered", "refused", "retrying", "failed")


class PushMetrics:
    """An observer for ``PushDeliverer.observers`` that counts ``a2a_push_deliveries_total``."""

    def __init__(self, metrics: Metrics) -> None:
        self._counter = metrics.push_deliveries
        self._children: dict[tuple[str, str], Any] = {}

    def __call__(self, event: AttemptEvent) -> None:
        """Count one attempt."""
        outcome = event.outcome
        if outcome.delivered:
            name = "delivered"
        elif outcome.error == REFUSED_BY_POLICY:
            name = "refused"
        else:
            name = "failed" if event.final else "retrying"
        key = (event.scope.agent, name)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._counter.labels(*key)
        child.inc()
