"""Experts: a referenced agent of the tenant called in-process, and inline experts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from a2a_server.settings import Settings
from tests.conftest import ACME, DEMO, V1, user_message_v1
from tests.llm.conftest import (
    Provider,
    agent_url,
    app_client,
    data_parts,
    llm_options,
    send,
    write_agent,
)


def _orchestrator(agents_dir: Path, provider: Provider) -> None:
    write_agent(agents_dir, "coder", llm_options(
        provider, system_prompt="You assign ICD-10 codes."))
    write_agent(agents_dir, "orchestrator", llm_options(provider, experts=[
        {"name": "coding", "description": "Assigns ICD-10 codes.", "agent": "coder"},
        {"name": "summary", "description": "Summarises.",
         "llm": {"base_url": provider.url, "model": "standin-2", "api_key_env": "STANDIN_API_KEY",
                 "system_prompt": "You summarise.", "prices": {"standin-2": {
                     "input": 10.0, "output": 10.0}}}}]))


async def test_a_referenced_expert_runs_as_a_real_task_and_its_usage_rolls_up(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    _orchestrator(agents_dir, provider)
    provider.script(
        {"kind": "tool_calls", "usage": {"prompt_tokens": 10, "completion_tokens": 1},
         "calls": [{"id": "e1", "name": "expert_coding",
                    "arguments": {"message": "Code: type 2 diabetes"}}]},
        {"kind": "text", "text": "E11.9", "usage": {"prompt_tokens": 20, "completion_tokens": 2}},
        {"kind": "text", "text": "The code is E11.9.",
         "usage": {"prompt_tokens": 30, "completion_tokens": 3}})
    async with app_client(settings_for(backend, agents_dir=agents_dir)) as http:
        task = await send(http, "orchestrator", user_message_v1("Code this note"))
        exchange = [m for m in task["history"] if m["role"] == "ROLE_AGENT"][-1]
        [expert_task_id] = exchange["referenceTaskIds"]
        expert = (await http.get(agent_url("coder", f"/tasks/{expert_task_id}"),
                                 headers={**DEMO, **V1})).json()
        listed = (await http.get(agent_url("coder", "/tasks"), headers={**DEMO, **V1})).json()
        hidden = await http.get(agent_url("coder", f"/tasks/{expert_task_id}"),
                                headers={**ACME, **V1})
        usage = (await http.get("/agents/coder/usage", headers=DEMO)).json()["totals"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["status"]["message"]["parts"] == [{"text": "The code is E11.9."}]
    assert expert["status"]["state"] == "TASK_STATE_COMPLETED"
    assert expert["history"][0]["parts"] == [{"text": "Code: type 2 diabetes"}]
    assert expert["history"][0]["metadata"]["caller"] == {"agent": "orchestrator",
                                                          "task_id": task["id"]}
    assert expert["metadata"]["usage"]["total_tokens"] == 22
    assert [t["id"] for t in listed["tasks"]] == [expert_task_id]
    assert hidden.status_code == 404
    assert task["metadata"]["usage"]["total_tokens"] == 11 + 22 + 33  # rolled up
    assert usage["total_tokens"] == 22  # counters: each agent its own calls
    result = next(d for d in data_parts(exchange) if d["type"] == "tool_result")
    assert result == {"type": "tool_result", "call_id": "e1", "output": "E11.9",
                      "task_id": expert_task_id}
    expert_request = provider.requests()[1]["body"]["messages"]
    assert expert_request[0] == {"role": "system", "content": "You assign ICD-10 codes."}


async def test_an_inline_expert_has_its_own_prompt_and_model(
    settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    _orchestrator(agents_dir, provider)
    provider.script(
        {"kind": "tool_calls", "calls": [{"id": "e1", "name": "expert_summary",
                                          "arguments": {"message": "Summarise: long note"}}]},
        {"kind": "text", "text": "short", "model": "standin-2",
         "usage": {"prompt_tokens": 100, "completion_tokens": 100}},
        {"kind": "text", "text": "Summary: short"})
    async with app_client(settings_for("memory", agents_dir=agents_dir)) as http:
        task = await send(http, "orchestrator", user_message_v1("Summarise"))
    assert task["status"]["message"]["parts"] == [{"text": "Summary: short"}]
    body = provider.requests()[1]["body"]
    assert body["model"] == "standin-2"
    assert body["messages"] == [{"role": "system", "content": "You summarise."},
                                {"role": "user", "content": "Summarise: long note"}]
    assert task["metadata"]["usage"]["total_tokens"] == 200
    assert task["metadata"]["usage"]["estimated_cost"] == 0.002


async def test_registry_lists_the_tenants_agents_as_experts(
    settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    _orchestrator(agents_dir, provider)
    async with app_client(settings_for("memory", agents_dir=agents_dir)) as http:
        demo = (await http.get("/agents/registry/experts", headers=DEMO)).json()
        acme = (await http.get("/agents/registry/experts", headers=ACME)).json()
        page = (await http.get("/agents/registry/experts?limit=1&offset=1", headers=DEMO)).json()
        anonymous = await http.get("/agents/registry/experts")
    names = [e["id"] for e in demo["experts"]]
    assert names == ["assistant", "coder", "echo", "orchestrator"]
    assert demo["experts"][1] == {"id": "coder", "name": "Coder",
                                  "description": "An LLM agent (the provider stand-in in tests).",
                                  "mcpServers": []}
    assert [e["id"] for e in acme["experts"]] == ["echo"]
    assert [e["id"] for e in page["experts"]] == ["coder"]
    assert anonymous.status_code == 401


async def test_cancelling_the_caller_cancels_the_experts_task(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    import asyncio

    _orchestrator(agents_dir, provider)
    provider.script(
        {"kind": "tool_calls", "calls": [{"id": "e1", "name": "expert_coding",
                                          "arguments": {"message": "slowly"}}]},
        {"kind": "stall", "text": "thinking about it", "chunk": 3, "seconds": 8})
    headers = {**DEMO, **V1}
    async with app_client(settings_for(backend, agents_dir=agents_dir)) as http:
        body = user_message_v1("go")
        body["configuration"] = {"returnImmediately": True}
        task = await send(http, "orchestrator", body)
        for _ in range(100):
            listed = (await http.get(agent_url("coder", "/tasks"), headers=headers)).json()
            if listed.get("tasks"):
                break
            await asyncio.sleep(0.05)
        [expert] = listed["tasks"]
        cancel = await http.post(agent_url("orchestrator", f"/tasks/{task['id']}:cancel"),
                                 headers=headers)
        assert cancel.status_code == 200, cancel.text
        for _ in range(100):
            got = (await http.get(agent_url("coder", f"/tasks/{expert['id']}"),
                                  headers=headers)).json()
            if got["status"]["state"] == "TASK_STATE_CANCELED":
                break
            await asyncio.sleep(0.05)
    assert got["status"]["state"] == "TASK_STATE_CANCELED"
