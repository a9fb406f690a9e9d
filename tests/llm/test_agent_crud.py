"""Corti's agent CRUD (POST/GET/PATCH/DELETE /agents): round trips on both stores, the
tenant's isolation (hidden 404), operator agents read-only, validation naming the field,
the outbound-URL policy, and the created LLM agent answering through the provider stand-in."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from a2a.types.a2a_pb2 import TaskState

from a2a_server.agents.api_defined import load_policy
from a2a_server.stores.base import Scope
from tests.conftest import ACME, DEMO, V1, make_settings, running_app, user_message_v1
from tests.limited_tenants import LIMITED, tenants_with_limits
from tests.llm.conftest import Provider, app_client
from tests.mcp_process import McpServerProcess

CREATE = {"name": "Triage", "description": "Sorts questions.", "systemPrompt": "You triage."}


def policy_file(tmp_path: Path, provider: Provider, **overrides: Any) -> Path:
    """The operator's tenant_agents_file, bound to the stand-in."""
    body: dict[str, Any] = {
        "kinds": ["llm", "remote"],
        "llm": {"base_url": provider.url, "model": "standin-1", "provider": "standin",
                "api_key_env": "STANDIN_API_KEY", "timeout_seconds": 20, "retries": 0},
        "max_agents_per_tenant": 5, "max_experts": 2, "max_system_prompt_chars": 100,
    }
    body.update(overrides)
    path = tmp_path / "tenant-agents.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


@pytest.fixture
def settings(backend: str, tmp_path: Path, provider: Provider, redis_url_or_none: str | None,
             monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("STANDIN_API_KEY", "sk-standin")
    return make_settings(tenant_agents_file=policy_file(tmp_path, provider),
                         redis_url=redis_url_or_none)


@pytest.fixture
def redis_url_or_none(backend: str, request: pytest.FixtureRequest) -> str | None:
    return str(request.getfixturevalue("redis_url")) if backend == "redis" else None


async def create(http: httpx.AsyncClient, body: dict[str, Any] | None = None,
                 headers: dict[str, str] = DEMO, query: str = "") -> dict[str, Any]:
    made = await http.post(f"/agents{query}", json=body or CREATE, headers=headers)
    assert made.status_code == 201, made.text
    agent: dict[str, Any] = made.json()
    return agent


async def test_round_trip_and_the_agent_answers(settings: Any, provider: Provider) -> None:
    """Create, get, list, card, send, patch (the next send sees it), delete (then 404)."""
    provider.rule("hello", {"text": "Hi there", "usage": {"prompt_tokens": 3, "completion_tokens": 2}})
    async with app_client(settings) as http:
        agent = await create(http)
        agent_id = agent["id"]
        assert uuid.UUID(agent_id)
        assert agent == {"id": agent_id, "name": "Triage", "description": "Sorts questions.",
                         "systemPrompt": "You triage.", "experts": []}
        assert (await http.get(f"/agents/{agent_id}", headers=DEMO)).json() == agent
        listed = (await http.get("/agents", headers=DEMO)).json()
        assert agent in listed and "echo" in [a["id"] for a in listed]
        card = await http.get(f"/agents/{agent_id}/agent-card.json", headers=DEMO)
        assert card.status_code == 200 and card.json()["name"] == "Triage"
        assert card.json()["url"].endswith(f"/agents/{agent_id}/v1")

        sent = await http.post(f"/agents/{agent_id}/v1/message:send",
                               json=user_message_v1("hello"), headers={**DEMO, **V1})
        assert sent.status_code == 200, sent.text
        first = sent.json()["task"]
        assert first["status"]["state"] == "TASK_STATE_COMPLETED"
        assert provider.requests()[-1]["body"]["messages"][0] == {"role": "system",
                                                                  "content": "You triage."}

        patched = await http.patch(f"/agents/{agent_id}", json={"name": "Sorter",
                                                                "systemPrompt": "Sort."},
                                   headers=DEMO)
        assert patched.status_code == 200, patched.text
        assert patched.json() == {**agent, "name": "Sorter", "systemPrompt": "Sort."}
        card = await http.get(f"/agents/{agent_id}/agent-card.json", headers=DEMO)
        assert card.json()["name"] == "Sorter"
        await http.post(f"/agents/{agent_id}/v1/message:send", json=user_message_v1("hello"),
                        headers={**DEMO, **V1})
        assert provider.requests()[-1]["body"]["messages"][0]["content"] == "Sort."

        deleted = await http.delete(f"/agents/{agent_id}", headers=DEMO)
        assert deleted.status_code == 204
        assert (await http.get(f"/agents/{agent_id}", headers=DEMO)).status_code == 404
        after = await http.post(f"/agents/{agent_id}/v1/message:send",
                                json=user_message_v1("hello"), headers={**DEMO, **V1})
        assert after.status_code == 404
        assert agent_id not in [a["id"] for a in (await http.get("/agents", headers=DEMO)).json()]
        for call in (http.patch(f"/agents/{agent_id}", json={"name": "x"}, headers=DEMO),
                     http.delete(f"/agents/{agent_id}", headers=DEMO),
                     http.get(f"/agents/{agent_id}/agent-card.json", headers=DEMO)):
            assert (await call).status_code == 404
        # Its finished tasks stay readable (until the tenant's retention), to its tenant only.
        kept = await http.get(f"/agents/{agent_id}/v1/tasks/{first['id']}", headers={**DEMO, **V1})
        assert kept.status_code == 200 and kept.json()["status"]["state"] == "TASK_STATE_COMPLETED"
        hidden = await http.get(f"/agents/{agent_id}/v1/tasks/{first['id']}", headers={**ACME, **V1})
        assert hidden.status_code == 404
        rpc = await http.post(f"/agents/{agent_id}/v1", headers={**DEMO, **V1}, json={
            "jsonrpc": "2.0", "id": 1, "method": "SendMessage",
            "params": user_message_v1("hello")})
        assert rpc.status_code == 404
        assert rpc.json()["error"]["message"] == f"agent '{agent_id}' not found"


async def test_another_tenant_gets_the_hidden_404(settings: Any) -> None:
    """acme cannot see, change, delete, use or read the card of demo's agent: the answers are
    those of an id that does not exist."""
    async with app_client(settings) as http:
        agent_id = (await create(http))["id"]
        missing = str(uuid.uuid4())
        for target in (agent_id, missing):
            answers = [
                await http.get(f"/agents/{target}", headers=ACME),
                await http.patch(f"/agents/{target}", json={"name": "x"}, headers=ACME),
                await http.delete(f"/agents/{target}", headers=ACME),
                await http.post(f"/agents/{target}/v1/message:send", json=user_message_v1("hi"),
                                headers={**ACME, **V1}),
                await http.get(f"/agents/{target}/agent-card.json", headers=ACME),
            ]
            assert [a.status_code for a in answers] == [404] * 5
            for answer in answers:
                assert answer.json()["error"]["message"] == f"agent '{target}' not found"
        assert agent_id not in [a["id"] for a in (await http.get("/agents", headers=ACME)).json()]
        assert (await http.get(f"/agents/{agent_id}", headers=DEMO)).json()["name"] == "Triage"
        # Without credentials its card is not public either (an operator agent's is).
        for target in (agent_id, missing):
            anonymous = await http.get(f"/agents/{target}/agent-card.json",
                                       headers={"Tenant-Name": "demo"})
            assert anonymous.status_code == 404
        assert (await http.get("/agents/echo/agent-card.json")).status_code == 200


def count_agent_reads(app: Any) -> list[str]:
    """The agent ids the app's store of created agents is asked for from now on."""
    store, reads = app.state.server.stores.agents, []
    real = store.get

    async def get(agent_id: str) -> Any:
        reads.append(agent_id)
        return await real(agent_id)

    store.get = get
    return reads


async def test_a_bad_credential_causes_no_store_read(settings: Any) -> None:
    """A created agent not loaded on this replica is read from the store only for a caller
    with valid credentials: a bad or missing credential costs no read and gets the 401 of any
    agent (a created one's and a missing id's answers are the same)."""
    async with running_app(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            agent_id = (await create(http))["id"]
            app.state.tenant_agents.apply(agent_id, None)  # as on a replica that never saw it
            reads = count_agent_reads(app)
            missing = str(uuid.uuid4())
            for bad in ({"X-API-Key": "not-a-key"}, {"Authorization": "Bearer a.b.c"},
                        {"Authorization": "Bearer not-a-key"}, {"Tenant-Name": "demo"}):
                answers = []
                for target in (agent_id, missing):
                    for answer in (
                        await http.get(f"/agents/{target}/v1/tasks/t-1", headers={**bad, **V1}),
                        await http.post(f"/agents/{target}/v1/message:send",
                                        json=user_message_v1("hi"), headers={**bad, **V1}),
                        await http.post(f"/agents/{target}/v1", headers={**bad, **V1}, json={
                            "jsonrpc": "2.0", "id": 1, "method": "GetTask",
                            "params": {"id": "t-1"}}),
                    ):
                        assert answer.status_code == 401, answer.text
                        answers.append(answer.content)
                assert answers[:3] == answers[3:]  # the created agent's == the missing id's
            assert reads == []
            assert agent_id not in app.state.server.runtimes
            # Valid credentials (of any tenant) load it: one read each, the gate says the rest.
            other = await http.get(f"/agents/{agent_id}/v1/tasks/t-1", headers={**ACME, **V1})
            assert other.status_code == 404
            assert other.json()["error"]["message"] == f"agent '{agent_id}' not found"
            own = await http.get(f"/agents/{agent_id}/v1/tasks/t-1", headers={**DEMO, **V1})
            assert own.status_code == 404 and "task" in own.json()["error"]["message"].lower()
            assert reads == [agent_id]  # loaded by acme's request, cached for demo's


async def test_operator_agents_are_read_only(settings: Any) -> None:
    """PATCH/DELETE on a file agent the tenant uses: 403; on one it may not use: 404."""
    async with app_client(settings) as http:
        for call in (http.patch("/agents/echo", json={"name": "x"}, headers=DEMO),
                     http.delete("/agents/echo", headers=DEMO)):
            answer = await call
            assert answer.status_code == 403
            assert "read-only" in answer.json()["error"]["message"]
        hidden = await http.patch("/agents/conformance", json={"name": "x"}, headers=ACME)
        assert hidden.status_code == 404
        assert (await http.get("/agents/echo", headers=DEMO)).json()["name"] != "x"


INVALID = [
    ({"description": "d"}, "field 'name'"),
    ({**CREATE, "colour": "red"}, "field 'colour'"),
    ({**CREATE, "": 1}, "field '\"\"': Extra inputs"),  # an empty member name, not "(body)"
    ({**CREATE, "experts": [{"type": "new", "name": "e", "description": "d", "": 1}]},
     "field 'experts.0.\"\"': Extra inputs"),
    ({**CREATE, "systemPrompt": "x" * 101}, "field 'systemPrompt': at most 100"),
    ({**CREATE, "experts": [{"type": "new", "name": f"e{n}", "description": "d"}
                            for n in range(3)]}, "field 'experts': at most 2"),
    ({**CREATE, "experts": [{"type": "reference", "id": "nope"}]}, "field 'experts.0.id'"),
    ({**CREATE, "experts": [{"type": "new", "name": "coder", "description": "d", "mcpServers": [
        {"name": "tools", "transportType": "stdio", "url": "x"}]}]},
     "field 'experts.0.mcpServers.0.transportType': 'stdio'"),
    ({**CREATE, "experts": [{"type": "new", "name": "coder", "description": "d", "mcpServers": [
        {"name": "tools", "url": "http://127.0.0.1:9/mcp"}]}]},
     "field 'experts.0.mcpServers.0.url': this URL is not allowed"),
    ({**CREATE, "experts": [{"type": "new", "name": "coder", "description": "d", "mcpServers": [
        {"name": "meta", "url": "http://169.254.169.254/mcp"}]}]},
     "field 'experts.0.mcpServers.0.url': this URL is not allowed"),
    ({**CREATE, "remote": {"cardUrl": "http://10.0.0.7/.well-known/agent-card.json"}},
     "field 'remote.cardUrl': this URL is not allowed"),
    # Credentials in a URL would be stored, echoed by GET /agents, and written into every
    # failed task's message and the log ("the remote agent at https://u:p@..."): refused.
    ({**CREATE, "remote": {"cardUrl": "https://user:p4ss@8.8.8.8/card.json"}},
     "field 'remote.cardUrl': credentials in the URL"),
    ({**CREATE, "experts": [{"type": "new", "name": "coder", "description": "d", "mcpServers": [
        {"name": "tools", "url": "https://token@mcp.example.com/mcp"}]}]},
     "field 'experts.0.mcpServers.0.url': credentials in the URL"),
    # A URL the HTTP client cannot send to was stored, then failed every send with a logged
    # traceback ("unexpected InvalidURL"): refused when written.
    ({**CREATE, "remote": {"cardUrl": "https://8.8.8.8/\x01card.json"}},
     "field 'remote.cardUrl': not a valid URL"),
    ({**CREATE, "remote": {"cardUrl": "https://8.8.8.8:99999/card.json"}},
     "field 'remote.cardUrl': not a valid URL: port 99999"),
    ({**CREATE, "experts": [{"type": "new", "name": "coder", "description": "d", "mcpServers": [
        {"name": "tools", "url": "https://[::1/mcp"}]}]},
     "field 'experts.0.mcpServers.0.url': not a valid URL"),
    ({**CREATE, "experts": [{"type": "new", "name": "coder", "description": "d", "mcpServers": [
        {"name": "tools", "url": "https://mcp.example.com/mcp",
         "redirectUrl": "https://u:pw@app.example.com/\ncb"}]}]},
     "field 'experts.0.mcpServers.0.redirectUrl': not a valid URL"),
    ({**CREATE, "experts": [{"type": "new", "name": "coder", "description": "d", "mcpServers": [
        {"name": "tools", "url": "https://mcp.example.com/mcp",
         "redirectUrl": "https://u:pw@app.example.com/cb"}]}]},
     "field 'experts.0.mcpServers.0.redirectUrl': credentials in the URL"),
    ({**CREATE, "experts": [{"type": "new", "name": "coder", "description": "d", "mcpServers": [
        {"name": "tools", "url": "https://mcp.example.com/mcp", "description": "a\x1b[2Jb"}]}]},
     "field 'experts.0.mcpServers.0.description': must not contain U+001B"),
    # A name is one line in cards, lists, consoles and logs; texts keep their lines and tabs.
    ({**CREATE, "name": "Tri\nage"}, "field 'name': must not contain U+000A"),
    ({**CREATE, "name": "\x1b[31mTriage"}, "field 'name': must not contain U+001B"),
    ({**CREATE, "name": "Triage\u202egpj.exe"}, "field 'name': must not contain U+202E"),
    ({**CREATE, "description": "a\x00b"}, "field 'description': must not contain U+0000"),
    ({**CREATE, "systemPrompt": "a\x07"}, "field 'systemPrompt': must not contain U+0007"),
    ({**CREATE, "experts": [{"type": "new", "name": "co\rder", "description": "d"}]},
     "field 'experts.0.name': must not contain U+000D"),
]


@pytest.mark.parametrize(("body", "message"), INVALID)
async def test_invalid_definitions_name_the_field_and_change_nothing(
        settings: Any, body: dict[str, Any], message: str) -> None:
    async with app_client(settings) as http:
        before = (await http.get("/agents", headers=DEMO)).json()
        answer = await http.post("/agents", json=body, headers=DEMO)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["message"].startswith(message), answer.text
        assert (await http.get("/agents", headers=DEMO)).json() == before


async def test_names_and_texts_keep_what_is_printable(settings: Any) -> None:
    """Lines and tabs in a prompt, odd but printable Unicode in a name (emoji with joiners,
    combining marks, Arabic digits) are stored as given; a PATCH with a control character
    in the name changes nothing."""
    odd = {"name": "\U0001f468\u200d\U0001f469\u200d\U0001f467 e\u0301 \u0661\u0662",
           "description": "line 1\r\nline 2\tend", "systemPrompt": "You:\n- triage"}
    async with app_client(settings) as http:
        agent = await create(http, {**CREATE, **odd})
        assert {k: agent[k] for k in odd} == odd
        patched = await http.patch(f"/agents/{agent['id']}", json={"name": "a\x00"}, headers=DEMO)
        assert patched.status_code == 400
        assert patched.json()["error"]["message"].startswith("field 'name': must not contain")
        assert (await http.get(f"/agents/{agent['id']}", headers=DEMO)).json() == agent


async def test_a_patch_cannot_empty_the_name(settings: Any) -> None:
    """PATCH {"name": null} stored an empty name: the card lost its required name (the SDK
    warns it is not spec-compliant). Refused naming the field; null for the other members
    still clears them, and the card then describes the agent by its name."""
    async with app_client(settings) as http:
        agent = await create(http)
        path = f"/agents/{agent['id']}"
        refused = await http.patch(path, json={"name": None}, headers=DEMO)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["message"].startswith("field 'name'")
        assert (await http.get(path, headers=DEMO)).json() == agent
        cleared = await http.patch(path, json={"description": None, "systemPrompt": None},
                                   headers=DEMO)
        assert cleared.status_code == 200
        assert cleared.json() == {**agent, "description": "", "systemPrompt": ""}
        card = (await http.get(f"{path}/agent-card.json", headers=DEMO)).json()
        assert card["name"] == card["description"] == "Triage"


async def test_a_query_tenant_must_be_the_credentials_tenant(settings: Any) -> None:
    """``?tenant=`` naming another tenant is a 403 on every CRUD route, as on the A2A routes
    (it used to be ignored: POST /agents?tenant=acme with demo's key created a demo agent)."""
    async with app_client(settings) as http:
        agent = await create(http)
        before = (await http.get("/agents", headers=DEMO)).json()
        path = f"/agents/{agent['id']}"
        answers = [await http.get("/agents?tenant=acme", headers=DEMO),
                   await http.post("/agents?tenant=acme", json=CREATE, headers=DEMO),
                   await http.get(f"{path}?tenant=acme", headers=DEMO),
                   await http.patch(f"{path}?tenant=acme", json={"name": "x"}, headers=DEMO),
                   await http.delete(f"{path}?tenant=acme", headers=DEMO)]
        assert [a.status_code for a in answers] == [403] * 5, [a.text for a in answers]
        assert all(a.json()["error"]["code"] == 403 for a in answers)
        assert (await http.get("/agents", headers=DEMO)).json() == before
        assert (await http.get(f"{path}?tenant=demo", headers=DEMO)).json() == agent


async def test_a_refused_url_with_credentials_is_not_logged(
        settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The outbound-URL policy logs the URLs it refuses: one with credentials never gets there."""
    async with app_client(settings) as http:
        answer = await http.post("/agents", headers=DEMO, json={
            **CREATE, "remote": {"cardUrl": "https://user:s3cret-pw@127.0.0.1/card.json"}})
        assert answer.status_code == 400
        assert "s3cret-pw" not in answer.text
        assert "s3cret-pw" not in caplog.text


async def test_experts_mcp_servers_and_remote_agents_are_stored_in_corti_shapes(
        settings: Any) -> None:
    async with app_client(settings) as http:
        agent = await create(http, {**CREATE, "experts": [
            {"type": "reference", "id": "echo"},
            {"type": "new", "name": "coder", "description": "Codes.", "systemPrompt": "ICD-10.",
             "mcpServers": [{"name": "codes", "url": "https://mcp.example.com/mcp",
                             "authorizationType": "inherit"}]}]})
        reference, inline = agent["experts"]
        assert reference == {"type": "reference", "id": "echo", "name": "Echo"}
        assert inline["type"] == "expert" and uuid.UUID(inline["id"])
        assert inline["mcpServers"][0]["url"] == "https://mcp.example.com/mcp"
        assert "token" not in inline["mcpServers"][0]
        remote = await create(http, {"name": "Far", "description": "Elsewhere.",
                                     "remote": {"cardUrl": "https://agents.example.com/card.json"}})
        assert remote["remote"] == {"cardUrl": "https://agents.example.com/card.json"}
        card = await http.get(f"/agents/{remote['id']}/agent-card.json", headers=DEMO)
        assert card.status_code == 200


async def test_ephemeral_agents_are_fetched_not_listed(settings: Any) -> None:
    async with app_client(settings) as http:
        agent = await create(http, query="?ephemeral=true")
        assert (await http.get(f"/agents/{agent['id']}", headers=DEMO)).status_code == 200
        ids = [a["id"] for a in (await http.get("/agents", headers=DEMO)).json()]
        assert agent["id"] not in ids
        ids = [a["id"] for a in (await http.get("/agents?ephemeral=true", headers=DEMO)).json()]
        assert agent["id"] in ids


async def test_a_tenant_owns_at_most_its_limit(settings: Any) -> None:
    async with app_client(settings) as http:
        for _ in range(5):
            await create(http)
        refused = await http.post("/agents", json=CREATE, headers=DEMO)
        assert refused.status_code == 409 and "limit" in refused.json()["error"]["message"]
        await create(http, headers=ACME)  # another tenant's count is its own


async def test_without_the_operator_file_tenants_cannot_create(backend: str) -> None:
    async with app_client(make_settings()) as http:
        refused = await http.post("/agents", json=CREATE, headers=DEMO)
        assert refused.status_code == 403
        assert "tenant_agents_file" in refused.json()["error"]["message"]



def test_an_unset_key_variable_in_the_operator_file_is_said_at_start_up(
    tmp_path: Path, provider: Provider, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = policy_file(tmp_path, provider)  # api_key_env: STANDIN_API_KEY
    monkeypatch.delenv("STANDIN_API_KEY", raising=False)
    with caplog.at_level(logging.WARNING, logger="a2a_server.agents.api_defined"):
        load_policy(path)
    warned = [r.getMessage() for r in caplog.records if r.name == "a2a_server.agents.api_defined"]
    assert len(warned) == 1 and "STANDIN_API_KEY" in warned[0] and str(path) in warned[0]
    caplog.clear()
    monkeypatch.setenv("STANDIN_API_KEY", "sk-standin")
    with caplog.at_level(logging.WARNING, logger="a2a_server.agents.api_defined"):
        load_policy(path)
    assert not [r for r in caplog.records if r.name == "a2a_server.agents.api_defined"]


async def test_delete_cancels_running_tasks(settings: Any, provider: Provider) -> None:
    provider.rule("wait", {"kind": "hang", "seconds": 8})
    async with app_client(settings) as http:
        agent_id = (await create(http))["id"]
        body = {**user_message_v1("wait for it"), "configuration": {"returnImmediately": True}}
        sent = await http.post(f"/agents/{agent_id}/v1/message:send", json=body,
                               headers={**DEMO, **V1})
        task = sent.json()["task"]
        for _ in range(100):  # until the model call is under way
            if provider.requests():
                break
            await asyncio.sleep(0.05)
        assert (await http.delete(f"/agents/{agent_id}", headers=DEMO)).status_code == 204
        app = http._transport.app  # type: ignore[attr-defined]
        stores = app.state.server.stores
        view = await stores.tasks.get_task_view(Scope("demo", agent_id), task["id"], 0)
        assert view is not None and view.status.state == TaskState.TASK_STATE_CANCELED


async def test_tokens_per_day_counts_created_agents_deleted_ones_too(
        backend: str, settings: Any, provider: Provider, tmp_path: Path) -> None:
    """A tenant cannot get round tokens_per_day by creating (and deleting) LLM agents."""
    provider.rule("", {"kind": "text", "text": "ok",
                       "usage": {"prompt_tokens": 100, "completion_tokens": 20}})
    tenants = tenants_with_limits(tmp_path / "tenants", tokens_per_day=200)
    limited = settings.model_copy(update={"tenants_dir": tenants})
    headers = {**LIMITED, **V1}
    async with app_client(limited) as http:
        first = await create(http, headers=LIMITED)
        for n in range(2):  # 120 tokens, then 240
            sent = await http.post(f"/agents/{first['id']}/v1/message:send",
                                   json=user_message_v1(f"q{n}"), headers=headers)
            assert sent.status_code == 200, sent.text
        assert (await http.delete(f"/agents/{first['id']}", headers=LIMITED)).status_code == 204
        second = await create(http, headers=LIMITED)
        refused = await http.post(f"/agents/{second['id']}/v1/message:send",
                                  json=user_message_v1("q"), headers=headers)
    assert refused.status_code == 429, refused.text
    assert refused.headers["ratelimit-policy"] == '"tokens";q=200;w=86400'


async def test_a_replica_caches_at_most_max_cached_agents(
        settings: Any, provider: Provider, tmp_path: Path) -> None:
    """Beyond the bound the least recently used idle agent is dropped, and read again when used."""
    provider.rule("", {"text": "ok"})
    bounded = settings.model_copy(update={
        "tenant_agents_file": policy_file(tmp_path, provider, max_cached_agents=1)})
    async with app_client(bounded) as http:
        runtimes = http._transport.app.state.server.runtimes  # type: ignore[attr-defined]
        first, second = (await create(http))["id"], (await create(http))["id"]
        assert first not in runtimes and second in runtimes
        for agent_id in (first, second, first):
            sent = await http.post(f"/agents/{agent_id}/v1/message:send",
                                   json=user_message_v1("hi"), headers={**DEMO, **V1})
            assert sent.status_code == 200, sent.text
            assert agent_id in runtimes and len([a for a in (first, second) if a in runtimes]) == 1


@pytest.fixture(scope="module")
def open_mcp_server() -> Iterator[McpServerProcess]:
    """The MCP test server without a bearer check (tenants' servers: auth none or inherit)."""
    server = McpServerProcess(token=None)
    yield server
    server.stop()


def _tools_offered(request: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in request["body"].get("tools", [])]


@pytest.mark.parametrize("backend", ["redis"])
async def test_an_inline_experts_mcp_server_is_its_own_and_checked_on_every_replica(
    backend: str, tmp_path: Path, provider: Provider, redis_url: str,
    open_mcp_server: McpServerProcess, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Corti's inline expert with ``mcpServers``: the expert's model gets the tools, in its own
    task. The URL is the tenant's, so it passes the outbound policy on the replica that
    calls it: a replica whose policy refuses loopback never reaches the server."""
    monkeypatch.setenv("STANDIN_API_KEY", "sk-standin")
    policy = policy_file(tmp_path, provider)
    allowing = make_settings(tenant_agents_file=policy, redis_url=redis_url,
                             push_url_allowlist=["127.0.0.1"])
    refusing = make_settings(tenant_agents_file=policy, redis_url=redis_url)
    body = {**CREATE, "experts": [{"type": "new", "name": "calculator", "description": "Adds.",
                                   "systemPrompt": "You add with your tool.", "mcpServers": [
                                       {"name": "tools", "url": open_mcp_server.url,
                                        "transportType": "streamable_http",
                                        "authorizationType": "none"}]}]}
    async with app_client(allowing) as http, app_client(refusing) as other:
        agent_id = (await create(http, body))["id"]
        for client, expert_sees in ((http, "42"), (other, None)):
            provider.script(
                {"kind": "tool_calls", "calls": [{"id": "e1", "name": "expert_calculator",
                                                  "arguments": {"message": "2 + 40"}}]},
                {"kind": "tool_calls", "calls": [{"id": "m1", "name": "add",
                                                  "arguments": {"a": 2, "b": 40}}]},
                {"kind": "text", "text": "done"},
                {"kind": "text", "text": "The answer."})
            before = len(provider.requests())
            sent = await client.post(f"/agents/{agent_id}/v1/message:send",
                                     json=user_message_v1("Add 2 and 40"), headers={**DEMO, **V1})
            assert sent.status_code == 200, sent.text
            assert sent.json()["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
            caller, expert, expert_after_tool = provider.requests()[before:before + 3]
            assert _tools_offered(caller) == ["expert_calculator"]
            assert expert["body"]["messages"][0] == {"role": "system",
                                                     "content": "You add with your tool."}
            tool_result = [m for m in expert_after_tool["body"]["messages"] if m["role"] == "tool"]
            if expert_sees is not None:
                assert "add" in _tools_offered(expert)
                assert tool_result == [{"role": "tool", "tool_call_id": "m1", "content": "42"}]
            else:  # the refusing replica offers no tool of that server, or fails its call
                assert "add" not in _tools_offered(expert) or "42" not in tool_result[0]["content"]
