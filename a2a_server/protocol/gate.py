"""The gate every agent route passes: authenticate, resolve tenant and agent, bind scope.

After ``admit`` returns, ``request.scope`` carries the ``Principal`` and the
``Scope`` (authenticated tenant, agent), and the ``current_scope`` context
variable is bound; nothing downstream reads the tenant from headers or bodies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from a2a.utils.errors import InvalidParamsError, InvalidRequestError, VersionNotSupportedError
from starlette.requests import Request

from a2a_server.agents.registry import AgentRegistry
from a2a_server.errors import BadRequest, NotFound, StoreUnavailable
from a2a_server.observability.http import VERSION_KEY
from a2a_server.protocol.quotas import Quotas
from a2a_server.protocol.runtime import PRINCIPAL_KEY, AgentRuntime
from a2a_server.settings import Settings
from a2a_server.stores.base import SCOPE_KEY, Scope, Stores, set_current_scope
from a2a_server.tenancy.auth import Authenticator, AuthError, Principal
from a2a_server.tenancy.config import TenantConfig, TenantRegistry
from a2a_server.tenancy.tokens import TokenIssuer

VERSION_HEADER = "a2a-version"
_VERSION_KEY = VERSION_HEADER.encode()
_JSON_TYPES = ("application/json", "application/a2a+json")
_DIGITS = re.compile(r"^[0-9]{1,9}$")


class AgentNotFound(NotFound):
    """The agent is not found for credentials the gate accepted: the binding counts the
    request against the tenant's request windows before it answers (``count_not_found``),
    so an over-limit caller gets the 429 whether or not the agent exists."""

    def __init__(self, agent_id: str, principal: Principal, tenant: TenantConfig) -> None:
        super().__init__(f"agent '{agent_id}' not found")
        self.principal = principal
        self.tenant = tenant


@dataclass
class ServerState:
    """Everything a request may need, built once per app."""

    settings: Settings
    tenants: TenantRegistry
    agents: AgentRegistry
    tokens: TokenIssuer
    auth: Authenticator
    stores: Stores
    runtimes: dict[str, AgentRuntime] = field(default_factory=dict)
    quotas: Quotas | None = None  # tenant limits (protocol/quotas.py), set by create_app


def state_of(request: Request) -> ServerState:
    """The app's ``ServerState`` (``A2AServerApp.server_state``, else ``app.state.server``)."""
    server: ServerState | None = getattr(request.scope["app"], "server_state", None)
    return server if server is not None else request.app.state.server


def query_param(request: Request, name: str) -> str | None:
    """``request.query_params.get(name)``, without parsing anything when there is no query
    string (most requests: building Starlette's ``QueryParams`` was ~7 % of a task GET)."""
    if not request.scope.get("query_string"):
        return None
    return request.query_params.get(name)


def admit(
    request: Request, agent_id: str, tenant_hint: str | None = None, *, send: bool = False
) -> tuple[AgentRuntime, Principal, TenantConfig]:
    """Authenticate and bind the scope for an agent route.

    Raises:
        AuthError: 401/403 (before anything about the agent is revealed).
        NotFound: the agent does not exist or is not enabled for the tenant (or, for a
            ``send``, was deleted).
        StoreUnavailable: the backend is down; nothing was attempted.
    """
    hints = (request.path_params.get("tenant"), query_param(request, "tenant"), tenant_hint)
    runtime, principal, tenant, scope = admit_call(
        state_of(request), request.headers, agent_id, hints, send=send
    )
    request.scope[PRINCIPAL_KEY] = principal
    request.scope[SCOPE_KEY] = scope
    return runtime, principal, tenant


async def authenticate_counted(request: Request) -> tuple[Principal, TenantConfig]:
    """Authenticate a tenant-level route (no agent in its path) and count it against the
    tenant's request windows (``requests_per_minute``, per credential).

    Raises:
        AuthError: 401/403.
        QuotaExceeded: the tenant (or this credential) used its requests of this minute.
    """
    principal, tenant = state_of(request).auth.authenticate_request(request)
    await count_request(request, principal, tenant)
    return principal, tenant


async def admit_counted(
    request: Request, agent_id: str, *, send: bool = False
) -> tuple[AgentRuntime, Principal, TenantConfig]:
    """``admit``, then count the request against the tenant's request windows.

    Raises:
        AuthError, NotFound, StoreUnavailable: as ``admit``.
        QuotaExceeded: the tenant (or this credential) used its requests of this minute.
    """
    try:
        runtime, principal, tenant = admit(request, agent_id, send=send)
    except AgentNotFound as exc:
        await count_not_found(request, exc)
        raise
    await count_request(request, principal, tenant)
    return runtime, principal, tenant


async def count_not_found(request: Request, missing: AgentNotFound) -> None:
    """Count a request whose agent was not found (the binding then raises ``missing``).

    Raises:
        QuotaExceeded: the tenant (or this credential) used its requests of this minute.
    """
    await count_request(request, missing.principal, missing.tenant)


async def count_request(request: Request, principal: Principal, tenant: TenantConfig) -> None:
    """Count an authenticated request against the tenant's request windows
    (``requests_per_minute``, per credential); its answer then carries what is left of them.

    The one place an HTTP request is counted: ``admit_counted``, ``authenticate_counted``,
    ``count_not_found`` and the REST routes (``protocol/rest.py``) go through it (a count
    made ahead of a created agent's store read is used, not repeated: ``Quotas.count_ahead``).

    Raises:
        QuotaExceeded: the tenant (or this credential) used its requests of this minute.
    """
    quotas = state_of(request).quotas
    if quotas is not None and tenant.limits is not None:  # no coroutine for a tenant without
        await quotas.check_request(tenant, principal, request)


def admit_call(
    server: ServerState, headers: Mapping[str, str], agent_id: str,
    tenant_hints: tuple[str | None, ...], *, send: bool = False,
) -> tuple[AgentRuntime, Principal, TenantConfig, Scope]:
    """``admit`` for any binding: credentials and tenant hints to a bound ``Scope``.

    ``headers`` is a lower-case mapping (HTTP headers, gRPC metadata); the
    ``current_scope`` context variable is bound to the returned scope.

    Raises:
        AuthError: 401/403 (before anything about the agent is revealed).
        AgentNotFound: the agent does not exist or is not enabled for the tenant.
        StoreUnavailable: the backend is down; nothing was attempted.
    """
    principal, tenant = server.auth.authenticate(headers, tenant_hints)
    runtime = server.runtimes.get(agent_id)
    if runtime is None and not server.stores.available:
        raise StoreUnavailable()  # a created agent could not be loaded
    if runtime is None or not runtime.agent.enabled_for(tenant) or (send and runtime.agent.deleted):
        # A deleted agent (a tenant's, through DELETE /agents/{id}) takes no new messages;
        # its tasks stay readable until its tenant's retention (protocol/agents_api.py).
        raise AgentNotFound(agent_id, principal, tenant)
    scope = Scope(principal.tenant, agent_id)
    set_current_scope(scope)
    if not server.stores.available:
        raise StoreUnavailable()
    return runtime, principal, tenant, scope


def check_body_tenant(request: Request, tenant: object) -> None:
    """A request body's ``tenant`` (A2A), when given, must be the credentials' tenant.

    Raises:
        AuthError: 403, as for a disagreeing ``Tenant-Name`` or ``params.tenant``.
    """
    if tenant is None or tenant == "":
        return
    scope: Scope = request.scope[SCOPE_KEY]
    if tenant != scope.tenant:
        raise AuthError(403, "the credentials do not belong to the requested tenant")


def is_v1(request: Request) -> bool:
    """A2A-Version 1.x selects 1.0 shapes; absent or 0.3 selects the 0.3 (Corti) shapes."""
    raw = ""
    for name, value in request.scope["headers"]:  # Headers.get's first match, without it
        if name == _VERSION_KEY:
            raw = value.decode("latin-1")
            break
    request.scope[VERSION_KEY] = raw  # for the request's metrics label (no second header scan)
    version = raw.strip()
    if not version or version in ("0.3", "0.3.0"):
        return False
    if version.split(".")[0] == "1":
        return True
    raise VersionNotSupportedError(message=f"A2A version '{version}' is not supported; use 1.0 or 0.3")


async def require_json(request: Request) -> bytes:
    """The body, if it is declared as JSON (else 415) and is UTF-8 (else InvalidRequest)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _JSON_TYPES:
        raise BadRequest(
            f"Content-Type must be application/json or application/a2a+json, got "
            f"'{content_type or 'none'}'",
            status=415,
        )
    body = await request.body()
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(message=f"the request body is not UTF-8: {exc}") from exc
    return body


def parse_non_negative(raw: str | None, name: str) -> int | None:
    """A query integer >= 0, or None if absent; anything else is InvalidParams."""
    if raw is None or raw == "":
        return None
    if not _DIGITS.match(raw):
        raise InvalidParamsError(message=f"{name} must be a non-negative integer, got '{raw}'")
    return int(raw)
