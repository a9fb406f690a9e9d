"""Multiprocess mode: with PROMETHEUS_MULTIPROC_DIR, a scrape sums every worker process's counts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.observability.metrics_text import value

_WORKER = """
import asyncio, sys, httpx
from tests.conftest import make_settings, running_app
async def main(sends, scrape):
    async with running_app(make_settings()) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            for _ in range(sends):
                got = await http.get("/healthz")
                assert got.status_code == 200
            if scrape:
                print((await http.get("/metrics")).text)
asyncio.run(main(int(sys.argv[1]), sys.argv[2] == "scrape"))
"""


def _worker(directory: Path, sends: int, scrape: bool) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", _WORKER, str(sends), "scrape" if scrape else "-"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def test_a_scrape_sums_the_counts_of_every_worker_process(tmp_path: Path) -> None:
    _worker(tmp_path, 3, scrape=False)
    _worker(tmp_path, 4, scrape=False)
    text = _worker(tmp_path, 2, scrape=True)
    assert value(text, "a2a_http_requests_total", route="/healthz", status="2xx") == 9
    assert value(text, "a2a_http_request_duration_seconds_count", route="/healthz") == 9
    assert value(text, "a2a_store_available", store="memory") == 1  # livemin: dead workers drop out
