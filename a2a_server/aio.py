"""Small asyncio helpers shared by the app's background tasks."""

from __future__ import annotations

import asyncio
import contextlib


async def stop(task: asyncio.Task[object], *, every: float = 0.5) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling it again until it does.

    One ``cancel()`` is not always enough for a loop that retries on errors: on Python 3.11 a
    cancellation that lands as an ``asyncio.timeout`` expires comes out as ``TimeoutError``
    (the request is withdrawn), and redis-py turns one into a ``ConnectionError``; a loop that
    retries on those then runs on, and whoever awaits it (or the event loop's own shutdown)
    waits forever. Cancelling every ``every`` seconds until the task is done ends it.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=every)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()
