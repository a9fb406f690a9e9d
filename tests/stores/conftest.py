"""Store fixtures: every backend (memory, a real Redis, a real 3-master Redis Cluster), started
(``stores_factory`` is in the top-level conftest)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from a2a_server.stores.base import Stores


@pytest.fixture(params=["memory", "redis", pytest.param("cluster", marks=pytest.mark.cluster)])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Each backend the contract suite runs on."""
    return str(request.param)


@pytest.fixture
async def stores(store_kind: str, stores_factory: Callable[..., Stores]) -> AsyncIterator[Stores]:
    """A started backend of each kind."""
    backend = stores_factory(store_kind)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()
