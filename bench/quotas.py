"""Does a tenant at its limit slow another down? ``python -m bench.quotas [--redis-url URL]``.

One in-process app (``httpx.ASGITransport``), two tenants: ``limited``
(``requests_per_minute: 50``) and the shipped ``acme`` (no limits). Acme's sends are
timed alone, then while ``limited`` floods the server with requests that are refused
with 429 (one quota round trip each). Prints a table of acme's latency percentiles and
the flood's status counts. A table, not an assertion: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from tests.conftest import ACME, V1, make_settings, running_app, user_message_v1
from tests.limited_tenants import LIMITED, tenants_with_limits

SEND = "/agents/echo/v1/message:send"


async def _timed(http: httpx.AsyncClient, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        answer = await http.post(SEND, json=user_message_v1("hi"), headers={**ACME, **V1})
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text
    return times


async def _flood(http: httpx.AsyncClient, stop: asyncio.Event, codes: Counter[int]) -> None:
    while not stop.is_set():
        answer = await http.post(SEND, json=user_message_v1("hi"), headers={**LIMITED, **V1})
        codes[answer.status_code] += 1
        await asyncio.sleep(0)  # in process, a refusal may never suspend: let acme run


def _row(name: str, times: list[float]) -> str:
    cuts = statistics.quantiles(times, n=100)
    return f"| {name:<22} | {len(times):>5} | {cuts[49]:>7.2f} | {cuts[98]:>7.2f} |"


async def main(redis_url: str | None, count: int, flooders: int) -> None:
    """Run both phases and print the table."""
    with tempfile.TemporaryDirectory() as tmp:
        tenants = tenants_with_limits(Path(tmp) / "tenants", requests_per_minute=50)
        settings = make_settings(tenants_dir=tenants, redis_url=redis_url, access_log=False)
        async with running_app(settings) as app:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                alone = await _timed(http, count)
                stop, codes = asyncio.Event(), Counter[int]()
                floods = [asyncio.create_task(_flood(http, stop, codes)) for _ in range(flooders)]
                busy = await _timed(http, count)
                stop.set()
                await asyncio.gather(*floods)
    print(f"backend: {'redis' if redis_url else 'memory'}; flood: {flooders} concurrent "
          f"clients of 'limited', answers {dict(codes)}")
    print("| acme's sends           |     n | p50 ms  | p99 ms  |")
    print("|------------------------|-------|---------|---------|")
    print(_row("alone", alone))
    print(_row("during the flood", busy))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--flooders", type=int, default=4)
    options = parser.parse_args()
    asyncio.run(main(options.redis_url, options.count, options.flooders))
