"""Store calls, timed and counted (and traced when tracing is on), for either backend.

``instrument_stores`` replaces, on each store object of a ``Stores``, every public
coroutine method with a wrapper bound to its label children (``store``, ``call``
like ``tasks.commit``), so every caller (the SDK's handlers, the runner, the
protocol routes) is measured without knowing it. Async generators (event
subscriptions, cancellation feeds) are long-lived and left alone.

The in-memory store is not wrapped: its calls are dictionary operations in this
process, with no round trip to time or to fail (only ``a2a_store_available`` is set).

An error is any exception other than the protocol outcomes a store reports on
purpose (an A2A error, a concurrent modification): on Redis, ``StoreUnavailable``.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from a2a.server.cluster import ConcurrentTaskModificationError
from a2a.utils.errors import A2AError

from a2a_server.observability.metrics import Metrics
from a2a_server.observability.tracing import Tracing, stored_trace_context
from a2a_server.stores.base import Stores

IN_PROCESS = "memory"  # no round trips to time: its calls are dictionary operations
_PARTS = ("tasks", "events", "push_configs", "contexts", "leases")
_EXPECTED = (A2AError, ConcurrentTaskModificationError)


def _timed(func: Callable[..., Awaitable[Any]], histogram: Any, errors: Any,
           tracing: Tracing | None, span_name: str) -> Callable[..., Awaitable[Any]]:
    perf_counter = time.perf_counter

    @functools.wraps(func)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        span = tracing.start_span(span_name) if tracing is not None else None
        started = perf_counter()
        try:
            return await func(*args, **kwargs)
        except _EXPECTED:
            raise
        except Exception as exc:
            errors.inc()
            if span is not None:
                span.record_exception(exc)
            raise
        finally:
            histogram.observe(perf_counter() - started)
            if span is not None:
                span.end()

    return timed


def instrument_stores(stores: Stores, metrics: Metrics | None, tracing: Tracing | None) -> None:
    """Measure every store call of ``stores`` (in place); hook the store's health; with
    tracing, the outbox stores each notification's trace context (for its delivery span)."""
    if tracing is not None:
        stores.outbox.trace_context = stored_trace_context
    if metrics is None and tracing is None:
        return
    if stores.name != IN_PROCESS:
        _wrap_calls(stores, metrics, tracing)
    if metrics is None:
        return
    metrics.store_up(stores.name)
    health = getattr(stores, "health", None)
    if health is not None:  # Redis: follow the health flag's transitions
        name = stores.name
        health.listeners.append(lambda up: metrics.store_up(name) if up else metrics.store_down(name))


def _wrap_calls(stores: Stores, metrics: Metrics | None, tracing: Tracing | None) -> None:
    for part in _PARTS:
        store = getattr(stores, part, None)
        if store is None:
            continue
        for name, member in inspect.getmembers(type(store)):
            if name.startswith("_") or not inspect.iscoroutinefunction(member):
                continue
            call = f"{part}.{name}"
            histogram: Any = _Null()
            errors: Any = histogram
            if metrics is not None:
                histogram = metrics.store_seconds.labels(stores.name, call)
                errors = metrics.store_errors.labels(stores.name, call)
            setattr(store, name, _timed(getattr(store, name), histogram, errors, tracing,
                                        f"store {call}"))


class _Null:
    """A stand-in label child when metrics are off (tracing only)."""

    def inc(self) -> None:
        """Nothing."""

    def observe(self, value: float) -> None:
        """Nothing."""
