"""Push deliveries, counted by outcome and traced, where the SDK's sender posts them.

``MeteredPushSender`` is the SDK's ``BasePushNotificationSender`` with each
delivery (one config of one event) counted as ``delivered``, ``failed`` (the
POST raised or answered an error) or ``refused`` (the URL policy said no at
delivery time), and wrapped in a span when tracing is on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from contextvars import ContextVar
from typing import Any

import httpx
from a2a.server.tasks import BasePushNotificationSender, PushNotificationConfigStore
from a2a.server.tasks.push_notification_sender import PushNotificationEvent
from a2a.types.a2a_pb2 import TaskPushNotificationConfig
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from a2a_server.observability.metrics import Metrics
from a2a_server.observability.tracing import Tracing

_refused: ContextVar[bool] = ContextVar("a2a_server_push_refused", default=False)


class MeteredPushSender(BasePushNotificationSender):
    """The SDK sender, counting each delivery's outcome for ``agent``."""

    def __init__(self, client: httpx.AsyncClient, store: PushNotificationConfigStore, *,
                 push_url_validator: Callable[[str], Awaitable[bool]], agent: str,
                 metrics: Metrics | None, tracing: Tracing | None) -> None:
        async def judged(url: str) -> bool:
            accepted = await push_url_validator(url)
            if not accepted:
                _refused.set(True)
            return accepted

        super().__init__(client, store, push_url_validator=judged)
        self._tracing = tracing
        self._outcomes: dict[str, Any] | None = None
        if metrics is not None:
            self._outcomes = {outcome: metrics.push_deliveries.labels(agent, outcome)
                              for outcome in ("delivered", "failed", "refused")}

    async def _dispatch_notification(self, event: PushNotificationEvent,
                                     push_info: TaskPushNotificationConfig, task_id: str) -> bool:
        span = None
        if self._tracing is not None:
            span = self._tracing.start_span("push delivery", SpanKind.INTERNAL)
            span.set_attribute("a2a.task_id", task_id)
        _refused.set(False)
        with trace.use_span(span, end_on_exit=False) if span is not None else nullcontext():
            delivered = await super()._dispatch_notification(event, push_info, task_id)
        refused = _refused.get()
        outcome = "delivered" if delivered else "refused" if refused else "failed"
        if self._outcomes is not None:
            self._outcomes[outcome].inc()
        if span is not None:
            span.set_attribute("a2a.push.outcome", outcome)
            if not delivered:
                span.set_status(StatusCode.ERROR)
            span.end()
        return delivered
