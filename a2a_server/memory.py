"""Memory a burst used goes back to the operating system once the replica is quiet.

Most of what a burst (thousands of streams) leaves behind is caches that only save
work and fill up with the burst's tasks: the printed messages of ``protocol.protojson``
(up to 16,384), the rendered tasks of ``protocol.shapes`` (up to 4,096), the Redis key
names of tasks and contexts (up to 16,384 and 4,096): ~12 KB per streamed task, tens
of MiB after a few thousand streams. A quiet replica empties them (they refill on
demand, at a few microseconds an entry). The task caches, whose budget is a setting
(``task_cache_mb``, reported as ``a2a_task_cache_*``), are kept.

Then glibc's ``malloc_trim(0)`` returns the pages freed that way: malloc otherwise keeps
freed memory in its heaps (the main heap only shrinks from its top), so the resident
size would stay at the burst's peak. It holds each arena's lock while it walks it, so
it is called when the replica is quiet: fewer than one HTTP request a second over the
last ``memory_trim_seconds`` (a load balancer's health checks do not count as traffic),
and only if the resident size grew since the last trim. It runs in a thread (ctypes
releases the GIL), not on the event loop; the caches are emptied on the loop, whose
objects they are.

Where malloc is not glibc's (musl, macOS) there is nothing to call and the keeper does
not run. Every tick, and every scrape, refreshes ``a2a_task_cache_bytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
from collections.abc import Callable
from typing import Any

from a2a_server.observability.metrics import Metrics

logger = logging.getLogger(__name__)

IDLE_REQUESTS_PER_SECOND = 1.0  # below this rate over a tick the replica counts as quiet
GROWTH_BYTES = 1 << 20  # trim only if the resident size grew this much since the last trim
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        function: Any = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


malloc_trim = _load_malloc_trim()


def resident_bytes() -> int:
    """This process's resident set size (``/proc/self/statm``), 0 where unknown."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def trim() -> int:
    """``malloc_trim(0)`` now; the resident bytes it gave back (0 without glibc)."""
    if malloc_trim is None:
        return 0
    before = resident_bytes()
    malloc_trim(0)
    return max(0, before - resident_bytes())


class MemoryKeeper:
    """The replica's idle trim and task cache gauges (one loop, started in the lifespan).

    Args:
        interval: seconds between ticks (``memory_trim_seconds``); 0 = no trimming (the
            gauges are then refreshed at scrapes only).
        requests: how many HTTP requests the replica has started so far.
        metrics: the replica's metrics, or None.
        cache: the task store's ``cache_bytes`` and its budget, if it has caches.
        shed: what to empty before a trim (caches that only save work: renders, keys).
    """

    def __init__(self, interval: float, requests: Callable[[], int], metrics: Metrics | None,
                 cache: tuple[Callable[[], int], int] | None,
                 shed: tuple[Callable[[], None], ...] = ()) -> None:
        self.interval = interval
        self._shed = shed
        self._requests = requests
        self._metrics = metrics
        self._cache = cache
        self._task: asyncio.Task[None] | None = None
        self._seen = 0
        self._trimmed_at = 0  # resident bytes after the last trim (0: none yet)
        if metrics is not None and cache is not None:
            metrics.task_cache_budget.set(cache[1])
            metrics.scrape_hooks.append(self.refresh)

    def refresh(self) -> None:
        """Set the task cache gauge from the store."""
        if self._metrics is not None and self._cache is not None:
            self._metrics.task_cache_bytes.set(self._cache[0]())

    def start(self) -> None:
        """Start ticking (no-op when trimming is off or impossible)."""
        if self.interval > 0 and malloc_trim is not None:
            self._seen = self._requests()
            self._task = asyncio.create_task(self._run())

    async def aclose(self) -> None:
        """Stop ticking."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def quiet(self) -> bool:
        """Fewer requests than the idle rate since the last tick (and remember the count)."""
        count = self._requests()
        started, self._seen = count - self._seen, count
        return started < self.interval * IDLE_REQUESTS_PER_SECOND

    async def tick(self) -> int | None:
        """One tick: the bytes given back, or None if the replica was busy or had not grown."""
        self.refresh()
        if not self.quiet() or resident_bytes() < self._trimmed_at + GROWTH_BYTES:
            return None
        for empty in self._shed:  # on the loop: these caches are the loop's
            empty()
        released = await asyncio.to_thread(trim)
        self._trimmed_at = resident_bytes()
        if self._metrics is not None:
            self._metrics.memory_trims.inc()
            self._metrics.memory_released.inc(released)
        logger.debug("idle: gave %d bytes back to the operating system", released)
        return released

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.tick()
            except Exception:  # a failed tick must not end the loop
                logger.exception("memory trim tick failed")
