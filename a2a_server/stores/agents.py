"""Agent definitions tenants create through the API (Corti's agent CRUD): the contract and
the in-memory backend.

A definition is owned by one tenant and addressed by its server-generated id (a UUID), so
a request can find it before it knows the tenant; every route then checks the owner (the
hidden-404 rule). ``version`` grows by one per write: replicas cache a definition with its
version and drop it when ``changes()`` names it (see ``protocol/agents_api.py``).

Ephemeral agents expire ``expires_ms`` after their creation (Corti: "deleted
periodically"); an expired definition is gone for every read.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

_FOREVER_MS = 0  # expires_ms of an agent that does not expire


class AgentConflict(Exception):
    """The write lost a race: the agent changed or was deleted meanwhile."""


TOMBSTONES_PER_AGENT = 10  # agents + tombstones a tenant may hold: 10 x its limit


class TooManyAgents(Exception):
    """The tenant already owns ``limit`` agents (or 10 x as many, deleted ones included)."""

    def __init__(self, limit: int, deleted: bool = False) -> None:
        super().__init__(
            f"this tenant has deleted too many agents recently ({TOMBSTONES_PER_AGENT * limit}"
            " including the ones whose tasks are still kept); retry later" if deleted else
            f"this tenant already has {limit} agents (the limit); delete one first")
        self.limit = limit


def now_ms() -> int:
    """Wall-clock milliseconds (what ``created_ms`` and ``expires_ms`` hold)."""
    return int(time.time() * 1000)


@dataclass(frozen=True)
class StoredAgent:
    """One stored definition: who owns it, its version and its Corti-shaped spec."""

    agent_id: str
    tenant: str
    spec: dict[str, Any]
    version: int = 1
    ephemeral: bool = False
    created_ms: int = field(default_factory=now_ms)
    updated_ms: int = field(default_factory=now_ms)
    expires_ms: int = _FOREVER_MS
    deleted: bool = False  # a tombstone: its tasks stay readable until it expires

    def to_bytes(self) -> bytes:
        """The record as stored (JSON)."""
        return orjson.dumps({"id": self.agent_id, "tenant": self.tenant, "spec": self.spec,
                             "version": self.version, "ephemeral": self.ephemeral,
                             "created_ms": self.created_ms, "updated_ms": self.updated_ms,
                             "expires_ms": self.expires_ms, "deleted": self.deleted})

    @classmethod
    def from_bytes(cls, raw: bytes) -> StoredAgent:
        """Parse ``to_bytes``' output."""
        data = orjson.loads(raw)
        return cls(data["id"], data["tenant"], data["spec"], int(data["version"]),
                   bool(data["ephemeral"]), int(data["created_ms"]), int(data["updated_ms"]),
                   int(data.get("expires_ms") or 0), bool(data.get("deleted")))

    def updated(self, spec: dict[str, Any]) -> StoredAgent:
        """The next version with ``spec``."""
        return replace(self, spec=spec, version=self.version + 1, updated_ms=now_ms())

    def tombstone(self, keep_ms: int) -> StoredAgent:
        """The next version, deleted, expiring ``keep_ms`` from now."""
        at = now_ms()
        return replace(self, version=self.version + 1, updated_ms=at, deleted=True,
                       expires_ms=at + keep_ms)

    def expired(self, at_ms: int) -> bool:
        """Whether an ephemeral agent's time is up."""
        return self.expires_ms != _FOREVER_MS and self.expires_ms <= at_ms


class AgentDefinitionStore(ABC):
    """Where tenant-created agent definitions live (shared by every replica on Redis)."""

    @abstractmethod
    async def create(self, agent: StoredAgent, max_agents: int) -> None:
        """Store a new definition.

        Raises:
            TooManyAgents: the tenant owns ``max_agents`` already (ephemeral ones included).
        """

    @abstractmethod
    async def get(self, agent_id: str) -> StoredAgent | None:
        """The definition, whoever owns it (the caller checks the owner), or None."""

    @abstractmethod
    async def update(self, agent: StoredAgent) -> None:
        """Replace the definition whose version is ``agent.version - 1``.

        Raises:
            AgentConflict: it is gone, or another write came first.
        """

    @abstractmethod
    async def delete(self, tombstone: StoredAgent) -> None:
        """Replace the definition at ``tombstone.version - 1`` by ``tombstone`` (deleted:
        not listed, not counted, gone at its ``expires_ms``).

        Raises:
            AgentConflict: it is gone, deleted already, or another write came first.
        """

    @abstractmethod
    async def list(self, tenant: str, *, deleted: bool = False) -> list[StoredAgent]:
        """Every live definition of ``tenant``, oldest first (at most its limit, plus its
        tombstones when ``deleted``)."""

    @abstractmethod
    def changes(self) -> AsyncIterator[str]:
        """Ids of definitions written or deleted by any replica (this one too), as they happen."""

    async def publish(self, agent_id: str) -> None:  # noqa: B027 - optional hook
        """Tell every replica ``agent_id`` changed (the writes above do it themselves)."""


class InMemoryAgentStore(AgentDefinitionStore):
    """Definitions in this process; ``changes`` reaches this process's watchers."""

    def __init__(self) -> None:
        self._agents: dict[str, StoredAgent] = {}
        self._watchers: list[asyncio.Queue[str]] = []

    def _live(self, agent_id: str) -> StoredAgent | None:
        agent = self._agents.get(agent_id)
        if agent is not None and agent.expired(now_ms()):
            del self._agents[agent_id]
            return None
        return agent

    async def create(self, agent: StoredAgent, max_agents: int) -> None:
        """See ``AgentDefinitionStore.create``."""
        if len(await self.list(agent.tenant)) >= max_agents:
            raise TooManyAgents(max_agents)
        if len(await self.list(agent.tenant, deleted=True)) >= TOMBSTONES_PER_AGENT * max_agents:
            raise TooManyAgents(max_agents, deleted=True)
        self._agents[agent.agent_id] = agent
        await self.publish(agent.agent_id)

    async def get(self, agent_id: str) -> StoredAgent | None:
        """See ``AgentDefinitionStore.get``."""
        return self._live(agent_id)

    async def update(self, agent: StoredAgent) -> None:
        """See ``AgentDefinitionStore.update``."""
        current = self._live(agent.agent_id)
        if (current is None or current.deleted or current.tenant != agent.tenant
                or current.version != agent.version - 1):
            raise AgentConflict(agent.agent_id)
        self._agents[agent.agent_id] = agent
        await self.publish(agent.agent_id)

    async def delete(self, tombstone: StoredAgent) -> None:
        """See ``AgentDefinitionStore.delete``."""
        await self.update(tombstone)

    async def list(self, tenant: str, *, deleted: bool = False) -> list[StoredAgent]:
        """See ``AgentDefinitionStore.list``."""
        mine = [a for a in list(self._agents.values())
                if a.tenant == tenant and (deleted or not a.deleted)]
        live = [a for a in mine if self._live(a.agent_id) is not None]
        return sorted(live, key=lambda a: (a.created_ms, a.agent_id))

    async def publish(self, agent_id: str) -> None:
        """Wake every watcher."""
        for queue in self._watchers:
            queue.put_nowait(agent_id)

    async def changes(self) -> AsyncIterator[str]:
        """See ``AgentDefinitionStore.changes``."""
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._watchers.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._watchers.remove(queue)
