"""What an executor may reach beyond its request: the stores, the tenants, the other agents.

Executors that need them (the LLM agent: earlier messages of a context, usage
counters, experts; the remote agent: the outbound-URL policy) define
``bind(services, agent_id)``; ``AgentRuntime`` calls it once, after building the
executor. Executors without ``bind`` are unaffected.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from a2a_server.push_policy import PushUrlPolicy
from a2a_server.stores.base import Stores

if TYPE_CHECKING:
    from a2a_server.protocol.handler import ServerRequestHandler
    from a2a_server.tenancy.config import TenantRegistry


@dataclass(frozen=True)
class AgentServices:
    """The process-wide pieces an executor may use."""

    stores: Stores
    runtimes: Mapping[str, Any]  # agent id -> AgentRuntime (filled as agents are built)
    tenants: TenantRegistry
    # Which outbound URLs may be called (push_url_allowlist): remote agents, tenant MCP servers.
    url_policy: PushUrlPolicy = field(default_factory=PushUrlPolicy)
    # Loads a tenant-created agent on this replica if it is not yet (TenantAgents.ensure).
    ensure: Callable[[str], Awaitable[None]] | None = None

    async def load_handler(self, tenant: str, agent_id: str) -> ServerRequestHandler | None:
        """``handler``, after loading ``agent_id`` if it is a created agent this replica has
        not served yet (an expert reference to it, from any replica)."""
        if self.ensure is not None:
            await self.ensure(agent_id)
        return self.handler(tenant, agent_id)

    def handler(self, tenant: str, agent_id: str) -> ServerRequestHandler | None:
        """The handler of ``agent_id`` if it exists and is enabled for ``tenant``."""
        config = self.tenants.get(tenant)
        runtime = self.runtimes.get(agent_id)
        if (config is None or runtime is None or not runtime.agent.enabled_for(config)
                or runtime.agent.deleted):
            return None
        handler: ServerRequestHandler = runtime.handler
        return handler
