"""Contexts (conversations): ``GET|DELETE /agents/{id}/v1/contexts/{contextId}``, and
Corti v2's tenant-wide ``GET /agentic/contexts/{contextId}``.

A context lists, in order, the tasks created in it and the direct messages
exchanged in it: ``{"id", "items": [...], "total", "limit", "offset"}``.
0.3 items are Corti/A2A 0.3 objects with ``kind``; 1.0 items are
``{"task": ...}`` or ``{"message": ...}``. DELETE scrubs every message and
artifact in the context and keeps ids and statuses for audit.
"""

from __future__ import annotations

import asyncio
import logging

from a2a.types.a2a_pb2 import Message, Task
from google.protobuf.message import DecodeError
from starlette.requests import Request
from starlette.responses import Response

from a2a_server.errors import NotFound, StoreUnavailable, json_response
from a2a_server.protocol import shapes
from a2a_server.protocol.gate import (
    admit_counted,
    authenticate_counted,
    is_v1,
    parse_non_negative,
    state_of,
)
from a2a_server.protocol.rest import rest_endpoint
from a2a_server.stores.base import (
    SCOPE_KEY,
    ContextItem,
    ContextPage,
    Scope,
    Stores,
    set_current_scope,
)

logger = logging.getLogger(__name__)

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
_LOOKUPS = 100  # agents whose contexts are looked up at once (v2)


def _paging(request: Request, v1: bool) -> tuple[int, int, int | None]:
    """limit, offset and historyLength (None = all, in the request's version's semantics)."""
    limit = parse_non_negative(request.query_params.get("limit"), "limit")
    offset = parse_non_negative(request.query_params.get("offset"), "offset") or 0
    history = parse_non_negative(request.query_params.get("historyLength"), "historyLength")
    if not v1 and history == 0:
        history = None  # 0.3: 0 means unlimited
    return (DEFAULT_LIMIT if limit is None else min(limit, MAX_LIMIT)), offset, history


def _page_json(context_id: str, items: list[Task | Message], total: int, limit: int,
               offset: int, v1: bool) -> Response:
    return json_response({
        "id": context_id,
        "items": shapes.render_each(items, lambda item: shapes.context_item_json(item, v03=not v1)),
        "total": total,
        "limit": limit,
        "offset": offset,
    })


@rest_endpoint
async def get_context(request: Request) -> Response:
    """GET .../contexts/{contextId}?limit&offset&historyLength"""
    await admit_counted(request, request.path_params["agent_id"])
    v1 = is_v1(request)
    limit, offset, history = _paging(request, v1)
    scope: Scope = request.scope[SCOPE_KEY]
    stores = state_of(request).stores
    context_id = request.path_params["context_id"]
    page = await stores.contexts.page(scope, context_id, limit, offset)
    if page is None:
        raise NotFound(f"context {context_id} not found")
    items = await _resolve(stores, scope, page.items, history)
    return _page_json(context_id, items, page.total, limit, offset, v1)


@rest_endpoint
async def delete_context(request: Request) -> Response:
    """DELETE .../contexts/{contextId}: scrub its messages and artifacts."""
    await admit_counted(request, request.path_params["agent_id"])
    scope: Scope = request.scope[SCOPE_KEY]
    stores = state_of(request).stores
    context_id = request.path_params["context_id"]
    task_ids = await stores.contexts.scrub(scope, context_id)
    if task_ids is None:
        raise NotFound(f"context {context_id} not found")
    for task_id in task_ids:
        await stores.tasks.scrub(scope, task_id)
    return Response(status_code=204)


async def _resolve(stores: Stores, scope: Scope, items: list[ContextItem],
                   history: int | None) -> list[Task | Message]:
    resolved: list[Task | Message] = []
    for item in items:
        if item.message is not None:
            resolved.append(item.message)
        elif item.task_id is not None:
            try:
                task = await stores.tasks.get_task_view(scope, item.task_id, history)
            except DecodeError as exc:  # one record the decoder refuses: leave it out
                logger.warning("task %s cannot be decoded; left out of its context: %s",
                               item.task_id, exc)
                continue
            if task is not None:
                resolved.append(task)
    return resolved


async def _pages(stores: Stores, tenant: str, agent_ids: list[str],
                 context_id: str) -> list[tuple[Scope, ContextPage | None]]:
    """The context's page in each agent, in ``agent_ids``' order: asked ``_LOOKUPS`` agents at
    a time (a tenant may hold hundreds of created agents; Redis pipelines the lookups)."""

    async def one(scope: Scope) -> ContextPage | None:
        set_current_scope(scope)  # this lookup's own task
        return await stores.contexts.page(scope, context_id, MAX_LIMIT, 0)

    scopes = [Scope(tenant, agent_id) for agent_id in agent_ids]
    pages: list[ContextPage | None] = []
    for start in range(0, len(scopes), _LOOKUPS):
        pages += await asyncio.gather(*(one(s) for s in scopes[start : start + _LOOKUPS]))
    return list(zip(scopes, pages, strict=True))


@rest_endpoint
async def get_tenant_context(request: Request) -> Response:
    """GET /agentic/contexts/{contextId}?historyLength&limit&offset (Corti v2).

    v2 names no agent: the context is looked up in every agent the tenant may
    use (stores keep contexts per tenant and agent): the operator's agents
    enabled for it, in their order, then the tenant's own created agents, oldest
    first, deleted ones included (their tasks stay readable until their tombstone
    expires, as on the agent's own routes). The items of each agent holding it are
    listed in that order, each agent's in their order.
    """
    server = state_of(request)
    principal, tenant = await authenticate_counted(request)
    if not server.stores.available:
        raise StoreUnavailable()
    v1 = is_v1(request)
    limit, offset, history = _paging(request, v1)
    context_id = request.path_params["context_id"]
    items: list[Task | Message] = []
    found = False
    agent_ids = [a for a in server.agents.ids() if tenant.allows_agent(a)]
    agent_ids += [a.agent_id for a in await server.stores.agents.list(principal.tenant,
                                                                       deleted=True)]
    for scope, page in await _pages(server.stores, principal.tenant, agent_ids, context_id):
        if page is not None:
            found = True
            set_current_scope(scope)
            items += await _resolve(server.stores, scope, page.items, history)
    if not found:
        raise NotFound(f"context {context_id} not found")
    return _page_json(context_id, items[offset : offset + limit], len(items), limit, offset, v1)
