"""Reading a /metrics answer: one sample's value by name and labels."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of a Prometheus text-format exposition."""
    return [(s.name, dict(s.labels), float(s.value))
            for family in text_string_to_metric_families(text) for s in family.samples]


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` (0 if none)."""
    return sum(v for n, got, v in samples(text)
               if n == name and all(got.get(k) == want for k, want in labels.items()))


async def scrape(http: httpx.AsyncClient, base: str = "") -> str:
    """GET /metrics, checked."""
    got = await http.get(f"{base}/metrics")
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/plain")
    return got.text
