"""The card an agent serves: the template from ``agent_cards/`` made concrete.

Interface URLs point at this server's public URL, each interface carries the
tenant, and the security schemes say how that tenant authenticates (OAuth2
client credentials at the tenant's token URL, or an API key).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.types.a2a_pb2 import (
    AgentCard,
    AgentInterface,
    APIKeySecurityScheme,
    ClientCredentialsOAuthFlow,
    OAuth2SecurityScheme,
    OAuthFlows,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)
from google.protobuf.json_format import MessageToDict

JSONRPC = "JSONRPC"
HTTP_JSON = "HTTP+JSON"
GRPC = "GRPC"
PROTOCOL_VERSION = "1.0"


def agent_base_url(base_url: str, agent_id: str) -> str:
    """Where an agent's A2A interfaces live (Corti v1 path family)."""
    return f"{base_url}/agents/{agent_id}/v1"


def grpc_interface_tenant(tenant: str | None, agent_id: str) -> str:
    """The ``tenant`` value of a card's GRPC interface: it names tenant and agent.

    One gRPC port serves every agent, and A2A 1.0 clients copy the interface's
    ``tenant`` into every request: ``{tenant}/{agent}``, or ``{agent}`` on a card
    rendered for no tenant (the credentials then name the tenant).
    """
    return f"{tenant}/{agent_id}" if tenant else agent_id


def render_card(
    template: AgentCard, *, agent_id: str, base_url: str, tenant: str | None, token_url: str | None,
    grpc_url: str | None = None,
) -> AgentCard:
    """A copy of ``template`` with interfaces, tenant and security filled in.

    ``grpc_url`` (``host:port``), when gRPC is served, adds a GRPC interface.
    """
    card = AgentCard()
    card.CopyFrom(template)
    for skill in card.skills:
        # Strict clients require a skill's modes; absent ones mean the agent's defaults.
        if not skill.input_modes:
            skill.input_modes.extend(card.default_input_modes)
        if not skill.output_modes:
            skill.output_modes.extend(card.default_output_modes)
    url = agent_base_url(base_url, agent_id)
    del card.supported_interfaces[:]
    for binding in (JSONRPC, HTTP_JSON):
        card.supported_interfaces.append(
            AgentInterface(url=url, protocol_binding=binding, tenant=tenant or "",
                           protocol_version=PROTOCOL_VERSION)
        )
    if grpc_url:
        card.supported_interfaces.append(
            AgentInterface(url=grpc_url, protocol_binding=GRPC,
                           tenant=grpc_interface_tenant(tenant, agent_id),
                           protocol_version=PROTOCOL_VERSION)
        )
    card.security_schemes.clear()
    del card.security_requirements[:]
    if token_url:
        card.security_schemes["oauth2"].CopyFrom(
            SecurityScheme(
                oauth2_security_scheme=OAuth2SecurityScheme(
                    description="OAuth2 client credentials; send Authorization: Bearer <token>",
                    flows=OAuthFlows(client_credentials=ClientCredentialsOAuthFlow(
                        token_url=token_url, scopes={"openid": "OpenID Connect"})),
                )
            )
        )
        card.security_requirements.append(
            SecurityRequirement(schemes={"oauth2": StringList(list=["openid"])})
        )
    card.security_schemes["apiKey"].CopyFrom(
        SecurityScheme(api_key_security_scheme=APIKeySecurityScheme(
            description="A tenant API key", location="header", name="X-API-Key"))
    )
    card.security_requirements.append(SecurityRequirement(schemes={"apiKey": StringList()}))
    return card


def card_to_json(card: AgentCard, v1_only: bool = False) -> tuple[bytes, str]:
    """The card as served (1.0 fields plus the SDK's 0.3 compatibility fields) and its ETag.

    ``v1_only`` (the request said ``A2A-Version: 1.x``): the pure A2A 1.0 card,
    without the 0.3 view; A2A 1.0 clients send the header on every request, and
    a request without it is a 0.3 one (A2A 1.0, 3.6.2), which gets both.

    The JSON-RPC URL also speaks 0.3 (negotiated on ``A2A-Version``), so the SDK
    is asked for the 0.3 view too (``url``, ``protocolVersion``,
    ``preferredTransport``..., which Corti's clients and other 0.3 readers need);
    ``supportedInterfaces`` stays the 1.0 list. HTTP+JSON is left out of the 0.3
    view: 0.3 REST clients call ``{url}/v1/...`` in the SDK's 0.3 REST shape,
    which these URLs do not serve.
    """
    if v1_only:
        plain: dict[str, Any] = MessageToDict(card)
        return orjson.dumps(plain), _etag(plain)
    dual = AgentCard()
    dual.CopyFrom(card)
    for interface in card.supported_interfaces:
        if interface.protocol_binding != JSONRPC:
            continue
        legacy = dual.supported_interfaces.add()
        legacy.CopyFrom(interface)
        legacy.protocol_version = "0.3"
    as_dict: dict[str, Any] = agent_card_to_dict(dual)
    del as_dict["supportedInterfaces"][len(card.supported_interfaces) :]
    return orjson.dumps(as_dict), _etag(as_dict)


def _etag(as_dict: dict[str, Any]) -> str:
    unsigned = {k: v for k, v in as_dict.items() if k != "signatures"}
    digest = hashlib.sha256(orjson.dumps(unsigned, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f'W/"{digest}"'


def if_none_match_hits(header: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of If-None-Match against our ETag."""
    if not header:
        return False
    candidates = [c.strip() for c in header.split(",")]
    return "*" in candidates or any(
        c.removeprefix("W/") == etag.removeprefix("W/") for c in candidates
    )
