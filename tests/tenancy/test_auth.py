"""Credentials and tenant resolution: 401 vs 403 vs 404, tokens, and no enumeration."""

from __future__ import annotations

import base64

import httpx
import jwt
import pytest

from tests.conftest import ACME, DEMO, JWT_SECRET, V1

TOKEN_URL = "/realms/{tenant}/protocol/openid-connect/token"


async def fetch_token(client: httpx.AsyncClient, tenant: str = "demo", client_id: str = "demo-client",
                      secret: str = "demo-secret") -> httpx.Response:
    return await client.post(
        TOKEN_URL.format(tenant=tenant),
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )


async def test_token_has_keycloak_shape_and_issuer(client: httpx.AsyncClient) -> None:
    response = await fetch_token(client)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    claims = jwt.decode(body["access_token"], JWT_SECRET, algorithms=["HS256"], audience="a2a-server")
    assert claims["iss"] == "http://testserver/realms/demo"
    assert claims["sub"] == "demo-client" and claims["tenant"] == "demo"
    assert response.headers["cache-control"] == "no-store"


async def test_token_accepts_http_basic_client_auth(client: httpx.AsyncClient) -> None:
    basic = base64.b64encode(b"demo-client:demo-secret").decode()
    response = await client.post(TOKEN_URL.format(tenant="demo"),
                                 data={"grant_type": "client_credentials"},
                                 headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("tenant", "client_id", "secret"),
    [("demo", "demo-client", "wrong"), ("demo", "acme-client", "acme-secret"),
     ("nosuchtenant", "demo-client", "demo-secret")],
)
async def test_bad_client_credentials_look_the_same(
    client: httpx.AsyncClient, tenant: str, client_id: str, secret: str
) -> None:
    response = await fetch_token(client, tenant, client_id, secret)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client",
                               "error_description": "invalid client credentials"}


async def test_token_endpoint_rejects_other_grants_and_content_types(client: httpx.AsyncClient) -> None:
    grant = await client.post(TOKEN_URL.format(tenant="demo"), data={"grant_type": "password"})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    as_json = await client.post(TOKEN_URL.format(tenant="demo"), json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"


async def test_bearer_token_authenticates_agent_routes(client: httpx.AsyncClient) -> None:
    token = (await fetch_token(client)).json()["access_token"]
    response = await client.get("/agents/echo/v1/tasks/unknown",
                                headers={"Authorization": f"Bearer {token}", "Tenant-Name": "demo"})
    assert response.status_code == 404  # authenticated; the task simply does not exist


async def test_api_key_as_bearer_authenticates(client: httpx.AsyncClient) -> None:
    response = await client.get("/agents", headers={"Authorization": "Bearer demo-key"})
    assert response.status_code == 200
    assert "echo" in [agent["id"] for agent in response.json()]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "not-a-key"},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": "Basic ZGVtbzpkZW1v"},
        {"Tenant-Name": "demo"},
    ],
)
async def test_missing_or_bad_credentials_are_401_with_challenge(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/agents/echo/v1/tasks/x", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


async def test_expired_and_foreign_tokens_are_401(client: httpx.AsyncClient) -> None:
    expired = jwt.encode({"iss": "http://testserver/realms/demo", "aud": "a2a-server", "sub": "demo-client",
                          "tenant": "demo", "exp": 1}, JWT_SECRET, algorithm="HS256")
    forged = jwt.encode({"iss": "http://testserver/realms/demo", "aud": "a2a-server", "sub": "x",
                         "tenant": "demo", "exp": 9999999999}, "another-key-of-32-characters-long!!",
                        algorithm="HS256")
    for token in (expired, forged):
        response = await client.get("/agents", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401


async def test_tenant_header_must_match_credentials(client: httpx.AsyncClient) -> None:
    for named in ("acme", "nosuchtenant"):  # same answer whether or not the tenant exists
        response = await client.get("/agents/echo/v1/tasks/x",
                                    headers={"X-API-Key": "demo-key", "Tenant-Name": named})
        assert response.status_code == 403
        assert response.json()["error"]["status"] == "PERMISSION_DENIED"


async def test_rest_tenant_path_segment_must_match_credentials(client: httpx.AsyncClient) -> None:
    mismatch = await client.get("/agents/echo/v1/acme/tasks/x", headers={**DEMO, **V1})
    assert mismatch.status_code == 403
    match = await client.get("/agents/echo/v1/demo/tasks/x", headers={**DEMO, **V1})
    assert match.status_code == 404


async def test_jsonrpc_params_tenant_must_match_credentials(client: httpx.AsyncClient) -> None:
    body = {"jsonrpc": "2.0", "id": 7, "method": "GetTask", "params": {"id": "x", "tenant": "acme"}}
    response = await client.post("/agents/echo/v1", json=body, headers={**DEMO, **V1})
    assert response.status_code == 403
    assert response.json()["id"] == 7 and response.json()["error"]["code"] == -32600


async def test_agent_not_enabled_for_tenant_is_404(client: httpx.AsyncClient) -> None:
    # acme enables only the echo agent.
    response = await client.post("/agents/conformance/v1/message:send", headers=ACME,
                                 json={"message": {"kind": "message", "role": "user", "messageId": "m",
                                                   "parts": [{"kind": "text", "text": "x"}]}})
    assert response.status_code == 404
    listed = await client.get("/agents", headers=ACME)
    assert [agent["id"] for agent in listed.json()] == ["echo"]


async def test_unknown_agent_needs_credentials_first(client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/agents/ghost/v1/tasks/x")
    assert anonymous.status_code == 401  # nothing about agents is revealed before auth
    known = await client.get("/agents/ghost/v1/tasks/x", headers=DEMO)
    assert known.status_code == 404
