"""Corti's agent CRUD: ``GET/POST /agents``, ``GET/PATCH/DELETE /agents/{id}``, and the
per-replica cache that serves created agents from every replica.

**Scope.** Every route authenticates first and works in the caller's tenant only: another
tenant's agent, and an operator agent not enabled for the caller, are a 404 exactly like a
missing one. Operator agents (``agent_cards/``) are read-only: PATCH and DELETE on one the
caller can see answer 403 ``PERMISSION_DENIED``.

**Cache.** A replica builds an ``AgentRuntime`` for a created agent the first time a request
with valid credentials names it (``TenantAgents.ensure_for``, called before the agent's
routes run: one store read; bad credentials cause none), and keeps it with the definition's
version. Invalidation across replicas: every write appends the agent id to the store's
changes stream (Redis: ``a2a:{agents}:changes``), which every replica reads
(``TenantAgents.watch``, ``XREAD BLOCK``) and reloads or drops that agent; as a backstop an
entry is re-read when it is older than ``cache_seconds`` (default 30 s) at its next use. So
a change is seen by the other replicas as soon as they read the stream (milliseconds), and
at the latest ``cache_seconds`` after it if the stream reader was cut off; the writing
replica sees it at once.

**Delete.** The definition is replaced by a tombstone: the agent is no longer listed,
fetched, changed or counted, and new sends to it answer 404 on every replica; its open
tasks are cancelled through its handler (a run on another replica is told to stop, as any
cancel). Its finished tasks stay readable (``GET .../tasks/{id}``, lists, contexts,
subscribe) until the tombstone expires: after the tenant's ``retention_seconds``, or the
operator's ``deleted_retention_seconds`` (7 days) for a tenant that keeps tasks forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import CancelTaskRequest, ListTasksRequest, TaskState
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope as ASGIScope

from a2a_server.agents.api_defined import (
    AGENT_UUID,
    AgentCreate,
    AgentUpdate,
    InvalidAgent,
    TenantAgentPolicy,
    agent_object,
    build_spec,
    definition_of,
    parse,
)
from a2a_server.agents.registry import AgentDefinition
from a2a_server.errors import BadRequest, MalformedJSON, NotFound, StoreUnavailable, json_response
from a2a_server.protocol.gate import (
    ServerState,
    authenticate_counted,
    parse_non_negative,
    require_json,
    state_of,
)
from a2a_server.protocol.rest import rest_endpoint
from a2a_server.protocol.routing import match
from a2a_server.protocol.runtime import AgentRuntime
from a2a_server.push_policy import PushUrlPolicy
from a2a_server.stores.agents import AgentConflict, StoredAgent, TooManyAgents, now_ms
from a2a_server.stores.base import SCOPE_KEY, Scope, set_current_scope
from a2a_server.tenancy.auth import Principal
from a2a_server.tenancy.config import TenantConfig

logger = logging.getLogger(__name__)

_OPEN_STATES = (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING,
                TaskState.TASK_STATE_INPUT_REQUIRED, TaskState.TASK_STATE_AUTH_REQUIRED)
_CANCEL_PAGES = 10  # pages of 100 open tasks per state cancelled by a DELETE
_RETIRE_WAIT_S = 3_600.0  # an updated agent's old runtime finishes its runs, this long at most


@dataclass
class _Entry:
    version: int
    checked: float


class TenantAgents:
    """This replica's runtimes of tenant-created agents, kept in step with the store."""

    def __init__(self, server: ServerState, policy: TenantAgentPolicy, url_policy: PushUrlPolicy,
                 build: Callable[[AgentDefinition], AgentRuntime]) -> None:
        self.server = server
        self.policy = policy
        self.url_policy = url_policy
        self._build = build
        self._loaded: OrderedDict[str, _Entry] = OrderedDict()  # least recently used first
        self._retiring: set[asyncio.Task[None]] = set()

    async def ensure(self, agent_id: str) -> None:
        """Before a route of ``agent_id``: load it if it is a created agent not cached yet
        (or cached longer than ``cache_seconds``). A store outage leaves things as they are."""
        if not self._current(agent_id):
            await self._load(agent_id)

    async def _load(self, agent_id: str) -> None:
        with contextlib.suppress(StoreUnavailable):
            self.apply(agent_id, await self.server.stores.agents.get(agent_id))

    async def ensure_for(self, agent_id: str, headers: Mapping[str, str],
                         marks: MutableMapping[str, Any] | None = None) -> None:
        """``ensure`` for a request not admitted yet (HTTP and gRPC call it first): the store
        is read only for a caller whose credentials are valid, whatever its tenant.

        A missing or bad credential causes no read, so it cannot make one Redis GET per
        request; the gate then refuses it with the 401 it gives for any agent, created or
        not, so its answer says nothing about which agents exist. Which agents a tenant may
        use is the gate's to say too (the same 404 for another tenant's and a missing one).

        With ``marks`` (the request's, for a request that is counted against its tenant's
        ``requests_per_minute``), the request is counted before the read
        (``Quotas.count_ahead``) and one over the limit reads nothing: the gate answers it
        with the 429, so the tenant's quota bounds the reads its credentials cause.
        """
        if not self._current(agent_id):
            await self._load_for(agent_id, headers, marks)

    async def ensure_for_http(self, agent_id: str, scope: ASGIScope) -> None:
        """``ensure_for`` an HTTP request (``A2AServerApp.before_agent``): its headers are
        built only if the agent is not cached and fresh (a cached one's requests need none);
        an agent protocol request (``routing.match``, each counted) is counted ahead."""
        if self._current(agent_id):
            return
        counted = not scope.get("root_path") and match(scope["method"], scope["path"]) is not None
        await self._load_for(agent_id, Headers(scope=scope), scope if counted else None)

    async def _load_for(self, agent_id: str, headers: Mapping[str, str],
                        marks: MutableMapping[str, Any] | None) -> None:
        """``ensure_for`` once ``_current`` said the agent needs a read."""
        principal = self.server.auth.identify(headers)
        if principal is None:
            return
        if marks is not None and not await self._count_ahead(principal, marks):
            return
        await self._load(agent_id)

    async def _count_ahead(self, principal: Principal, marks: MutableMapping[str, Any]) -> bool:
        quotas, tenant = self.server.quotas, self.server.tenants.get(principal.tenant)
        if quotas is None or tenant is None or tenant.limits is None:
            return True
        return await quotas.count_ahead(tenant, principal, marks)

    def _current(self, agent_id: str) -> bool:
        """``agent_id`` needs no store read: not a created agent's id, or cached and fresh."""
        if not AGENT_UUID.match(agent_id):
            return True
        entry = self._loaded.get(agent_id)
        if entry is None:
            return False
        self._loaded.move_to_end(agent_id)
        return time.monotonic() - entry.checked < self.policy.cache_seconds

    def apply(self, agent_id: str, stored: StoredAgent | None, *,
              keep_old: bool = False) -> AgentRuntime | None:
        """Serve ``stored`` (None: stop serving ``agent_id``); the runtime now serving it.

        The runtime it replaces is closed: at once if ``stored`` is a deletion, else once its
        runs end; ``keep_old`` leaves it to the caller.
        """
        runtimes = self.server.runtimes
        entry = self._loaded.get(agent_id)
        if stored is None:
            if entry is not None:
                del self._loaded[agent_id]
                self.retire(runtimes.pop(agent_id, None), stop=True)
            return None
        if entry is not None and entry.version >= stored.version:
            entry.checked = time.monotonic()
            return runtimes.get(agent_id)
        try:
            runtime = self._build(definition_of(stored, self.policy))
        except (TypeError, ValueError) as exc:
            logger.error("created agent %s of tenant %s cannot be served: %s", agent_id,
                         stored.tenant, exc)
            return None
        old = runtimes.get(agent_id)
        runtimes[agent_id] = runtime
        self._loaded[agent_id] = _Entry(stored.version, time.monotonic())
        if not keep_old:
            self.retire(old, stop=stored.deleted)
        self._evict()
        return runtime

    def _evict(self) -> None:
        """Drop the least recently used idle runtimes beyond ``max_cached_agents``."""
        excess = len(self._loaded) - self.policy.max_cached_agents
        for agent_id in list(self._loaded):
            if excess <= 0:
                return
            runtime = self.server.runtimes.get(agent_id)
            if runtime is None or runtime.handler.runner.idle:
                del self._loaded[agent_id]
                self.retire(self.server.runtimes.pop(agent_id, None), stop=True)
                excess -= 1

    def retire(self, runtime: AgentRuntime | None, *, stop: bool) -> None:
        """Close ``runtime`` in the background (``stop``: at once, else after its runs)."""
        if runtime is None:
            return
        task = asyncio.create_task(self._close(runtime, stop))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    @staticmethod
    async def _close(runtime: AgentRuntime, stop: bool) -> None:
        """Close a runtime no longer served; an updated agent's runs finish first."""
        if not stop:
            deadline = time.monotonic() + _RETIRE_WAIT_S
            while not runtime.handler.runner.idle and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(1.0)
        await runtime.aclose()
        closer = getattr(runtime.handler.agent_executor, "aclose", None)
        if callable(closer):
            await closer()

    async def watch(self) -> None:
        """Follow the store's changes (every replica's writes) for as long as the app runs;
        a reader that fails is restarted (meanwhile ``cache_seconds`` bounds staleness)."""
        while True:
            try:
                await self._follow()
            except Exception:
                logger.exception("reading the agent changes failed; reading again in 1 s")
                self._loaded.clear()  # every cached agent is checked again at its next use
                await asyncio.sleep(1.0)

    async def _follow(self) -> None:
        async for agent_id in self.server.stores.agents.changes():
            if agent_id not in self._loaded:
                continue
            try:
                self.apply(agent_id, await self.server.stores.agents.get(agent_id))
            except StoreUnavailable:
                self._loaded.pop(agent_id, None)  # re-read at its next use

    async def llm_agent_ids(self, tenant: str) -> list[str]:
        """``tenant``'s created LLM agents, deleted ones included (for ``tokens_per_day``)."""
        agents = await self.server.stores.agents.list(tenant, deleted=True)
        return [a.agent_id for a in agents if "remote" not in a.spec]

    async def aclose(self) -> None:
        """Stop closing retired runtimes (their runs are stopped by the app's shutdown)."""
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)

    async def cancel_open_tasks(self, runtime: AgentRuntime, tenant: str) -> int:
        """Cancel the agent's tasks that are still open (any replica's); how many."""
        scope = Scope(tenant, runtime.agent.agent_id)
        set_current_scope(scope)
        context = ServerCallContext(state={SCOPE_KEY: scope, "headers": {}})
        cancelled = 0
        for state in _OPEN_STATES:
            for _ in range(_CANCEL_PAGES):
                page = await self.server.stores.tasks.list(
                    ListTasksRequest(status=state, page_size=100), context)
                if not page.tasks:
                    break
                for task in page.tasks:
                    try:
                        await runtime.handler.on_cancel_task(CancelTaskRequest(id=task.id), context)
                        cancelled += 1
                    except Exception as exc:  # noqa: BLE001 - finished meanwhile, etc.
                        logger.info("deleted agent %s: task %s not cancelled: %s",
                                    runtime.agent.agent_id, task.id, exc)
                if not page.next_page_token:
                    break
        return cancelled


def tenant_agents(request: Request) -> TenantAgents:
    """The app's ``TenantAgents``."""
    found: TenantAgents = request.app.state.tenant_agents
    return found


def _operator_object(definition: AgentDefinition) -> dict[str, Any]:
    card = definition.card
    return {"id": definition.agent_id, "name": card.name, "description": card.description,
            "systemPrompt": definition.binding.options.get("system_prompt", ""), "experts": []}


def _visible(server: ServerState, tenant: TenantConfig,
             created: list[StoredAgent]) -> dict[str, str]:
    """Agents ``tenant`` may name as experts: id -> name."""
    out = {a.agent_id: a.card.name for a in server.agents if tenant.allows_agent(a.agent_id)}
    out.update({a.agent_id: a.spec["name"] for a in created})
    return out


async def _body(request: Request) -> Any:
    raw = await require_json(request)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSON(f"the request body is not valid JSON: {exc}") from None


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return False
    if raw.lower() not in ("true", "false", "1", "0"):
        raise BadRequest(f"field '{name}': expected true or false, got '{raw}'")
    return raw.lower() in ("true", "1")


def _invalid(exc: InvalidAgent) -> BadRequest:
    return BadRequest(str(exc))


async def _owned(request: Request) -> tuple[ServerState, TenantConfig, str, StoredAgent | None]:
    """Authenticate; the path's agent if it is the caller's created agent (else None).

    Raises:
        NotFound: neither the caller's created agent nor an operator agent it may use.
        BadRequest: 403, an operator agent (read-only through the API).
    """
    server = state_of(request)
    principal, tenant = await authenticate_counted(request)
    agent_id = request.path_params["agent_id"]
    stored = await server.stores.agents.get(agent_id) if AGENT_UUID.match(agent_id) else None
    if stored is not None and stored.tenant == principal.tenant and not stored.deleted:
        return server, tenant, agent_id, stored
    operator = server.agents.get(agent_id)
    if operator is not None and operator.enabled_for(tenant):
        return server, tenant, agent_id, None
    raise NotFound(f"agent '{agent_id}' not found")


def _read_only(agent_id: str) -> BadRequest:
    return BadRequest(f"agent '{agent_id}' is defined by the server's operator (an agent file) "
                      "and is read-only through the API; create your own with POST /agents",
                      status=403)


@rest_endpoint
async def list_agents(request: Request) -> Response:
    """GET /agents: the operator agents enabled for the tenant, then the tenant's created
    agents oldest first (``limit`` default 100, at most 1000; ``offset``; ``ephemeral=true``
    includes ephemeral ones)."""
    server = state_of(request)
    principal, tenant = await authenticate_counted(request)
    limit = parse_non_negative(request.query_params.get("limit"), "limit")
    offset = parse_non_negative(request.query_params.get("offset"), "offset") or 0
    limit = 100 if limit is None else min(limit, 1000)
    ephemeral = _flag(request, "ephemeral")
    items = [_operator_object(a) for a in server.agents if tenant.allows_agent(a.agent_id)]
    if not server.stores.available:
        raise StoreUnavailable()
    created = await server.stores.agents.list(principal.tenant)
    items += [agent_object(a) for a in created if ephemeral or not a.ephemeral]
    return json_response(items[offset : offset + limit])


@rest_endpoint
async def create_agent(request: Request) -> Response:
    """POST /agents[?ephemeral=true]: a new agent of the caller's tenant (201, Corti's agent)."""
    server = state_of(request)
    principal, tenant = await authenticate_counted(request)
    agents = tenant_agents(request)
    if not agents.policy.enabled:
        raise BadRequest("creating agents through the API is not enabled on this server "
                         "(the operator's tenant_agents_file)", status=403)
    body = await _body(request)
    try:
        parsed: AgentCreate = parse(AgentCreate, body)
        created = await server.stores.agents.list(principal.tenant)
        spec = await build_spec(parsed, None, agents.policy, agents.url_policy,
                                _visible(server, tenant, created))
        ephemeral = _flag(request, "ephemeral") or bool(parsed.ephemeral)
        stored = StoredAgent(str(uuid.uuid4()), principal.tenant, spec, ephemeral=ephemeral)
        if ephemeral:
            stored = StoredAgent(stored.agent_id, stored.tenant, spec, ephemeral=True,
                                 expires_ms=now_ms() + agents.policy.ephemeral_ttl_seconds * 1000)
        definition_of(stored, agents.policy)  # the executor accepts it
    except InvalidAgent as exc:
        raise _invalid(exc) from None
    except ValueError as exc:
        raise BadRequest(f"field '(agent)': {exc}") from None
    try:
        await server.stores.agents.create(stored, agents.policy.max_agents_per_tenant)
    except TooManyAgents as exc:
        raise BadRequest(str(exc), status=409) from None
    agents.apply(stored.agent_id, stored)
    return json_response(agent_object(stored), status=201,
                         headers={"Location": f"/agents/{stored.agent_id}"})


@rest_endpoint
async def get_agent(request: Request) -> Response:
    """GET /agents/{agent_id}: one Corti agent object (the caller's, or an operator agent)."""
    server, _, agent_id, stored = await _owned(request)
    if stored is not None:
        return json_response(agent_object(stored))
    definition = server.agents.get(agent_id)
    assert definition is not None
    return json_response(_operator_object(definition))


@rest_endpoint
async def update_agent(request: Request) -> Response:
    """PATCH /agents/{agent_id}: change the members given (experts are replaced as a whole)."""
    server, tenant, agent_id, stored = await _owned(request)
    if stored is None:
        raise _read_only(agent_id)
    agents = tenant_agents(request)
    body = await _body(request)
    try:
        parsed: AgentUpdate = parse(AgentUpdate, body)
        created = await server.stores.agents.list(tenant.name)
        visible = _visible(server, tenant, [a for a in created if a.agent_id != agent_id])
        spec = await build_spec(parsed, stored.spec, agents.policy, agents.url_policy, visible)
        updated = stored.updated(spec)
        definition_of(updated, agents.policy)
    except InvalidAgent as exc:
        raise _invalid(exc) from None
    except ValueError as exc:
        raise BadRequest(f"field '(agent)': {exc}") from None
    try:
        await server.stores.agents.update(updated)
    except AgentConflict:
        raise BadRequest(f"agent '{agent_id}' changed or was deleted meanwhile; read it again",
                         status=409) from None
    agents.apply(agent_id, updated)
    return json_response(agent_object(updated))


@rest_endpoint
async def delete_agent(request: Request) -> Response:
    """DELETE /agents/{agent_id}: 204; new sends get 404, open tasks are cancelled."""
    server, tenant, agent_id, stored = await _owned(request)
    if stored is None:
        raise _read_only(agent_id)
    agents = tenant_agents(request)
    keep_s = tenant.retention_seconds or agents.policy.deleted_retention_seconds
    tombstone = stored.tombstone(int(keep_s * 1000))
    runtime = agents.apply(agent_id, stored)  # its handler cancels the open tasks
    try:
        await server.stores.agents.delete(tombstone)
    except AgentConflict:
        raise BadRequest(f"agent '{agent_id}' changed or was deleted meanwhile; read it again",
                         status=409) from None
    agents.apply(agent_id, tombstone, keep_old=True)  # sends get 404 here from now on
    if runtime is not None:
        cancelled = await agents.cancel_open_tasks(runtime, tenant.name)
        if cancelled:
            logger.info("deleted agent %s: cancelled %d open tasks", agent_id, cancelled)
        agents.retire(runtime, stop=True)
    return Response(status_code=204)
