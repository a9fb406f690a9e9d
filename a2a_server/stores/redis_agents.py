"""Tenant-created agent definitions on Redis: one slot (``{agents}``), one script per write
(see ``_keys`` for the keys, ``stores/agents.py`` for the contract)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from a2a_server.stores._redis_base import UNAVAILABLE_ERRORS, RedisContext, follow_stream
from a2a_server.stores.agents import (
    AgentConflict,
    AgentDefinitionStore,
    StoredAgent,
    TooManyAgents,
    now_ms,
)

_BLOCK_MS = 2_000
_CHANGES_MAXLEN = 1_000


class RedisAgentStore(AgentDefinitionStore):
    """Definitions as hashes, a per-tenant index, a changes stream read by every replica."""

    def __init__(self, redis: RedisContext) -> None:
        self._r = redis

    async def create(self, agent: StoredAgent, max_agents: int) -> None:
        """See ``AgentDefinitionStore.create`` (one script: prune, count, write, announce)."""
        keys = self._r.keys
        ttl = max(agent.expires_ms - now_ms(), 1) if agent.expires_ms else 0
        with self._r.errors():
            created = await self._r.run(
                "agent_create",
                [keys.agent(agent.agent_id), keys.agent_index(agent.tenant), keys.agent_changes],
                [agent.agent_id, agent.to_bytes(), agent.tenant, agent.created_ms, ttl, max_agents,
                 keys.agent_prefix, _CHANGES_MAXLEN])
        if int(created) != 1:
            raise TooManyAgents(max_agents, deleted=int(created) < 0)

    async def get(self, agent_id: str) -> StoredAgent | None:
        """See ``AgentDefinitionStore.get``."""
        with self._r.errors():
            raw = await self._r.client.hget(self._r.keys.agent(agent_id), "d")
        return StoredAgent.from_bytes(raw) if raw else None

    async def update(self, agent: StoredAgent) -> None:
        """See ``AgentDefinitionStore.update`` (compare-and-set on the version)."""
        keys = self._r.keys
        with self._r.errors():
            written = await self._r.run(
                "agent_update", [keys.agent(agent.agent_id), keys.agent_changes],
                [agent.agent_id, agent.to_bytes(), agent.tenant, agent.version - 1, agent.version,
                 _CHANGES_MAXLEN])
        if not int(written):
            raise AgentConflict(agent.agent_id)

    async def delete(self, tombstone: StoredAgent) -> None:
        """See ``AgentDefinitionStore.delete`` (compare-and-set, PEXPIRE, out of the index)."""
        keys = self._r.keys
        agent_id = tombstone.agent_id
        with self._r.errors():
            deleted = await self._r.run(
                "agent_delete",
                [keys.agent(agent_id), keys.agent_index(tombstone.tenant), keys.agent_changes],
                [agent_id, tombstone.to_bytes(), tombstone.tenant, tombstone.version - 1,
                 tombstone.version, max(tombstone.expires_ms - now_ms(), 1), _CHANGES_MAXLEN])
        if not int(deleted):
            raise AgentConflict(agent_id)

    async def list(self, tenant: str, *, deleted: bool = False) -> list[StoredAgent]:
        """See ``AgentDefinitionStore.list`` (the index, then one pipelined HGET per agent)."""
        keys = self._r.keys
        with self._r.errors():
            ids = [m.decode() for m in await self._r.client.zrange(keys.agent_index(tenant), 0, -1)]
            if not ids:
                return []
            pipe = self._r.client.pipeline(transaction=False)
            for agent_id in ids:
                pipe.hget(keys.agent(agent_id), "d")
            records = await pipe.execute()
        agents = [StoredAgent.from_bytes(raw) for raw in records if raw]
        return [agent for agent in agents if deleted or not agent.deleted]

    async def changes(self) -> AsyncIterator[str]:
        """XREAD the changes stream from its end at the first call (every replica reads it)."""
        key = self._r.keys.agent_changes
        try:
            last = await self._r.client.xrevrange(key, "+", "-", count=1)
            cursor = last[0][0].decode() if last else "0-0"
        except UNAVAILABLE_ERRORS:
            cursor = "$"
        async for _, fields in follow_stream(self._r.client, key, cursor, block_ms=_BLOCK_MS):
            yield fields[b"a"].decode()
