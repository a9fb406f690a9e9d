"""Routes outside the A2A protocol proper: cards, the agents list, tokens, health."""

from __future__ import annotations

import base64
import re
from email.utils import format_datetime
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from a2a_server.agents.cards import GRPC, card_to_json, if_none_match_hits
from a2a_server.errors import NotFound, StoreUnavailable, json_response
from a2a_server.protocol.gate import (
    VERSION_HEADER,
    authenticate_counted,
    parse_non_negative,
    state_of,
)
from a2a_server.protocol.rest import rest_endpoint
from a2a_server.tenancy.auth import API_KEY_HEADER, TENANT_HEADER, AuthError

_TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def _card_tenant(request: Request, agent_id: str) -> str | None:
    """The tenant a card is rendered for.

    With credentials: the authenticated tenant (and the agent must be enabled
    for it). Without: the tenant named by header or path, rendered as given,
    so the answer is the same whether or not that tenant exists.
    """
    server = state_of(request)
    if request.headers.get("authorization") or request.headers.get(API_KEY_HEADER):
        principal, tenant = server.auth.authenticate_request(
            request, (request.path_params.get("tenant"),)
        )
        runtime = server.runtimes.get(agent_id)
        if runtime is None or not runtime.agent.enabled_for(tenant) or runtime.agent.deleted:
            raise NotFound(f"agent '{agent_id}' not found")
        return principal.tenant
    runtime = server.runtimes.get(agent_id)
    if runtime is not None and runtime.agent.owner is not None:
        # A tenant's own agent: its card only for its tenant's credentials (hidden 404).
        raise NotFound(f"agent '{agent_id}' not found")
    named = request.path_params.get("tenant") or request.headers.get(TENANT_HEADER)
    return named if named and _TENANT_NAME.match(named) else None


@rest_endpoint
async def agent_card(request: Request) -> Response:
    """The agent's A2A card, with Cache-Control, ETag and Last-Modified."""
    server = state_of(request)
    agent_id = request.path_params["agent_id"]
    runtime = server.runtimes.get(agent_id)
    tenant = _card_tenant(request, agent_id)
    if runtime is None or runtime.agent.deleted:
        raise NotFound(f"agent '{agent_id}' not found")
    card = runtime.card_for(tenant)
    if request.url.path.startswith("/agentic/"):  # Corti v2: interfaces on the v2 paths
        for interface in card.supported_interfaces:
            if interface.protocol_binding != GRPC:
                interface.url = f"{runtime.base_url}/agentic/agents/{agent_id}/a2a"
    version = request.headers.get(VERSION_HEADER) or request.query_params.get("A2A-Version", "")
    body, etag = card_to_json(card, v1_only=version.strip().split(".")[0] == "1")
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(runtime.card_last_modified, usegmt=True),
        "Cache-Control": f"public, max-age={server.settings.card_max_age_seconds}",
        "Vary": "Authorization, X-API-Key, Tenant-Name, A2A-Version",
    }
    if if_none_match_hits(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, headers=headers, media_type="application/json")


@rest_endpoint
async def list_experts(request: Request) -> Response:
    """GET /agents/registry/experts: what the tenant may use as experts (``limit``, ``offset``):
    the operator's agents enabled for it, then its own created agents (oldest first; not the
    ephemeral ones, which GET /agents leaves out too), each usable as a reference expert."""
    from a2a_server.agents.api_defined import created_expert
    from a2a_server.agents.experts import experts_registry
    from a2a_server.agents.services import AgentServices

    server = state_of(request)
    principal, _ = await authenticate_counted(request)
    limit = parse_non_negative(request.query_params.get("limit"), "limit")
    offset = parse_non_negative(request.query_params.get("offset"), "offset") or 0
    limit = 100 if limit is None else min(limit, 1000)
    services = AgentServices(server.stores, server.runtimes, server.tenants)
    experts = experts_registry(services, principal.tenant)
    if not server.stores.available:
        raise StoreUnavailable()
    experts += [created_expert(a) for a in await server.stores.agents.list(principal.tenant)
                if not a.ephemeral]
    return json_response({"experts": experts[offset : offset + limit]})


def _oauth_error(status: int, error: str, description: str) -> Response:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="token"'
    return json_response({"error": error, "error_description": description}, status=status,
                         headers=headers)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(value).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return client_id, secret


async def token(request: Request) -> Response:
    """POST /realms/{tenant}/protocol/openid-connect/token (OAuth2 client credentials)."""
    server = state_of(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return _oauth_error(400, "invalid_request",
                            "use Content-Type: application/x-www-form-urlencoded")
    try:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
    except UnicodeDecodeError:
        return _oauth_error(400, "invalid_request", "the form is not valid UTF-8")
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
    credentials = _basic_credentials(request) or (
        form.get("client_id", ""), form.get("client_secret", "")
    )
    tenant_name = request.path_params["tenant"]
    tenant = server.tenants.get(tenant_name)
    # An unknown tenant and a bad secret get the same answer: no enumeration.
    if tenant is None or not tenant.check_client(*credentials):
        return _oauth_error(401, "invalid_client", "invalid client credentials")
    access_token = server.tokens.issue(tenant_name, credentials[0])
    return json_response(
        {"access_token": access_token, "token_type": "Bearer",
         "expires_in": server.tokens.ttl_seconds, "scope": "openid"},
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


async def healthz(request: Request) -> Response:
    """Liveness: the process answers."""
    del request
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: the store can serve requests.

    The store's detail (which may name its address) is shown to authenticated callers only.
    """
    server = state_of(request)
    ok, detail = await server.stores.ready()
    body = {"status": "ready" if ok else "unavailable"}
    try:
        server.auth.authenticate_request(request)
    except AuthError:
        pass
    else:
        body["store"] = detail
    return json_response(body, status=200 if ok else 503)
