"""Prometheus metrics of one replica (``prometheus-client``), served at ``GET /metrics``.

Every metric lives on the ``CollectorRegistry`` of one ``Metrics`` object, built
by ``create_app``: two replicas in one process (the tests) keep their own counts.
Names and labels (``a2a_`` prefix; ``tenant`` only with ``metrics_tenant_label``):

==========================================  =========  ==========================================
metric                                      type       labels
==========================================  =========  ==========================================
a2a_http_requests_total                     counter    route, method, status, binding, version,
                                                       agent (+tenant)
a2a_http_request_duration_seconds           histogram  route, method, binding, agent (+tenant)
a2a_http_open_streams                       gauge      (SSE responses being written)
a2a_tasks_running                           gauge      agent (runs on this replica)
a2a_tasks_finished_total                    counter    agent, state (+tenant)
a2a_store_call_duration_seconds             histogram  store, call
a2a_store_call_errors_total                 counter    store, call
a2a_store_available                         gauge      store (1 up, 0 down)
a2a_store_unavailable_seconds_total         counter    store
a2a_push_deliveries_total                   counter    agent, outcome (delivered|refused|retrying|failed)
a2a_auth_failures_total                     counter    reason
a2a_tokens_issued_total                     counter    (+tenant)
a2a_llm_tokens_total                        counter    agent, provider, model, kind (input|output)
a2a_llm_cost_usd_total                      counter    agent, provider, model
a2a_task_cache_budget_bytes                 gauge      (Redis store: the most whole tasks held)
a2a_task_cache_bytes                        gauge      (Redis store: whole tasks held now)
a2a_memory_trims_total                      counter    (idle malloc_trim calls, a2a_server.memory)
a2a_memory_released_bytes_total             counter    (resident bytes they gave back)
==========================================  =========  ==========================================

``status`` is the status class (``2xx``...), ``binding`` ``jsonrpc``, ``http+json``
or ``http`` (everything that is not an A2A binding), ``version`` the A2A version
the request asked for (``1.0``, ``0.3``; ``other`` for anything else, so a client
cannot grow the label set). ``agent`` is a configured agent id or ``""``.

Multiprocess: with ``PROMETHEUS_MULTIPROC_DIR`` set before the workers start
(and emptied by the launcher), ``/metrics`` aggregates every worker's files
(``MultiProcessCollector``); gauges then sum over live processes (``livesum``),
except ``a2a_store_available`` (``livemin``: 0 if any worker sees the store down).
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable
from contextvars import ContextVar

from prometheus_client import CollectorRegistry, Counter, Gauge, make_asgi_app
from prometheus_client import multiprocess as prometheus_multiprocess
from starlette.types import Receive, Scope, Send

from a2a_server.errors import json_response
from a2a_server.observability.requests import Histograms, RequestStats

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_enabled() -> bool:
    """Whether prometheus-client writes its values to files shared by worker processes."""
    return bool(os.environ.get(MULTIPROC_ENV))


class Metrics:
    """Every metric of one replica, on its own registry.

    Args:
        tenant_label: add a ``tenant`` label to per-request, per-task and token metrics
            (one series per tenant: mind the cardinality).
    """

    def __init__(self, *, tenant_label: bool = False) -> None:
        self.tenant_label = tenant_label
        self.registry = CollectorRegistry()
        reg = self.registry
        tenant = ("tenant",) if tenant_label else ()
        self.requests = RequestStats(
            reg, ["route", "method", "status", "binding", "version", "agent", *tenant],
            LATENCY_BUCKETS, multiprocess=multiprocess_enabled())
        self.open_streams = Gauge(
            "a2a_http_open_streams", "Server-sent event streams being written",
            registry=reg, multiprocess_mode="livesum")
        self.tasks_running = Gauge(
            "a2a_tasks_running", "Agent runs in progress on this replica", ["agent"],
            registry=reg, multiprocess_mode="livesum")
        self.tasks_finished = Counter(
            "a2a_tasks_finished", "Agent runs ended, by the task's state at the end",
            ["agent", "state", *tenant], registry=reg)
        # Every store call is timed: plain numbers, as for requests (requests.py).
        self.store_seconds = Histograms(
            reg, "a2a_store_call_duration_seconds", "Store calls (one round trip on Redis)",
            ["store", "call"], STORE_BUCKETS, multiprocess=multiprocess_enabled())
        self.store_errors = Counter(
            "a2a_store_call_errors", "Store calls that raised", ["store", "call"], registry=reg)
        self.store_available = Gauge(
            "a2a_store_available", "1 while the store answers, 0 while it is known down",
            ["store"], registry=reg, multiprocess_mode="livemin")
        self.store_unavailable_seconds = Counter(
            "a2a_store_unavailable_seconds", "Time the store was known to be down",
            ["store"], registry=reg)
        self.push_deliveries = Counter(
            "a2a_push_deliveries", "Push-notification deliveries by outcome",
            ["agent", "outcome"], registry=reg)
        self.auth_failures = Counter(
            "a2a_auth_failures", "Requests refused by authentication", ["reason"], registry=reg)
        self.tokens_issued = Counter(
            "a2a_tokens_issued", "Access tokens issued (client credentials)", [*tenant],
            registry=reg)
        self.llm_tokens = Counter(
            "a2a_llm_tokens", "LLM tokens used by agents", ["agent", "provider", "model", "kind"],
            registry=reg)
        self.llm_cost = Counter(
            "a2a_llm_cost_usd", "LLM cost reported by agents, in US dollars",
            ["agent", "provider", "model"], registry=reg)
        self.task_cache_budget = Gauge(
            "a2a_task_cache_budget_bytes", "Bytes of whole tasks the replica's task caches may "
            "hold (twice A2A_SERVER_TASK_CACHE_MB)", registry=reg, multiprocess_mode="livesum")
        self.task_cache_bytes = Gauge(
            "a2a_task_cache_bytes", "Bytes of whole tasks the replica's task caches hold",
            registry=reg, multiprocess_mode="livesum")
        self.memory_trims = Counter(
            "a2a_memory_trims", "Times an idle replica gave freed memory back (malloc_trim)",
            registry=reg)
        self.memory_released = Counter(
            "a2a_memory_released_bytes", "Resident bytes those trims gave back", registry=reg)
        # Called before every scrape (gauges read from elsewhere, such as the task cache).
        self.scrape_hooks: list[Callable[[], None]] = []
        self._unavailable_since: dict[str, float] = {}

    # -- store health ------------------------------------------------------------------------

    def store_down(self, store: str) -> None:
        """The store was seen failing: start counting time unavailable."""
        if store not in self._unavailable_since:
            self._unavailable_since[store] = time.monotonic()
            self.store_available.labels(store).set(0)

    def store_up(self, store: str) -> None:
        """The store answers (again)."""
        since = self._unavailable_since.pop(store, None)
        if since is not None:
            self.store_unavailable_seconds.labels(store).inc(time.monotonic() - since)
        self.store_available.labels(store).set(1)

    def flush_unavailable(self) -> None:
        """Add the time of an ongoing outage to the counter (called on every scrape)."""
        now = time.monotonic()
        for store, since in self._unavailable_since.items():
            self.store_unavailable_seconds.labels(store).inc(now - since)
            self._unavailable_since[store] = now

    def close(self) -> None:
        """At process shutdown: drop this worker's live gauges (multiprocess mode)."""
        if multiprocess_enabled():
            prometheus_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    # -- LLM usage -----------------------------------------------------------------------------

    def record_llm_usage(self, *, agent: str, provider: str, model: str, input_tokens: int,
                         output_tokens: int, cost_usd: float | None = None) -> None:
        """Count one LLM call's tokens (and cost, when the provider's price is known)."""
        if input_tokens > 0:
            self.llm_tokens.labels(agent, provider, model, "input").inc(input_tokens)
        if output_tokens > 0:
            self.llm_tokens.labels(agent, provider, model, "output").inc(output_tokens)
        if cost_usd is not None and cost_usd > 0:
            self.llm_cost.labels(agent, provider, model).inc(cost_usd)

    # -- exposition ----------------------------------------------------------------------------

    def endpoint(self, token: str | None = None) -> MetricsEndpoint:
        """The ``/metrics`` ASGI app, behind ``Authorization: Bearer <token>`` if given."""
        return MetricsEndpoint(self, token)


class MetricsEndpoint:
    """``GET /metrics``: text format or OpenMetrics by ``Accept``, gzip (prometheus-client)."""

    def __init__(self, metrics: Metrics, token: str | None) -> None:
        self._metrics = metrics
        self._expected = f"Bearer {token}".encode() if token else None
        if multiprocess_enabled():
            registry = CollectorRegistry()
            prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = metrics.registry
        self._exposition = make_asgi_app(registry=registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a scrape (401 without the configured bearer token)."""
        if self._expected is not None:
            presented = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
            if not hmac.compare_digest(presented, self._expected):
                response = json_response(
                    {"error": {"code": 401, "status": "UNAUTHENTICATED",
                               "message": "GET /metrics needs the metrics bearer token"}},
                    status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
                await response(scope, receive, send)
                return
        self._metrics.flush_unavailable()
        for hook in self._metrics.scrape_hooks:
            hook()
        await self._exposition(scope, receive, send)


_current: ContextVar[Metrics | None] = ContextVar("a2a_server_metrics", default=None)


def bind_metrics(metrics: Metrics) -> None:
    """Make ``metrics`` the one ``record_llm_usage`` reports to, in the current context (the
    ``RunObserver`` binds its replica's as a run starts, before the run's tasks are created)."""
    _current.set(metrics)


def record_llm_usage(*, agent: str, provider: str, model: str, input_tokens: int,
                     output_tokens: int, cost_usd: float | None = None) -> None:
    """Count an LLM call of ``agent`` on the replica serving the current request.

    For LLM executors: call once per provider response, with the response's usage. The
    replica's ``Metrics`` is bound to each run as it starts (``RunObserver.started``);
    outside a run (no replica bound) the call does nothing.
    """
    metrics = _current.get()
    if metrics is not None:
        metrics.record_llm_usage(agent=agent, provider=provider, model=model,
                                 input_tokens=input_tokens, output_tokens=output_tokens,
                                 cost_usd=cost_usd)
