"""Agent cards: rewritten for this server and tenant, cacheable, served without credentials."""

from __future__ import annotations

import httpx
import pytest
from a2a.client.card_resolver import parse_agent_card

from tests.conftest import DEMO

CARD_PATHS = ["/agents/echo/agent-card.json", "/agents/echo/v1/.well-known/agent-card.json",
              "/agents/echo/.well-known/agent-card.json"]


@pytest.mark.parametrize("path", CARD_PATHS)
async def test_card_points_at_this_server_and_tenant(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path, headers=DEMO)
    assert response.status_code == 200
    card = response.json()
    interfaces = {i["protocolBinding"]: i for i in card["supportedInterfaces"]}
    assert set(interfaces) == {"JSONRPC", "HTTP+JSON"}
    for interface in interfaces.values():
        assert interface["url"] == "http://testserver/agents/echo/v1"
        assert interface["tenant"] == "demo" and interface["protocolVersion"] == "1.0"
    flows = card["securitySchemes"]["oauth2"]["oauth2SecurityScheme"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == \
        "http://testserver/realms/demo/protocol/openid-connect/token"
    assert card["securitySchemes"]["apiKey"]["apiKeySecurityScheme"]["name"] == "X-API-Key"
    assert parse_agent_card(card).name == "Echo"  # the SDK's own client parses it


async def test_card_without_tenant_or_credentials_is_generic(http: httpx.AsyncClient) -> None:
    card = (await http.get("/agents/echo/agent-card.json")).json()
    assert all(not i.get("tenant") for i in card["supportedInterfaces"])
    assert "oauth2" not in card["securitySchemes"]


async def test_card_names_any_tenant_without_revealing_existence(http: httpx.AsyncClient) -> None:
    real = await http.get("/agents/echo/agent-card.json", headers={"Tenant-Name": "acme"})
    fake = await http.get("/agents/echo/agent-card.json", headers={"Tenant-Name": "nosuch"})
    assert real.status_code == fake.status_code == 200
    assert real.text.replace("acme", "T") == fake.text.replace("nosuch", "T")


async def test_card_with_credentials_is_the_authenticated_tenants(http: httpx.AsyncClient) -> None:
    card = (await http.get("/agents/echo/agent-card.json", headers={"X-API-Key": "acme-key"})).json()
    assert {i["tenant"] for i in card["supportedInterfaces"]} == {"acme"}
    refused = await http.get("/agents/echo/agent-card.json", headers={"X-API-Key": "wrong"})
    assert refused.status_code == 401


async def test_card_etag_and_cache_control(http: httpx.AsyncClient) -> None:
    first = await http.get("/agents/echo/agent-card.json", headers=DEMO)
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and "max-age=" in first.headers["cache-control"]
    again = await http.get("/agents/echo/agent-card.json", headers={**DEMO, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other_tenant = await http.get("/agents/echo/agent-card.json",
                                  headers={"Tenant-Name": "acme", "If-None-Match": etag})
    assert other_tenant.status_code == 200 and other_tenant.headers["etag"] != etag


async def test_unknown_agent_card_is_404(http: httpx.AsyncClient) -> None:
    assert (await http.get("/agents/ghost/agent-card.json")).status_code == 404


async def test_agents_api_lists_and_gets_corti_agent_objects(http: httpx.AsyncClient) -> None:
    listed = await http.get("/agents", headers=DEMO)
    assert listed.status_code == 200
    echo = next(a for a in listed.json() if a["id"] == "echo")
    assert set(echo) >= {"id", "name", "description", "systemPrompt"}
    one = await http.get("/agents/echo", headers=DEMO)
    assert one.json() == echo
    assert (await http.get("/agents?limit=1&offset=0", headers=DEMO)).json() == listed.json()[:1]
    assert (await http.get("/agents/ghost", headers=DEMO)).status_code == 404
