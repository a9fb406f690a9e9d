"""The per-request counter and latency histogram, at the cost of a few list operations.

Every request updates one series: ``a2a_http_requests_total`` by (route, method,
status, binding, version, agent[, tenant]) and ``a2a_http_request_duration_seconds``
by the same labels without status and version. prometheus-client's children take
a lock per ``inc`` and walk the buckets per ``observe`` (about 1.5 µs together on an
idle core, several times that on a loaded one), which is most of the fast path's
instrumentation cost. Requests are all counted on the event loop's thread, and so
are scrapes (``/metrics`` is served on the same loop), so ``RequestStats`` keeps
plain numbers per label set and hands prometheus-client metric families at
collection time (a custom collector).

Under multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``) a collector's numbers would
stay in each worker, so there the library's ``Counter``/``Histogram`` (which write
to the shared files) are used instead, behind the same ``series(key).record(s)``.

``Histograms`` is the same for one histogram family: the store-call latencies, observed
on every Redis round trip (``observability/stores.py``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

COUNTER = "a2a_http_requests"
HISTOGRAM = "a2a_http_request_duration_seconds"
_COUNTER_HELP = "HTTP requests answered"
_HISTOGRAM_HELP = "Time to answer a request (to the end of the body)"


class Series:
    """One label set's count, latency sum and latency buckets (the last one is +Inf)."""

    __slots__ = ("bounds", "buckets", "count", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * (len(bounds) + 1)

    def record(self, seconds: float) -> None:
        """Count one request that took ``seconds``."""
        self.count += 1
        self.total += seconds
        self.buckets[bisect_left(self.bounds, seconds)] += 1

    observe = record  # a prometheus-client histogram child's name for it

    def cumulative(self) -> list[tuple[str, int]]:
        """The buckets as the exposition wants them: (upper bound, count at or below)."""
        out, running = [], 0
        for bound, count in zip((*map(_bound, self.bounds), "+Inf"), self.buckets, strict=True):
            running += count
            out.append((bound, running))
        return out


class LibrarySeries:
    """The same interface over prometheus-client children (multiprocess mode)."""

    __slots__ = ("counter", "histogram")

    def __init__(self, counter: Any, histogram: Any) -> None:
        self.counter = counter
        self.histogram = histogram

    def record(self, seconds: float) -> None:
        """Count one request that took ``seconds``."""
        self.counter.inc()
        self.histogram.observe(seconds)


class RequestStats(Collector):
    """Request series by label set; a collector on ``registry`` (or library metrics)."""

    def __init__(self, registry: CollectorRegistry, labels: Sequence[str], buckets: Sequence[float],
                 *, multiprocess: bool) -> None:
        self.labels = tuple(labels)  # route, method, status, binding, version, agent[, tenant]
        self.bounds = tuple(buckets)
        self._series: dict[tuple[str, ...], Any] = {}
        self._library: tuple[Counter, Histogram] | None = None
        if multiprocess:
            self._library = (
                Counter(COUNTER, _COUNTER_HELP, self.labels, registry=registry),
                Histogram(HISTOGRAM, _HISTOGRAM_HELP, self._histogram_labels(self.labels),
                          buckets=self.bounds, registry=registry))
        else:
            registry.register(self)

    @staticmethod
    def _histogram_labels(values: Sequence[str]) -> tuple[str, ...]:
        return (values[0], values[1], values[3], values[5], *values[6:])  # no status, no version

    def series(self, key: tuple[str, ...]) -> Series | LibrarySeries:
        """The series of one label set (created on first use)."""
        found = self._series.get(key)
        if found is None:
            if self._library is None:
                found = Series(self.bounds)
            else:
                counter, histogram = self._library
                found = LibrarySeries(counter.labels(*key),
                                       histogram.labels(*self._histogram_labels(key)))
            self._series[key] = found
        return found

    def collect(self) -> Iterator[Any]:
        """The two families, from the numbers kept (not called in multiprocess mode)."""
        counter = CounterMetricFamily(COUNTER, _COUNTER_HELP, labels=self.labels)
        merged: dict[tuple[str, ...], list[Any]] = {}
        for key, series in list(self._series.items()):
            counter.add_metric(key, series.count)
            slot = merged.setdefault(self._histogram_labels(key),
                                     [[0] * (len(self.bounds) + 1), 0.0])
            slot[0] = [a + b for a, b in zip(slot[0], series.buckets, strict=True)]
            slot[1] += series.total
        histogram = HistogramMetricFamily(HISTOGRAM, _HISTOGRAM_HELP,
                                          labels=self._histogram_labels(self.labels))
        for key, (buckets, total) in merged.items():
            merged_series = Series(self.bounds)
            merged_series.buckets = buckets
            histogram.add_metric(key, merged_series.cumulative(), total)
        yield counter
        yield histogram

    def describe(self) -> Iterator[Any]:
        """No families described up front: the registry calls ``collect`` instead."""
        return iter(())


def _bound(value: float) -> str:
    return repr(float(value))


class Histograms(Collector):
    """One histogram family kept as plain numbers per label set, as ``RequestStats`` does,
    for observations made on the event loop's thread (store calls); the library's
    ``Histogram`` under multiprocess mode. ``labels(*values)`` gives a child with
    ``observe(seconds)`` either way.
    """

    def __init__(self, registry: CollectorRegistry, name: str, documentation: str,
                 labels: Sequence[str], buckets: Sequence[float], *, multiprocess: bool) -> None:
        self.name, self.documentation = name, documentation
        self.label_names = tuple(labels)
        self.bounds = tuple(buckets)
        self._series: dict[tuple[str, ...], Series] = {}
        self._library: Histogram | None = None
        if multiprocess:
            self._library = Histogram(name, documentation, self.label_names, buckets=self.bounds,
                                      registry=registry)
        else:
            registry.register(self)

    def labels(self, *values: str) -> Any:
        """The child of one label set (created on first use)."""
        if self._library is not None:
            return self._library.labels(*values)
        found = self._series.get(values)
        if found is None:
            found = self._series[values] = Series(self.bounds)
        return found

    def collect(self) -> Iterator[Any]:
        """The family, from the numbers kept (not called in multiprocess mode)."""
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.label_names)
        for key, series in list(self._series.items()):
            family.add_metric(key, series.cumulative(), series.total)
        yield family

    def describe(self) -> Iterator[Any]:
        """No families described up front: the registry calls ``collect`` instead."""
        return iter(())

