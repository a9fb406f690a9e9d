"""Store fixtures: every backend (memory, a real Redis, a real 3-master Redis Cluster), started."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from a2a_server.stores.base import Stores
from a2a_server.stores.memory import InMemoryStores
from a2a_server.stores.redis import RedisStores, create_redis_client


@pytest.fixture
def stores_factory(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., Stores]]:
    """Build (unstarted) store backends of a kind; closed by the caller or at teardown."""
    made: list[Stores] = []

    def build(kind: str, **options: object) -> Stores:
        if kind == "memory":
            stores: Stores = InMemoryStores()
        else:
            cluster = kind == "cluster"
            url = request.getfixturevalue("redis_cluster_url" if cluster else "redis_url")
            ttl = options.pop("tenant_ttl", lambda _name: None)
            stores = RedisStores(create_redis_client(url, cluster=cluster), ttl,  # type: ignore[arg-type]
                                 **options)  # type: ignore[arg-type]
        made.append(stores)
        return stores

    yield build


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
