"""The QuotaStore contract, on memory and on a real Redis: exact under concurrency, per tenant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from a2a_server.stores.base import Stores
from a2a_server.stores.quotas import QuotaStore, create_quota_store


@pytest.fixture(params=["memory", "redis"])
async def quotas(request: pytest.FixtureRequest,
                 stores_factory: Callable[..., Stores]) -> AsyncIterator[QuotaStore]:
    backend = stores_factory(str(request.param))
    await backend.start()
    try:
        yield create_quota_store(backend)
    finally:
        await backend.close()


async def test_a_window_admits_exactly_its_limit_under_concurrent_hits(quotas: QuotaStore) -> None:
    answers = await asyncio.gather(*(quotas.hit("t1", [("rpm", 20)], 60_000) for _ in range(60)))
    decisions = [d for (d,) in answers]
    assert sum(d.admitted for d in decisions) == 20
    assert sorted(d.used for d in decisions if d.admitted) == list(range(1, 21))
    assert all(0 < d.reset_ms <= 60_000 for d in decisions)


async def test_two_windows_count_a_request_only_if_both_have_room(quotas: QuotaStore) -> None:
    windows = [("rpm", 5), ("rpm.key-a", 2)]
    answers = [await quotas.hit("t1", windows, 60_000) for _ in range(4)]
    assert [[d.admitted for d in a] for a in answers] == [[True, True], [True, True],
                                                         [True, False], [True, False]]
    assert [a[0].used for a in answers] == [1, 2, 2, 2]  # the refused ones counted nowhere
    other_key = await quotas.hit("t1", [("rpm", 5), ("rpm.key-b", 2)], 60_000)
    assert all(d.admitted for d in other_key) and other_key[0].used == 3


async def test_a_window_resets_and_tenants_count_apart(quotas: QuotaStore) -> None:
    assert (await quotas.hit("t1", [("rpm", 1)], 200))[0].admitted
    assert not (await quotas.hit("t1", [("rpm", 1)], 200))[0].admitted
    assert (await quotas.hit("t2", [("rpm", 1)], 200))[0].admitted  # another tenant's window
    await asyncio.sleep(0.3)
    assert (await quotas.hit("t1", [("rpm", 1)], 200))[0].admitted


async def test_slots_are_exact_under_concurrency_and_come_back_on_release(
    quotas: QuotaStore,
) -> None:
    holders = [f"h{i}" for i in range(30)]
    decisions = await asyncio.gather(*(quotas.acquire("t1", "tasks", h, 5, 10_000)
                                       for h in holders))
    admitted = [h for h, d in zip(holders, decisions, strict=True) if d.admitted]
    assert len(admitted) == 5
    assert not (await quotas.acquire("t1", "tasks", "late", 5, 10_000)).admitted
    assert (await quotas.acquire("t2", "tasks", "other", 5, 10_000)).admitted
    await quotas.release("t1", "tasks", admitted[0])
    assert (await quotas.acquire("t1", "tasks", "late", 5, 10_000)).admitted


async def test_a_slot_nobody_renews_expires_and_a_renewed_one_stays(quotas: QuotaStore) -> None:
    assert (await quotas.acquire("t1", "streams", "dead", 2, 300)).admitted
    assert (await quotas.acquire("t1", "streams", "alive", 2, 300)).admitted
    assert not (await quotas.acquire("t1", "streams", "third", 2, 300)).admitted
    await asyncio.sleep(0.2)
    assert await quotas.renew("t1", "streams", "alive", 300)
    await asyncio.sleep(0.2)  # "dead" (a crashed replica's) lapsed; "alive" was renewed
    assert (await quotas.acquire("t1", "streams", "third", 2, 300)).admitted
    assert not (await quotas.acquire("t1", "streams", "fourth", 2, 300)).admitted
    assert not await quotas.renew("t1", "streams", "dead", 300)


async def test_one_concurrent_claim_wins_and_the_others_read_it(quotas: QuotaStore) -> None:
    values = [f"v{i}".encode() for i in range(20)]
    found = await asyncio.gather(*(quotas.claim("t1", "echo", "k", v, 60_000) for v in values))
    winners = [v for v, f in zip(values, found, strict=True) if f is None]
    assert len(winners) == 1
    assert all(f == winners[0] for f in found if f is not None)
    assert await quotas.claim("t2", "echo", "k", b"x", 60_000) is None  # another tenant's key
    assert await quotas.claim("t1", "other", "k", b"x", 60_000) is None  # another agent's key


async def test_a_claim_is_released_only_by_its_owner_and_expires(quotas: QuotaStore) -> None:
    assert await quotas.claim("t1", "echo", "k", b"mine", 60_000) is None
    await quotas.release_claim("t1", "echo", "k", b"not-mine")
    assert await quotas.get_claim("t1", "echo", "k") == b"mine"
    await quotas.put_claim("t1", "echo", "k", b"done", 200)
    assert await quotas.claim("t1", "echo", "k", b"again", 60_000) == b"done"
    await asyncio.sleep(0.3)
    assert await quotas.claim("t1", "echo", "k", b"again", 60_000) is None
    await quotas.release_claim("t1", "echo", "k", b"again")
    assert await quotas.get_claim("t1", "echo", "k") is None


async def test_redis_keys_are_the_tenants_own_and_all_expire(
    stores_factory: Callable[..., Stores],
) -> None:
    backend = stores_factory("redis")
    await backend.start()
    try:
        quotas = create_quota_store(backend)
        await quotas.hit("shop", [("rpm", 5), ("rpm.ci key", 5)], 60_000)
        await quotas.acquire("shop", "tasks", "h", 5, 30_000)
        await quotas.claim("shop", "echo", "ab" * 32, b"v", 60_000)
        client = backend.client  # type: ignore[attr-defined]
        keys = sorted(k.decode() for k in await client.keys("a2a:{q:*"))
        assert keys == ["a2a:{q:shop}:idem:echo:" + "ab" * 32, "a2a:{q:shop}:rpm",
                        "a2a:{q:shop}:rpm.ci%20key", "a2a:{q:shop}:tasks"]
        for key in keys:
            assert 0 < await client.pttl(key) <= 60_000
    finally:
        await backend.close()


async def test_expired_memory_claims_are_swept() -> None:
    from a2a_server.stores.quotas import InMemoryQuotaStore

    quotas = InMemoryQuotaStore()
    for i in range(1024):
        await quotas.claim("t1", "echo", f"old{i}", b"v", 1)
    await asyncio.sleep(0.01)
    await quotas.claim("t1", "echo", "new", b"v", 60_000)
    assert len(quotas._claims) == 1  # the 1024 expired ones went at the sweep
