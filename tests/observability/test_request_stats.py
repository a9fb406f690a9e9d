"""RequestStats: the numbers it exports are the ones prometheus-client's metrics would give."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from a2a_server.observability.requests import Histograms, RequestStats
from tests.observability.metrics_text import value

LABELS = ["route", "method", "status", "binding", "version", "agent"]


def _record(stats: RequestStats) -> None:
    for status, seconds in (("2xx", 0.004), ("2xx", 0.02), ("4xx", 3.0), ("5xx", 99.0)):
        stats.series(("/r", "GET", status, "http+json", "1.0", "echo")).record(seconds)


def test_lock_free_and_library_series_export_the_same_samples() -> None:
    texts = []
    for multiprocess in (False, True):
        registry = CollectorRegistry()
        stats = RequestStats(registry, LABELS, (0.005, 0.05, 5.0), multiprocess=multiprocess)
        _record(stats)
        texts.append(generate_latest(registry).decode())
    for text in texts:
        assert value(text, "a2a_http_requests_total", status="2xx") == 2
        assert value(text, "a2a_http_requests_total") == 4
        assert value(text, "a2a_http_request_duration_seconds_count", route="/r") == 4
        assert value(text, "a2a_http_request_duration_seconds_sum") == 0.004 + 0.02 + 3.0 + 99.0
        buckets = [value(text, "a2a_http_request_duration_seconds_bucket", le=le)
                   for le in ("0.005", "0.05", "5.0", "+Inf")]
        assert buckets == [1, 2, 3, 4]  # cumulative, +Inf is the count


def test_store_call_histograms_export_what_the_library_histogram_would() -> None:
    texts = []
    for multiprocess in (False, True):
        registry = CollectorRegistry()
        histograms = Histograms(registry, "a2a_store_call_duration_seconds", "Store calls",
                                ["store", "call"], (0.001, 0.01), multiprocess=multiprocess)
        for call, seconds in (("tasks.commit", 0.0005), ("tasks.commit", 0.002),
                              ("tasks.get", 0.5)):
            histograms.labels("redis", call).observe(seconds)
        texts.append(generate_latest(registry).decode())
    for text in texts:
        name = "a2a_store_call_duration_seconds"
        assert value(text, f"{name}_count", call="tasks.commit") == 2
        assert value(text, f"{name}_count") == 3
        assert value(text, f"{name}_sum", call="tasks.get") == 0.5
        assert [value(text, f"{name}_bucket", call="tasks.commit", le=le)
                for le in ("0.001", "0.01", "+Inf")] == [1, 2, 2]
