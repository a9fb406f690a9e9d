"""Which agent answers the seed APIs, and finding a task among the tenant's agents.

A submit goes to the agent named by the ``X-Agent-ID`` header, else to the
tenant's ``default_agent`` (tenant file). A read or cancel names no agent in
Shannon's or agentlin's paths: with ``X-Agent-ID`` only that agent's tasks are
looked at; without it the default agent's first, then every other agent the
tenant may use (the operator's agents enabled for it, then its own created
agents, oldest first, deleted ones included while their tasks are kept), so a
task created through A2A on any of them is found. ``X-Agent-ID`` may name one of
the tenant's created agents (loaded on this replica if needed, as on the agent's
own routes). The scope is always the authenticated tenant's: another tenant's
task, and another tenant's agent, are not found.
"""

from __future__ import annotations

import asyncio

from a2a.types.a2a_pb2 import Task
from starlette.requests import Request

from a2a_server.errors import BadRequest, NotFound, StoreUnavailable
from a2a_server.protocol.gate import ServerState, admit, authenticate_counted, state_of
from a2a_server.protocol.runtime import AgentRuntime
from a2a_server.stores.base import Scope, set_current_scope
from a2a_server.tenancy.auth import Principal
from a2a_server.tenancy.config import TenantConfig

AGENT_HEADER = "x-agent-id"
MAX_ID_CHARS = 256
_LOOKUPS = 100  # agents a task is looked for in at once


async def _load(request: Request, agent_id: str) -> None:
    """Load ``agent_id`` on this replica if it is a tenant-created agent not loaded yet."""
    await request.app.state.tenant_agents.ensure(agent_id)


async def _named_agent(server: ServerState, tenant: TenantConfig, request: Request) -> str | None:
    named = request.headers.get(AGENT_HEADER)
    if named is None:
        return None
    await _load(request, named)
    runtime = server.runtimes.get(named)
    if runtime is None or not runtime.agent.enabled_for(tenant):
        raise NotFound(f"agent '{named[:MAX_ID_CHARS]}' not found")
    return named


async def agent_for_submit(request: Request) -> tuple[AgentRuntime, Principal, TenantConfig]:
    """Authenticate (counted in the tenant's request windows) and bind the scope of the
    agent that runs a new task.

    Raises:
        AuthError: 401/403.
        QuotaExceeded: the tenant's requests of this minute are used.
        NotFound: ``X-Agent-ID`` names no agent of the tenant.
        BadRequest: no header and no ``default_agent`` for the tenant.
    """
    server = state_of(request)
    _, tenant = await authenticate_counted(request)
    agent = await _named_agent(server, tenant, request) or tenant.default_agent
    if agent is None:
        raise BadRequest("no agent chosen: send X-Agent-ID or set default_agent in the tenant file")
    runtime, principal, _ = admit(request, agent, send=True)
    return runtime, principal, tenant


async def find_task(request: Request, task_id: str) -> tuple[AgentRuntime, Principal, Task] | None:
    """The task ``task_id`` of the caller's tenant, with its agent's runtime bound.

    Returns None when no agent of the tenant holds it (another tenant's task included).

    Raises:
        AuthError: 401/403.
        QuotaExceeded: the tenant's requests of this minute are used (counted here, once).
        NotFound: ``X-Agent-ID`` names no agent of the tenant.
        StoreUnavailable: the backend is down.
    """
    server = state_of(request)
    principal, tenant = await authenticate_counted(request)
    if not server.stores.available:
        raise StoreUnavailable()
    named = await _named_agent(server, tenant, request)
    if named is not None:
        candidates = [named]
    else:
        others = [a for a in server.agents.ids() if tenant.allows_agent(a) and a in server.runtimes]
        first = [tenant.default_agent] if tenant.default_agent else []
        candidates = first + [a for a in others if a != tenant.default_agent]
    if not task_id or len(task_id) > MAX_ID_CHARS:
        return None
    if named is None:
        created = await server.stores.agents.list(principal.tenant, deleted=True)
        candidates += [a.agent_id for a in created]

    async def lookup(agent: str) -> Task | None:
        scope = Scope(principal.tenant, agent)
        set_current_scope(scope)  # this lookup's own task
        return await server.stores.tasks.get_task_view(scope, task_id, None)

    # _LOOKUPS agents at a time (a tenant may hold hundreds of created agents), first hit wins.
    for start in range(0, len(candidates), _LOOKUPS):
        batch = candidates[start : start + _LOOKUPS]
        for agent, task in zip(batch, await asyncio.gather(*map(lookup, batch)), strict=True):
            if task is not None:
                await _load(request, agent)
                runtime, principal, _ = admit(request, agent)
                return runtime, principal, task
    return None
