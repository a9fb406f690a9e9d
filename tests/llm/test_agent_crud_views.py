"""Tenant-created agents in the tenant-wide views, on both stores: Corti v2's
``GET /agentic/contexts/{id}``, ``GET /agents/registry/experts``, ``GET /agents/{id}/usage``
and the seed APIs' agent choice and task lookup. Each covers the tenant's own created
agents (loaded on this replica if needed), never another tenant's (hidden 404)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from a2a_server.settings import Settings
from tests.conftest import ACME, DEMO, V1, running_app, user_message_v1
from tests.llm.conftest import Provider
from tests.llm.test_agent_crud import CREATE, create, policy_file

SEND = {**DEMO, **V1}
ANSWER = {"text": "Hi", "usage": {"prompt_tokens": 3, "completion_tokens": 2}}


class Served:
    """An app with its lifespan entered and an in-process client."""

    def __init__(self, app: Any, http: httpx.AsyncClient) -> None:
        self.app, self.http = app, http

    def forget(self, agent_id: str) -> None:
        """Drop the agent from this replica's cache (as an eviction, or a replica that never
        served it): the next route that names it must load it."""
        self.app.state.tenant_agents.apply(agent_id, None)
        assert agent_id not in self.app.state.server.runtimes

    async def send(self, agent_id: str, text: str, **fields: Any) -> dict[str, Any]:
        sent = await self.http.post(f"/agents/{agent_id}/v1/message:send",
                                    json=user_message_v1(text, **fields), headers=SEND)
        assert sent.status_code == 200, sent.text
        task: dict[str, Any] = sent.json()["task"]
        return task


@pytest.fixture
async def served(backend: str, settings_for: Callable[..., Settings], tmp_path: Path,
                 provider: Provider, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    monkeypatch.setenv("STANDIN_API_KEY", "sk-standin")
    provider.rule("", ANSWER)
    settings = settings_for(backend, tenant_agents_file=policy_file(tmp_path, provider))
    async with running_app(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     timeout=30) as http:
            yield Served(app, http)


async def test_v2_context_covers_created_agents(served: Served) -> None:
    """The context holds an echo task and a created agent's task: both listed, to demo only;
    still listed after the agent is deleted (its tasks are kept)."""
    http = served.http
    agent_id = (await create(http))["id"]
    first = await served.send("echo", "one")
    second = await served.send(agent_id, "two", contextId=first["contextId"])
    url = f"/agentic/contexts/{first['contextId']}"
    whole = (await http.get(url, headers=SEND)).json()
    assert [i["task"]["id"] for i in whole["items"]] == [first["id"], second["id"]]
    assert whole["total"] == 2
    only_created = await served.send(agent_id, "three")
    alone = await http.get(f"/agentic/contexts/{only_created['contextId']}", headers=SEND)
    assert alone.status_code == 200, alone.text
    assert [i["task"]["id"] for i in alone.json()["items"]] == [only_created["id"]]

    hidden = await http.get(f"/agentic/contexts/{only_created['contextId']}",
                            headers={**ACME, **V1})
    missing = await http.get(f"/agentic/contexts/{uuid.uuid4()}", headers={**ACME, **V1})
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["message"].startswith("context ")

    assert (await http.delete(f"/agents/{agent_id}", headers=DEMO)).status_code == 204
    kept = (await http.get(url, headers=SEND)).json()
    assert [i["task"]["id"] for i in kept["items"]] == [first["id"], second["id"]]


async def test_experts_registry_lists_the_tenants_created_agents(served: Served) -> None:
    """Created agents follow the operator's in demo's registry (ephemeral ones left out, as
    in GET /agents); acme's registry does not show them."""
    http = served.http
    agent = await create(http)
    ephemeral = await create(http, {**CREATE, "name": "Brief"}, query="?ephemeral=true")
    demo = (await http.get("/agents/registry/experts", headers=DEMO)).json()["experts"]
    ids = [e["id"] for e in demo]
    assert "echo" in ids and ids[-1] == agent["id"] and ephemeral["id"] not in ids
    assert demo[-1] == {"id": agent["id"], "name": "Triage", "description": "Sorts questions.",
                        "mcpServers": []}
    acme = (await http.get("/agents/registry/experts", headers=ACME)).json()["experts"]
    assert agent["id"] not in [e["id"] for e in acme]
    # What the registry lists can be referenced as an expert.
    orchestrator = await create(http, {**CREATE, "name": "Lead", "experts": [
        {"type": "reference", "id": agent["id"]}]})
    assert orchestrator["experts"] == [{"type": "reference", "id": agent["id"],
                                        "name": "Triage"}]


async def test_usage_of_a_created_agent(served: Served) -> None:
    """Its usage counts its model's tokens, read by its tenant (loaded on demand); acme gets
    the 404 of a missing agent."""
    http = served.http
    agent_id = (await create(http))["id"]
    await served.send(agent_id, "hello")
    served.forget(agent_id)
    usage = await http.get(f"/agents/{agent_id}/usage", headers=DEMO)
    assert usage.status_code == 200, usage.text
    assert usage.json()["totals"]["total_tokens"] == 5
    hidden = await http.get(f"/agents/{agent_id}/usage", headers=ACME)
    missing = await http.get(f"/agents/{uuid.uuid4()}/usage", headers=ACME)
    assert hidden.status_code == missing.status_code == 404


async def test_seed_apis_reach_created_agents(served: Served) -> None:
    """Shannon's submit with X-Agent-ID naming a created agent runs it; the task is found by
    Shannon's and agentlin's reads without the header; acme finds neither agent nor task."""
    http = served.http
    agent_id = (await create(http))["id"]
    served.forget(agent_id)
    submitted = await http.post("/api/v1/tasks", json={"query": "hello seeds"},
                                headers={**DEMO, "X-Agent-ID": agent_id})
    assert submitted.status_code == 200, submitted.text
    task_id = submitted.json()["task_id"]
    a2a = await http.get(f"/agents/{agent_id}/v1/tasks/{task_id}", headers=SEND)
    assert a2a.status_code == 200  # a task of the created agent
    served.forget(agent_id)
    read = await http.get(f"/api/v1/tasks/{task_id}", headers=DEMO)
    assert read.status_code == 200, read.text
    assert read.json()["task_id"] == task_id
    agentlin = await http.get(f"/tasks/{task_id}", headers={"Authorization": "Bearer demo-key"})
    assert agentlin.json()["result"]["id"] == task_id

    assert (await http.get(f"/api/v1/tasks/{task_id}", headers=ACME)).status_code == 404
    named = await http.post("/api/v1/tasks", json={"query": "hi"},
                            headers={**ACME, "X-Agent-ID": agent_id})
    nobody = await http.post("/api/v1/tasks", json={"query": "hi"},
                             headers={**ACME, "X-Agent-ID": str(uuid.uuid4())})
    assert named.status_code == nobody.status_code == 404
    assert (await http.delete(f"/agents/{agent_id}", headers=DEMO)).status_code == 204
    refused = await http.post("/api/v1/tasks", json={"query": "hi"},
                              headers={**DEMO, "X-Agent-ID": agent_id})
    assert refused.status_code == 404
