"""``aio.stop`` ends a background task even when it swallows a cancellation."""

from __future__ import annotations

import asyncio

from a2a_server.aio import stop


async def test_a_task_that_swallows_its_first_cancellation_is_stopped() -> None:
    swallowed = 0

    async def retrying_loop() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # as when a cancellation surfaces as a retried error
                asyncio.current_task().uncancel()  # type: ignore[union-attr]

    task = asyncio.create_task(retrying_loop())
    await asyncio.sleep(0)
    await asyncio.wait_for(stop(task, every=0.01), timeout=5)
    assert task.cancelled() and swallowed == 1


async def test_a_finished_or_failing_task_is_left_as_it_is() -> None:
    async def failing() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(failing())
    await asyncio.sleep(0)
    await stop(task)  # its error is not raised here (it was the task's own business)
    assert isinstance(task.exception(), RuntimeError)
