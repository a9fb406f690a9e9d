"""The Redis store's task caches hold at most their budget (``task_cache_mb``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from a2a_server.stores.base import Stores
from a2a_server.stores.redis import RedisStores
from tests.stores.test_contract import ctx, make_task, save


@pytest.mark.parametrize("budget", [0, 64 * 1024 * 1024])
async def test_the_task_cache_holds_at_most_its_budget(
    stores_factory: Callable[..., Stores], budget: int
) -> None:
    stores = stores_factory("redis", task_cache_bytes=budget)
    assert isinstance(stores, RedisStores)
    await stores.start()
    try:
        task = make_task(history=3)
        await save(stores, task)
        stored = await stores.tasks.get(task.id, ctx())
        assert stored is not None and stored.task == task  # served either way
        held = stores.tasks.cache_bytes()
        assert held == 0 if budget == 0 else 0 < held <= budget
    finally:
        await stores.close()
