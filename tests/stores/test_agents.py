"""The AgentDefinitionStore contract (tenant-created agents) on every backend: memory, a real
Redis and a real Redis Cluster."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from a2a_server.stores.agents import AgentConflict, StoredAgent, TooManyAgents, now_ms
from a2a_server.stores.base import Stores

SPEC = {"name": "Triage", "description": "Sorts.", "systemPrompt": "", "experts": []}


def agent(tenant: str = "t1", **extra: object) -> StoredAgent:
    return StoredAgent(str(uuid.uuid4()), tenant, SPEC, **extra)  # type: ignore[arg-type]


async def test_create_get_update_delete(stores: Stores) -> None:
    made = agent()
    await stores.agents.create(made, 10)
    assert await stores.agents.get(made.agent_id) == made
    changed = made.updated({**SPEC, "name": "Sorter"})
    await stores.agents.update(changed)
    assert (await stores.agents.get(made.agent_id)) == changed
    with pytest.raises(AgentConflict):  # written from a stale version
        await stores.agents.update(made.updated({**SPEC, "name": "late"}))
    with pytest.raises(AgentConflict):  # another tenant's
        await stores.agents.update(StoredAgent(made.agent_id, "t2", SPEC, version=3))
    assert [a.agent_id for a in await stores.agents.list("t1")] == [made.agent_id]
    assert await stores.agents.list("t2") == []

    tombstone = changed.tombstone(60_000)
    await stores.agents.delete(tombstone)
    stored = await stores.agents.get(made.agent_id)
    assert stored is not None and stored.deleted and stored.version == changed.version + 1
    assert await stores.agents.list("t1") == []
    assert [a.agent_id for a in await stores.agents.list("t1", deleted=True)] == [made.agent_id]
    with pytest.raises(AgentConflict):  # deleted already
        await stores.agents.delete(stored.tombstone(60_000))
    with pytest.raises(AgentConflict):
        await stores.agents.update(stored.updated(SPEC))


async def test_the_limit_is_exact_under_concurrent_creates_and_per_tenant(stores: Stores) -> None:
    answers = await asyncio.gather(*(stores.agents.create(agent(), 5) for _ in range(20)),
                                   return_exceptions=True)
    assert sum(a is None for a in answers) == 5
    assert all(isinstance(a, TooManyAgents) for a in answers if a is not None)
    assert len(await stores.agents.list("t1")) == 5
    await stores.agents.create(agent("t2"), 5)  # another tenant counts its own


async def test_deleted_agents_free_their_place_but_tombstones_are_bounded(stores: Stores) -> None:
    made = agent()
    await stores.agents.create(made, 1)
    await stores.agents.delete(made.tombstone(60_000))
    for _ in range(9):  # 1 agent + 9 tombstones = 10 x the limit
        again = agent()
        await stores.agents.create(again, 1)
        await stores.agents.delete(again.tombstone(60_000))
    with pytest.raises(TooManyAgents, match="deleted too many"):
        await stores.agents.create(agent(), 1)


async def test_ephemeral_agents_expire(stores: Stores) -> None:
    made = agent(ephemeral=True, expires_ms=now_ms() + 200)
    await stores.agents.create(made, 1)
    assert await stores.agents.get(made.agent_id) is not None
    await asyncio.sleep(0.3)
    assert await stores.agents.get(made.agent_id) is None
    await stores.agents.create(agent(), 1)  # the expired one no longer counts


async def test_every_write_is_announced(stores: Stores) -> None:
    seen: list[str] = []
    changes = stores.agents.changes()

    async def read() -> None:
        async for agent_id in changes:
            seen.append(agent_id)
            if len(seen) == 3:
                return

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.1)  # the reader takes its position
    made = agent()
    await stores.agents.create(made, 10)
    changed = made.updated(SPEC)
    await stores.agents.update(changed)
    await stores.agents.delete(changed.tombstone(60_000))
    await asyncio.wait_for(reader, 10)
    assert seen == [made.agent_id] * 3
