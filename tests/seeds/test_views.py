"""Shannon's and agentlin's task APIs as views of A2A tasks: both directions, errors, isolation.

In-process on both stores, with the shipped tenants (demo's and acme's
``default_agent`` is ``echo``) and the echo agent.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from a2a_server.settings import Settings
from tests.conftest import DEMO, REPO, V1, running_app, user_message_v1

SHANNON = {"X-API-Key": "demo-key"}
AGENTLIN = {"Authorization": "Bearer demo-key"}
REQUEST_ID = {"X-Request-ID": "req-1"}
NOT_FOUND_RPC = {"jsonrpc": "2.0", "id": "req-1", "error": {"code": -32001}}


@pytest.fixture
async def http(backend: str, settings_for: Callable[..., Settings],
               tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app on ``backend``, both shipped agents; echo's 'slow' messages take 30 s (to cancel)."""
    agents = tmp_path / "agents"
    shutil.copytree(REPO / "agent_cards", agents)
    (agents / "echo.binding.yaml").write_text("executor: echo\noptions:\n  slow_seconds: 30\n")
    settings = settings_for(backend, agents_dir=agents)
    async with running_app(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def submit(http: httpx.AsyncClient, body: dict[str, Any],
                 headers: dict[str, str] = SHANNON) -> httpx.Response:
    return await http.post("/api/v1/tasks", json=body, headers=headers)


async def a2a_task_count(http: httpx.AsyncClient) -> int:
    listed = await http.get("/agents/echo/v1/tasks", headers={**DEMO, **V1})
    assert listed.status_code == 200, listed.text
    return len(listed.json().get("tasks", []))


def rpc_error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body["jsonrpc"] == "2.0" and "result" not in body
    return {"jsonrpc": body["jsonrpc"], "id": body["id"], "error": {"code": body["error"]["code"]}}


async def test_a_shannon_submit_is_an_a2a_task_in_the_session(http: httpx.AsyncClient) -> None:
    sent = await submit(http, {"query": "hello shannon", "session_id": "user-123-session"})
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["status"] == "TASK_STATUS_COMPLETED"  # the echo agent is done at its first commit
    assert sent.headers["X-Workflow-ID"] == body["task_id"]
    assert sent.headers["X-Session-ID"] == "user-123-session"
    task = await http.get(f"/agents/echo/v1/tasks/{body['task_id']}", headers={**DEMO, **V1})
    assert task.status_code == 200, task.text
    assert task.json()["contextId"] == "user-123-session"
    assert task.json()["history"][0]["parts"] == [{"text": "hello shannon"}]
    assert task.json()["artifacts"][0]["parts"] == [{"text": "echo: hello shannon"}]
    context = await http.get("/agents/echo/v1/contexts/user-123-session", headers=DEMO)
    assert [item["id"] for item in context.json()["items"]] == [body["task_id"]]


async def test_without_a_session_id_one_is_made(http: httpx.AsyncClient) -> None:
    sent = await submit(http, {"query": "no session"})
    status = await http.get(f"/api/v1/tasks/{sent.json()['task_id']}", headers=SHANNON)
    assert status.json()["session_id"] == sent.headers["X-Session-ID"] != ""


async def test_an_a2a_task_reads_in_both_views(http: httpx.AsyncClient) -> None:
    sent = await http.post("/agents/echo/v1/message:send", json=user_message_v1("from a2a"),
                           headers={**DEMO, **V1})
    task = sent.json()["task"]
    shannon = await http.get(f"/api/v1/tasks/{task['id']}", headers=SHANNON)
    assert shannon.status_code == 200, shannon.text
    assert shannon.json()["status"] == "TASK_STATUS_COMPLETED"
    assert shannon.json()["result"] == "echo: from a2a"
    assert shannon.json()["query"] == "from a2a"
    assert shannon.json()["session_id"] == task["contextId"]
    agentlin = await http.get(f"/tasks/{task['id']}", headers={**AGENTLIN, **REQUEST_ID})
    assert agentlin.json()["id"] == "req-1"
    result = agentlin.json()["result"]
    assert (result["status"], result["session_id"]) == ("completed", task["contextId"])
    assert result["output"][0]["content"] == [{"type": "text", "text": "echo: from a2a"}]


async def test_a_task_of_another_agent_is_found_without_naming_it(http: httpx.AsyncClient) -> None:
    sent = await http.post("/agents/conformance/v1/message:send",
                           json=user_message_v1("hello conformance"), headers={**DEMO, **V1})
    task_id = sent.json()["task"]["id"]
    assert (await http.get(f"/api/v1/tasks/{task_id}", headers=SHANNON)).status_code == 200
    assert "result" in (await http.get(f"/tasks/{task_id}", headers=AGENTLIN)).json()
    # Naming an agent narrows the search to it.
    named = await http.get(f"/api/v1/tasks/{task_id}", headers={**SHANNON, "X-Agent-ID": "echo"})
    assert (named.status_code, named.json()) == (404, {"error": "Task not found"})


async def test_x_agent_id_chooses_the_agent_of_a_submit(http: httpx.AsyncClient) -> None:
    sent = await submit(http, {"query": "hello"}, {**SHANNON, "X-Agent-ID": "conformance"})
    assert sent.status_code == 200, sent.text
    task_id = sent.json()["task_id"]
    on_conformance = await http.get(f"/agents/conformance/v1/tasks/{task_id}", headers=DEMO)
    assert on_conformance.status_code == 200
    on_echo = await http.get(f"/agents/echo/v1/tasks/{task_id}", headers=DEMO)
    assert on_echo.status_code == 404


@pytest.mark.parametrize("agent", ["nosuchagent", "conformance"])
async def test_an_agent_the_tenant_cannot_use_is_not_found(http: httpx.AsyncClient,
                                                           agent: str) -> None:
    # acme may use echo only: conformance is as unknown to it as an agent that does not exist.
    sent = await submit(http, {"query": "hi"}, {"X-API-Key": "acme-key", "X-Agent-ID": agent})
    assert (sent.status_code, sent.json()) == (404, {"error": f"agent '{agent}' not found"})


async def test_another_tenants_task_is_exactly_a_missing_one(http: httpx.AsyncClient) -> None:
    task_id = (await submit(http, {"query": "demo's secret"})).json()["task_id"]
    acme_shannon = {"X-API-Key": "acme-key"}
    acme_agentlin = {"Authorization": "Bearer acme-key", **REQUEST_ID}
    for task in (task_id, "no-such-task"):
        got = await http.get(f"/api/v1/tasks/{task}", headers=acme_shannon)
        assert (got.status_code, got.json()) == (404, {"error": "Task not found"})
        assert "x-workflow-id" not in got.headers
        cancel = await http.post(f"/api/v1/tasks/{task}/cancel", headers=acme_shannon)
        assert (cancel.status_code, cancel.json()) == (404, {"error": "Task not found"})
        rpc = await http.get(f"/tasks/{task}", headers=acme_agentlin)
        assert rpc.status_code == 200  # a JSON-RPC protocol error rides HTTP 200
        assert rpc_error(rpc) == NOT_FOUND_RPC
    assert (await http.get(f"/api/v1/tasks/{task_id}", headers=SHANNON)).status_code == 200


async def test_credentials(http: httpx.AsyncClient) -> None:
    task_id = (await submit(http, {"query": "x"})).json()["task_id"]
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Basic abc"}):
        got = await http.get(f"/api/v1/tasks/{task_id}", headers=headers)
        assert (got.status_code, got.json()) == (401, {"error": "Unauthorized"})
        rpc = await http.get(f"/tasks/{task_id}", headers={**headers, **REQUEST_ID})
        assert rpc.status_code == 401
        assert rpc_error(rpc) == {"jsonrpc": "2.0", "id": "req-1", "error": {"code": -32600}}
    # Any of this server's credentials: a bearer key, an OAuth2 token, X-API-Key for agentlin.
    token = await http.post("/realms/demo/protocol/openid-connect/token",
                            data={"grant_type": "client_credentials", "client_id": "demo-client",
                                  "client_secret": "demo-secret"})
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert (await http.get(f"/api/v1/tasks/{task_id}", headers=bearer)).status_code == 200
    assert (await http.get(f"/tasks/{task_id}", headers=bearer)).json()["result"]["user_id"] == (
        "demo-client")
    assert "result" in (await http.get(f"/tasks/{task_id}", headers=SHANNON)).json()
    # A Tenant-Name that is not the credentials' tenant is refused, as on every route.
    mismatch = await http.get(f"/api/v1/tasks/{task_id}", headers={**SHANNON, "Tenant-Name": "acme"})
    assert mismatch.status_code == 403


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "Invalid request body: "),
        (b"[1, 2]", "Invalid request body: must be a JSON object"),
        (b"{}", "Query is required"),
        (b'{"query": ""}', "Query is required"),
        (b'{"query": 5}', "Invalid request body: 'query'"),
        (b'{"query": "hi", "session_id": ""}', "Invalid request body: 'session_id'"),
        (b'{"query": "hi", "session_id": "' + b"s" * 257 + b'"}', "Invalid request body: 'session_id'"),
        # echoed in the X-Session-ID header: was a 500, after the task had been stored
        ('{"query": "hi", "session_id": "s\U0005751b"}'.encode(), "Invalid request body: 'session_id'"),
        (b'{"query": "hi", "session_id": "a\\r\\nSet-Cookie: x=1"}',
         "Invalid request body: 'session_id'"),
        (b'{"query": "hi", "session_id": " ab"}', "Invalid request body: 'session_id'"),
        (b'{"query": "hi", "mode": "turbo"}', "Invalid request body: 'mode'"),
        (b'{"query": "hi", "priority": 1}', "Invalid request body: 'priority'"),
        (b'{"query": "' + b"q" * 100_001 + b'"}', "Invalid request body: 'query'"),
    ],
)
async def test_a_bad_submit_is_refused_and_creates_nothing(http: httpx.AsyncClient, body: bytes,
                                                           message: str) -> None:
    sent = await http.post("/api/v1/tasks", content=body,
                           headers={**SHANNON, "Content-Type": "application/json"})
    assert sent.status_code == 400, sent.text
    assert sent.json()["error"].startswith(message)
    assert await a2a_task_count(http) == 0


async def test_a_body_over_the_limit_is_a_shannon_413(http: httpx.AsyncClient) -> None:
    sent = await http.post("/api/v1/tasks", content=b"{" + b" " * 2_000_000 + b"}",
                           headers={**SHANNON, "Content-Type": "application/json"})
    assert sent.status_code == 413
    assert sent.json() == {"error": "request body exceeds 1048576 bytes"}


async def test_mode_is_reported_as_execution_mode(http: httpx.AsyncClient) -> None:
    task_id = (await submit(http, {"query": "hi", "mode": "complex"})).json()["task_id"]
    status = await http.get(f"/api/v1/tasks/{task_id}", headers=SHANNON)
    assert status.json()["mode"] == "EXECUTION_MODE_COMPLEX"


async def test_cancel_a_running_task(http: httpx.AsyncClient) -> None:
    sent = await submit(http, {"query": "slow work"})
    task_id = sent.json()["task_id"]
    assert sent.json()["status"] == "TASK_STATUS_RUNNING"
    cancel = await http.post(f"/api/v1/tasks/{task_id}/cancel", headers=SHANNON)
    assert cancel.status_code == 202
    assert cancel.json() == {"success": True, "message": "Task cancelled", "task_id": task_id}
    status = await http.get(f"/api/v1/tasks/{task_id}", headers=SHANNON)
    assert status.json()["status"] == "TASK_STATUS_CANCELLED"
    a2a = await http.get(f"/agents/echo/v1/tasks/{task_id}", headers={**DEMO, **V1})
    assert a2a.json()["status"]["state"] == "TASK_STATE_CANCELED"
    again = await http.post(f"/api/v1/tasks/{task_id}/cancel", headers=SHANNON)
    assert again.status_code == 409
    assert again.json() == {"error": "Task cannot be cancelled: it has already finished"}


async def test_a_running_task_reads_as_running_in_both_views(http: httpx.AsyncClient) -> None:
    task_id = (await submit(http, {"query": "slow one"})).json()["task_id"]
    shannon = (await http.get(f"/api/v1/tasks/{task_id}", headers=SHANNON)).json()
    assert (shannon["status"], shannon["response"], shannon["error"]) == (
        "TASK_STATUS_RUNNING", None, "")
    assert "result" not in shannon
    agentlin = (await http.get(f"/tasks/{task_id}", headers=AGENTLIN)).json()["result"]
    assert agentlin["status"] == "working"


async def test_a_tenant_without_default_agent_must_name_one(
    backend: str, settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    tenants = tmp_path / "tenants"
    shutil.copytree(REPO / "tenants", tenants)
    demo = tenants / "demo.yaml"
    demo.write_text("\n".join(line for line in demo.read_text().splitlines()
                              if not line.startswith("default_agent")) + "\n")
    async with running_app(settings_for(backend, tenants_dir=tenants)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            sent = await submit(client, {"query": "hi"})
            assert sent.status_code == 400
            assert sent.json() == {"error": "no agent chosen: send X-Agent-ID or set "
                                            "default_agent in the tenant file"}
            named = await submit(client, {"query": "hi"}, {**SHANNON, "X-Agent-ID": "echo"})
            task_id = named.json()["task_id"]
            # Reads search every agent of the tenant, default or not.
            assert (await client.get(f"/api/v1/tasks/{task_id}", headers=SHANNON)).status_code == 200


async def test_an_a2a_task_waiting_for_input_reads_in_both_views(http: httpx.AsyncClient) -> None:
    # The conformance agent leaves a 'tck-input-required' task waiting for its caller.
    body = user_message_v1("need input", messageId="tck-input-required-1")
    sent = await http.post("/agents/conformance/v1/message:send", json=body, headers={**DEMO, **V1})
    task = sent.json()["task"]
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    shannon = (await http.get(f"/api/v1/tasks/{task['id']}", headers=SHANNON)).json()
    assert (shannon["status"], shannon["response"]) == ("TASK_STATUS_RUNNING", None)
    agentlin = (await http.get(f"/tasks/{task['id']}", headers=AGENTLIN)).json()["result"]
    assert agentlin["status"] == "input-required"
    assert "input_required" not in agentlin  # no tool call in its status message
