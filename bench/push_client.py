"""CPU per webhook POST by HTTP client, run briefly by hand: ``python -m bench.push_client``.

``python -m bench.push_client [--requests N] [--rounds R]``

What one push delivery's HTTP exchange costs the deliverer, client side only: process CPU
(``time.process_time``; the receiver is another process) per POST of a ~400-byte JSON body
with the deliverer's headers to ``bench/push_receiver.py`` on loopback, one request at a
time over one kept-alive connection, the response read through a size-bounded loop as
``PushDeliverer._send`` does, under an ``asyncio.timeout`` like ``_attempt_once``. Variants:

- ``httpx client``: ``AsyncClient.send(request, stream=True)`` (what the deliverer did);
- ``httpx transport``: the same request given straight to the client's transport
  (``AsyncHTTPTransport.handle_async_request``): the same connection pool and HTTP/1.1
  code, without the client's auth, redirect, cookie-jar and event-hook layers, which a
  delivery does not use (redirects are not followed, no cookies are kept);
- ``aiohttp``: ``ClientSession.post``, configured as the deliverer's (no cookie jar, no
  DNS cache, no decompression), which the deliverer adopted on these figures.

Rounds alternate between variants; each line is the median over rounds. Indicative only.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bench.push import _free_port, _wait_port

_BODY = b'{"statusUpdate":{"taskId":"' + b"t" * 36 + b'","contextId":"' + b"c" * 36 + \
    b'","status":{"state":"TASK_STATE_COMPLETED","timestamp":"2026-12-03T08:00:00Z"}}}' + \
    b" " * 200
_HEADERS = {"Content-Type": "application/json", "X-A2A-Delivery-Id": "t:1-1",
            "X-A2A-Notification-Signature": "e" * 300, "Authorization": "Bearer " + "e" * 300}
_LIMIT = 65_536

Post = Callable[[], Awaitable[int]]


def _httpx_client(client: httpx.AsyncClient, url: str) -> Post:
    async def post() -> int:
        request = client.build_request("POST", url, content=_BODY, headers=_HEADERS)
        response = await client.send(request, stream=True)
        try:
            size = 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > _LIMIT:
                    break
        finally:
            await response.aclose()
        return response.status_code
    return post


def _httpx_transport(transport: httpx.AsyncHTTPTransport, url: str) -> Post:
    parsed = httpx.URL(url)

    async def post() -> int:
        request = httpx.Request("POST", parsed, content=_BODY, headers=_HEADERS)
        response = await transport.handle_async_request(request)
        try:
            size = 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > _LIMIT:
                    break
        finally:
            await response.aclose()
        return response.status_code
    return post


def _aiohttp_variant(variants: dict[str, Post], url: str) -> Any:
    """Adds the aiohttp variant to ``variants``; its session (None without aiohttp)."""
    try:
        import aiohttp
    except ImportError:
        print("aiohttp is not installed: measuring httpx only")
        return None
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(use_dns_cache=False),
                                    cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
                                    auto_decompress=False)

    async def post() -> int:
        async with session.post(url, data=_BODY, headers=_HEADERS,
                                allow_redirects=False) as response:
            size = 0
            async for chunk in response.content.iter_any():
                size += len(chunk)
                if size > _LIMIT:
                    break
            return response.status

    variants["aiohttp"] = post
    return session


async def _measure(requests: int, rounds: int, port: int) -> None:
    url = f"http://127.0.0.1:{port}/hook"
    receiver = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.push_receiver", str(port))
    try:
        await asyncio.to_thread(_wait_port, port)
        client = httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=10)
        transport = httpx.AsyncHTTPTransport(trust_env=False)
        variants: dict[str, Post] = {"httpx client": _httpx_client(client, url),
                                     "httpx transport": _httpx_transport(transport, url)}
        session = _aiohttp_variant(variants, url)
        async def run(post: Post, n: int) -> float:
            start = time.process_time()
            for _ in range(n):
                async with asyncio.timeout(10):
                    if await post() != 200:
                        raise RuntimeError("the receiver did not answer 200")
            return (time.process_time() - start) / n * 1e6

        for post in variants.values():  # warm-up: connections, first-use paths
            await run(post, 200)
        figures: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name, post in variants.items():
                figures[name].append(await run(post, requests))
        await client.aclose()
        await transport.aclose()
        if session is not None:
            await session.close()
    finally:
        receiver.kill()
        await receiver.wait()
    base = statistics.median(figures["httpx client"])
    print(f"{requests} POSTs x {rounds} rounds, client CPU per POST (median), "
          f"one kept-alive connection:")
    for name, values in figures.items():
        usec = statistics.median(values)
        print(f"  {name:<16} {usec:7.0f} us  ({usec / base:.2f} x httpx client)  "
              f"rounds {[round(v) for v in values]}")


def main() -> None:
    """See the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m bench.push_client")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(_measure(args.requests, args.rounds, _free_port()))


if __name__ == "__main__":
    main()
