"""Tenant limits through the app, on both stores: 429s in each binding's format, with the
IETF RateLimit fields; slots given back when runs end; other tenants untouched."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from a2a_server.settings import Settings
from a2a_server.tenancy.config import ConfigError, load_tenants
from tests.conftest import ACME, V1, running_app, user_message_v1
from tests.limited_tenants import LIMITED, tenants_with_limits
from tests.llm.test_agent_crud import count_agent_reads
from tests.test_replicas import agents_with_slow

SEND = "/agents/echo/v1/message:send"
HEADERS = {**LIMITED, **V1}


@pytest.fixture
def app_for(backend: str, settings_for: Callable[..., Settings], tmp_path: Path
            ) -> Callable[..., Any]:
    def build(**limits: Any) -> Any:
        tenants = tenants_with_limits(tmp_path / "tenants", **limits)
        return running_app(settings_for(backend, tenants_dir=tenants,
                                        agents_dir=agents_with_slow(tmp_path / "agents", 30)))

    return build


@pytest.fixture
async def http_for(app_for: Callable[..., Any]) -> AsyncIterator[Callable[..., Any]]:
    apps: list[Any] = []

    async def open_client(**limits: Any) -> httpx.AsyncClient:
        context = app_for(**limits)
        app = await context.__aenter__()
        apps.append(context)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver")

    yield open_client
    for context in apps:
        await context.__aexit__(None, None, None)


def assert_429(response: httpx.Response, policy: str, name: str) -> None:
    assert response.status_code == 429, response.text
    retry = int(response.headers["retry-after"])
    assert retry >= 1
    assert response.headers["ratelimit-policy"] == policy
    assert response.headers["ratelimit"] == f'"{name}";r=0;t={retry}'


async def test_requests_per_minute_in_rest_and_jsonrpc_and_acme_is_untouched(
    http_for: Callable[..., Any],
) -> None:
    http = await http_for(requests_per_minute=3)
    for remaining in (2, 1):
        sent = await http.post(SEND, json=user_message_v1("hi"), headers=HEADERS)
        assert sent.status_code == 200
        assert sent.headers["ratelimit-policy"] == '"requests";q=3;w=60'
        assert sent.headers["ratelimit"].startswith(f'"requests";r={remaining};t=')
    listed = await http.get("/agents/echo/v1/tasks", headers=HEADERS)  # a read counts too
    assert listed.status_code == 200 and listed.headers["ratelimit"].startswith('"requests";r=0;')
    refused = await http.post(SEND, json=user_message_v1("hi"), headers=HEADERS)
    assert_429(refused, '"requests";q=3;w=60', "requests")
    error = refused.json()["error"]
    assert error["code"] == 429 and error["status"] == "RESOURCE_EXHAUSTED"
    assert "3 requests per minute" in error["message"]
    rpc = await http.post("/agents/echo/v1", headers=HEADERS, json={
        "jsonrpc": "2.0", "id": 7, "method": "SendMessage", "params": user_message_v1("hi")})
    assert_429(rpc, '"requests";q=3;w=60', "requests")
    assert rpc.json()["id"] == 7 and "3 requests per minute" in rpc.json()["error"]["message"]
    for _ in range(5):  # acme has no limits: never counted, never refused
        other = await http.post(SEND, json=user_message_v1("hi"), headers={**ACME, **V1})
        assert other.status_code == 200 and "ratelimit" not in other.headers
    await http.aclose()


async def test_over_the_limit_an_unknown_agent_id_is_refused_before_any_store_read(
    app_for: Callable[..., Any],
) -> None:
    """A UUID-shaped agent id this replica has not loaded costs a store read (a created
    agent's definition) only within the tenant's requests_per_minute: the request is counted
    first; over the limit it is the 429, with no read, in REST, JSON-RPC and for known
    agents alike. Within the limit the unknown id is the 404 it always was (and counted)."""
    async with app_for(requests_per_minute=2) as app:
        reads = count_agent_reads(app)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://testserver") as http:
            first, second, third, fourth = (str(uuid.uuid4()) for _ in range(4))
            missing = await http.get(f"/agents/{first}/v1/tasks/t-1", headers=HEADERS)
            assert missing.status_code == 404, missing.text
            assert missing.json()["error"]["message"] == f"agent '{first}' not found"
            assert missing.headers["ratelimit"].startswith('"requests";r=1;')
            rpc = await http.post(f"/agents/{second}/v1", headers=HEADERS, json={
                "jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "t-1"}})
            assert f"agent '{second}' not found" in rpc.text and rpc.status_code != 429
            assert reads == [first, second]
            refused = await http.get(f"/agents/{third}/v1/tasks/t-1", headers=HEADERS)
            assert_429(refused, '"requests";q=2;w=60', "requests")
            rpc = await http.post(f"/agents/{fourth}/v1", headers=HEADERS, json={
                "jsonrpc": "2.0", "id": 2, "method": "GetTask", "params": {"id": "t-1"}})
            assert_429(rpc, '"requests";q=2;w=60', "requests")
            assert reads == [first, second]  # over the limit: nothing read
            known = await http.get("/agents/echo/v1/tasks/t-1", headers=HEADERS)
            assert_429(known, '"requests";q=2;w=60', "requests")
            assert refused.json() == known.json()  # nothing tells the ids apart
            bad = await http.get(f"/agents/{third}/v1/tasks/t-1",
                                 headers={**HEADERS, "X-API-Key": "not-a-key"})
            assert bad.status_code == 401 and reads == [first, second]


async def test_concurrent_tasks_are_limited_and_the_slot_comes_back_when_the_run_ends(
    http_for: Callable[..., Any],
) -> None:
    http = await http_for(concurrent_tasks=1)
    body = user_message_v1("slow please", )
    body["configuration"] = {"returnImmediately": True}
    first = await http.post(SEND, json=body, headers=HEADERS)
    assert first.status_code == 200, first.text
    task_id = first.json()["task"]["id"]
    refused = await http.post(SEND, json=user_message_v1("hi"), headers=HEADERS)
    assert_429(refused, '"tasks";q=1;qu="concurrent-requests"', "tasks")
    assert (await http.post(SEND, json=user_message_v1("hi"), headers={**ACME, **V1})).status_code == 200
    canceled = await http.post(f"/agents/echo/v1/tasks/{task_id}:cancel", headers=HEADERS)
    assert canceled.status_code == 200, canceled.text
    for _ in range(100):  # the run's end gives the slot back (asynchronously)
        again = await http.post(SEND, json=user_message_v1("hi"), headers=HEADERS)
        if again.status_code == 200:
            break
        await asyncio.sleep(0.05)
    assert again.status_code == 200, again.text
    await http.aclose()


async def test_a_refused_or_failed_send_holds_no_slot(http_for: Callable[..., Any]) -> None:
    http = await http_for(concurrent_tasks=1)
    for _ in range(3):  # bad bodies fail before any run: each gives its slot back
        bad = await http.post(SEND, content=b"{", headers={**HEADERS, "Content-Type": "application/json"})
        assert bad.status_code == 400
    for _ in range(3):  # blocking sends: the slot is back when the answer is
        assert (await http.post(SEND, json=user_message_v1("hi"), headers=HEADERS)).status_code == 200
    await http.aclose()


async def test_requests_per_minute_per_credential(http_for: Callable[..., Any]) -> None:
    http = await http_for(requests_per_minute=10, requests_per_minute_per_credential=2)
    for remaining in (1, 0):
        sent = await http.post(SEND, json=user_message_v1("hi"), headers=HEADERS)
        assert sent.headers["ratelimit-policy"] == '"requests";q=10;w=60, "credential";q=2;w=60'
        assert sent.headers["ratelimit"].split(", ")[1].startswith(
            f'"credential";r={remaining};t=')
    refused = await http.post(SEND, json=user_message_v1("hi"), headers=HEADERS)
    assert_429(refused, '"credential";q=2;w=60', "credential")
    assert "for each API key or client" in refused.json()["error"]["message"]
    other_key = {**HEADERS, "X-API-Key": "limited-key-2"}  # the tenant's second key
    sent = await http.post(SEND, json=user_message_v1("hi"), headers=other_key)
    assert sent.status_code == 200, sent.text
    assert sent.headers["ratelimit"].startswith('"requests";r=7;')  # the refusal counted nowhere
    await http.aclose()


@pytest.mark.parametrize("limits", [{"requests_per_minute": 0}, {"open_streams": "many"},
                                    {"burst": 3}])
def test_bad_limits_name_the_field(tmp_path: Path, limits: dict[str, Any]) -> None:
    directory = tenants_with_limits(tmp_path / "tenants", **limits)
    with pytest.raises(ConfigError, match=r"limited.yaml: field 'limits\.") as error:
        load_tenants(directory, ["echo"])
    assert next(iter(limits)) in str(error.value)


async def test_jsonrpc_sends_take_task_slots_and_are_refused_with_429(
    http_for: Callable[..., Any],
) -> None:
    http = await http_for(concurrent_tasks=1, open_streams=5)
    body = user_message_v1("slow please")
    body["configuration"] = {"returnImmediately": True}
    first = await http.post("/agents/echo/v1", headers=HEADERS, json={
        "jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": body})
    assert first.status_code == 200 and "task" in first.json()["result"], first.text
    for method, params, headers in (
        ("SendMessage", user_message_v1("hi"), HEADERS),
        ("SendStreamingMessage", user_message_v1("hi"), HEADERS),
        ("message/send", {"message": {"kind": "message", "role": "user", "messageId": "m1",
                                      "parts": [{"kind": "text", "text": "hi"}]}}, LIMITED),
    ):
        refused = await http.post("/agents/echo/v1", headers=headers, json={
            "jsonrpc": "2.0", "id": 2, "method": method, "params": params})
        assert_429(refused, '"tasks";q=1;qu="concurrent-requests"', "tasks")
        assert refused.json()["error"]["code"] == -32600
        assert "1 concurrently running tasks" in refused.json()["error"]["message"]
    read = await http.post("/agents/echo/v1", headers=HEADERS, json={  # reads take no slot
        "jsonrpc": "2.0", "id": 3, "method": "GetTask",
        "params": {"id": first.json()["result"]["task"]["id"]}})
    assert read.status_code == 200 and "result" in read.json()
    await http.aclose()


# Every authenticated route of a tenant counts in its request windows, not only the agent
# protocol's: the agent CRUD, usage, experts, contexts, the delivery log and the seed task
# APIs. Each answers its 429 in its own format.
COUNTED_READS = [
    ("GET", "/agents", "rest"),
    ("GET", "/agents/echo", "rest"),
    ("GET", "/agents/echo/usage", "rest"),
    ("GET", "/agents/registry/experts", "rest"),
    ("GET", "/agents/echo/v1/contexts/no-such-context", "rest"),
    ("GET", "/agentic/contexts/no-such-context", "rest"),
    ("GET", "/agents/echo/v1/tasks/no-such-task/pushNotificationConfigs/c1/deliveries", "rest"),
    ("GET", "/api/v1/tasks/no-such-task", "shannon"),
    ("GET", "/tasks/no-such-task", "agentlin"),
]


@pytest.mark.parametrize(("method", "path", "form"), COUNTED_READS,
                         ids=[path for _, path, _ in COUNTED_READS])
async def test_every_tenant_route_counts_in_the_request_window(
    http_for: Callable[..., Any], method: str, path: str, form: str,
) -> None:
    http = await http_for(requests_per_minute=2)
    for remaining in (1, 0):
        answered = await http.request(method, path, headers=HEADERS)
        assert answered.status_code != 429, answered.text
        assert answered.headers["ratelimit"].startswith(f'"requests";r={remaining};'), path
    refused = await http.request(method, path, headers=HEADERS)
    assert_429(refused, '"requests";q=2;w=60', "requests")
    message = {"rest": lambda b: b["error"]["message"], "shannon": lambda b: b["error"],
               "agentlin": lambda b: b["error"]["message"]}[form](refused.json())
    assert "2 requests per minute" in message
    # The refusal counted nowhere, and the A2A routes share the window.
    sent = await http.post(SEND, json=user_message_v1("hi"), headers=HEADERS)
    assert_429(sent, '"requests";q=2;w=60', "requests")
    await http.aclose()


async def test_the_seed_submit_takes_a_task_slot_like_an_a2a_send(
    http_for: Callable[..., Any],
) -> None:
    http = await http_for(concurrent_tasks=1)
    seed = {**HEADERS, "X-Agent-ID": "echo"}
    first = await http.post("/api/v1/tasks", json={"query": "slow please"}, headers=seed)
    assert first.status_code == 200, first.text
    task_id = first.json()["task_id"]
    refused = await http.post("/api/v1/tasks", json={"query": "hi"}, headers=seed)
    assert_429(refused, '"tasks";q=1;qu="concurrent-requests"', "tasks")
    assert "1 concurrently running tasks" in refused.json()["error"]
    a2a = await http.post(SEND, json=user_message_v1("hi"), headers=HEADERS)  # one budget
    assert_429(a2a, '"tasks";q=1;qu="concurrent-requests"', "tasks")
    canceled = await http.post(f"/api/v1/tasks/{task_id}/cancel", headers=seed)
    assert canceled.status_code == 202, canceled.text
    for _ in range(100):  # the run's end gives the slot back (asynchronously)
        again = await http.post("/api/v1/tasks", json={"query": "hi"}, headers=seed)
        if again.status_code == 200:
            break
        await asyncio.sleep(0.05)
    assert again.status_code == 200, again.text
    await http.aclose()
