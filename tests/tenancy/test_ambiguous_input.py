"""Credentials and tenant sources that could be read two ways are refused, never "first one wins".

Also the token endpoint with bytes a realm's clients cannot have (401 whether or
not the realm exists), the body's and the query's ``tenant`` (403 unless it is
the credentials' tenant), query integers checked alike on every route, and 405s
naming the allowed methods.
"""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.conftest import ACME, DEMO, V1, user_message_v03, user_message_v1
from tests.tenancy.test_auth import TOKEN_URL, fetch_token

AGENT = "/agents/echo/v1"


async def _acme_token(client: httpx.AsyncClient) -> str:
    response = await fetch_token(client, "acme", "acme-client", "acme-secret")
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def test_two_api_keys_are_refused(client: httpx.AsyncClient) -> None:
    headers = [("Tenant-Name", "demo"), ("X-API-Key", "demo-key"), ("X-API-Key", "acme-key")]
    response = await client.get(f"{AGENT}/tasks", headers=headers)
    assert response.status_code == 401
    assert "ambiguous" in response.json()["error"]["message"]
    same = [("X-API-Key", "demo-key"), ("X-API-Key", "demo-key")]
    assert (await client.get(f"{AGENT}/tasks", headers=same)).status_code == 401


async def test_two_differing_tenant_names_are_refused(client: httpx.AsyncClient) -> None:
    headers = [("X-API-Key", "demo-key"), ("Tenant-Name", "demo"), ("Tenant-Name", "acme")]
    response = await client.get(f"{AGENT}/tasks", headers=headers)
    assert response.status_code == 400
    repeated = [("X-API-Key", "demo-key"), ("Tenant-Name", "demo"), ("Tenant-Name", "demo")]
    assert (await client.get(f"{AGENT}/tasks", headers=repeated)).status_code == 200


async def test_an_api_key_and_a_bearer_token_of_another_tenant_are_refused(
    client: httpx.AsyncClient,
) -> None:
    token = await _acme_token(client)
    mixed = {"X-API-Key": "demo-key", "Authorization": f"Bearer {token}"}
    for headers in (mixed, {**mixed, "Tenant-Name": "acme"}, {**mixed, "Tenant-Name": "demo"}):
        response = await client.get(f"{AGENT}/tasks", headers=headers)
        assert response.status_code == 401, response.text
    rpc = await client.post(AGENT, headers=mixed, json={
        "jsonrpc": "2.0", "id": 1, "method": "ListTasks", "params": {}})
    assert rpc.status_code == 401
    agreeing = {"X-API-Key": "acme-key", "Authorization": f"Bearer {token}"}
    assert (await client.get(f"{AGENT}/tasks", headers=agreeing)).status_code == 200


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ODD_CREDENTIALS = {
    "non-ascii form": (b"grant_type=client_credentials&client_id=d%C3%A9mo-client"
                       b"&client_secret=s%C3%A9cret", {}),
    "snowman id": ("grant_type=client_credentials&client_id=\u2603&client_secret=x".encode(), {}),
    "latin-1 bytes": (b"grant_type=client_credentials&client_id=%E9&client_secret=%FF", {}),
    "nul byte": (b"grant_type=client_credentials&client_id=demo-client%00&client_secret=x", {}),
    "basic non-ascii": (b"grant_type=client_credentials", {
        "Authorization": "Basic " + base64.b64encode("d\u00e9mo:s\u00e9".encode()).decode()}),
    "basic odd bytes": (b"grant_type=client_credentials", {
        "Authorization": "Basic " + base64.b64encode(b"demo-client:\xff\xfe").decode()}),
    "basic not base64": (b"grant_type=client_credentials", {"Authorization": "Basic %%%"}),
}


@pytest.mark.parametrize("case", sorted(ODD_CREDENTIALS))
async def test_odd_bytes_at_the_token_endpoint_are_401_at_every_realm(
    client: httpx.AsyncClient, case: str
) -> None:
    form, headers = ODD_CREDENTIALS[case]
    answers = []
    for realm in ("demo", "no-such-realm"):
        response = await client.post(TOKEN_URL.format(tenant=realm), content=form,
                                     headers={**FORM, **headers})
        answers.append((response.status_code, response.json()))
    assert answers[0][0] == 401, answers
    assert answers[0] == answers[1]  # the realm's existence is not revealed


@pytest.mark.parametrize("version", [{}, V1], ids=["v0.3", "v1.0"])
async def test_a_body_tenant_must_be_the_credentials_tenant(
    client: httpx.AsyncClient, version: dict[str, str]
) -> None:
    body = user_message_v1("x") if version else user_message_v03("x")
    for path in ("message:send", "message:stream"):
        response = await client.post(f"{AGENT}/{path}", json={**body, "tenant": "acme"},
                                     headers={**DEMO, **version})
        assert response.status_code == 403, response.text
    listed = await client.get(f"{AGENT}/tasks", headers={**DEMO, **V1})
    assert listed.json()["tasks"] == []
    own = await client.post(f"{AGENT}/message:send", json={**body, "tenant": "demo"},
                            headers={**DEMO, **version})
    assert own.status_code == 200, own.text


async def test_a_query_tenant_must_be_the_credentials_tenant(client: httpx.AsyncClient) -> None:
    sent = await client.post(f"{AGENT}/message:send", json=user_message_v03("x"), headers=DEMO)
    task_id = sent.json()["task"]["id"]
    for path in ("tasks", f"tasks/{task_id}"):
        assert (await client.get(f"{AGENT}/{path}?tenant=acme", headers=DEMO)).status_code == 403
        assert (await client.get(f"{AGENT}/{path}?tenant=demo", headers=DEMO)).status_code == 200
    assert (await client.get(f"{AGENT}/tasks?tenant=demo", headers=ACME)).status_code == 403


async def test_a_query_tenant_must_be_the_credentials_tenant_beyond_the_a2a_routes(
    client: httpx.AsyncClient,
) -> None:
    """The routes that authenticate outside the gate (usage, contexts, the experts registry,
    the agent list, the seed task APIs, a card fetched with credentials) check it too."""
    sent = await client.post(f"{AGENT}/message:send", json=user_message_v03("x"), headers=DEMO)
    task = sent.json()["task"]
    for path in ("/agents/echo/usage", f"{AGENT}/contexts/{task['contextId']}",
                 "/agents/registry/experts", "/agents", f"/api/v1/tasks/{task['id']}",
                 f"/tasks/{task['id']}", "/agents/echo/agent-card.json"):
        refused = await client.get(f"{path}?tenant=acme", headers=DEMO)
        assert refused.status_code == 403, (path, refused.text)
        assert (await client.get(f"{path}?tenant=demo", headers=DEMO)).status_code == 200, path


@pytest.mark.parametrize("value", ["+1", "1e3", "\u0661", " 1", "1.0", "-1", "0x1"])
@pytest.mark.parametrize("name", ["historyLength", "pageSize"])
async def test_list_query_integers_are_checked_like_the_task_routes(
    client: httpx.AsyncClient, name: str, value: str
) -> None:
    for version in ({}, V1):
        response = await client.get(f"{AGENT}/tasks", params={name: value}, headers={**DEMO, **version})
        assert response.status_code == 400, response.text
        assert name in response.json()["error"]["message"]


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", f"{AGENT}/message:send", "POST"),
    ("GET", AGENT, "POST"),
    ("POST", "/healthz", "GET"),
])
async def test_405_names_the_allowed_methods(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path, headers=DEMO)
    assert response.status_code == 405
    assert allowed in response.headers["allow"]


@pytest.mark.parametrize(("path", "allowed"), [
    ("/agents", {"GET", "HEAD", "POST"}),
    ("/agents/echo", {"DELETE", "GET", "HEAD", "PATCH"}),
    ("/agents/echo/v1/contexts/c1", {"DELETE", "GET", "HEAD"}),
])
async def test_405_names_every_route_of_the_path(
    client: httpx.AsyncClient, path: str, allowed: set[str]
) -> None:
    """A path served by several routes (one per method) named only the first one's methods:
    PUT /agents answered ``Allow: HEAD, GET``, though POST creates an agent there."""
    response = await client.put(path, json={}, headers=DEMO)
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == allowed
    assert response.json()["error"]["code"] == 405


async def test_a_push_config_body_tenant_must_be_the_credentials_tenant(
    client: httpx.AsyncClient,
) -> None:
    base = "/agents/conformance/v1"
    message = {"role": "ROLE_USER", "parts": [{"text": "x"}], "messageId": "tck-complete-task-t1"}
    sent = await client.post(f"{base}/message:send", json={"message": message}, headers={**DEMO, **V1})
    configs = f"{base}/tasks/{sent.json()['task']['id']}/pushNotificationConfigs"
    body = {"url": "https://93.184.215.14/hook", "tenant": "acme"}
    refused = await client.post(configs, json=body, headers={**DEMO, **V1})
    assert refused.status_code == 403, refused.text
    assert (await client.get(configs, headers={**DEMO, **V1})).json().get("configs", []) == []
