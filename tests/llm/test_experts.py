"""Experts: a referenced agent of the tenant, and inline experts, each answering as a task."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from a2a_server.settings import Settings
from tests.conftest import ACME, DEMO, REPO, V1, LiveServer, user_message_v1
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


@pytest.fixture
def tenants_all_agents(tmp_path: Path) -> Path:
    """The shipped tenants, with every agent enabled for acme too (so 404s come from the task)."""
    directory = tmp_path / "tenants"
    shutil.copytree(REPO / "tenants", directory)
    acme = directory / "acme.yaml"
    acme.write_text(acme.read_text().replace('agents: ["echo"]', 'agents: ["*"]'))
    return directory


async def test_an_inline_expert_runs_as_a_task_of_the_callers_agent_linked_both_ways(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
    tenants_all_agents: Path,
) -> None:
    _orchestrator(agents_dir, provider)
    provider.script(
        {"kind": "tool_calls", "usage": {"prompt_tokens": 10, "completion_tokens": 1},
         "calls": [{"id": "e1", "name": "expert_summary",
                    "arguments": {"message": "Summarise: long note"}}]},
        {"kind": "text", "text": "short", "model": "standin-2",
         "usage": {"prompt_tokens": 100, "completion_tokens": 100}},
        {"kind": "text", "text": "Summary: short",
         "usage": {"prompt_tokens": 30, "completion_tokens": 3}})
    headers = {**DEMO, **V1}
    settings = settings_for(backend, agents_dir=agents_dir, tenants_dir=tenants_all_agents)
    async with app_client(settings) as http:
        task = await send(http, "orchestrator", user_message_v1("Summarise"))
        exchange = [m for m in task["history"] if m["role"] == "ROLE_AGENT"][-1]
        [expert_task_id] = exchange["referenceTaskIds"]
        expert = (await http.get(agent_url("orchestrator", f"/tasks/{expert_task_id}"),
                                 headers=headers)).json()
        listed = (await http.get(agent_url("orchestrator", "/tasks"), headers=headers)).json()
        hidden = await http.get(agent_url("orchestrator", f"/tasks/{expert_task_id}"),
                                headers={**ACME, **V1})
        hidden_cancel = await http.post(
            agent_url("orchestrator", f"/tasks/{expert_task_id}:cancel"), headers={**ACME, **V1})
        missing = await http.get(agent_url("orchestrator", "/tasks/no-such-task"),
                                 headers={**ACME, **V1})
        counted = (await http.get("/agents/orchestrator/usage", headers=DEMO)).json()["totals"]
    assert task["status"]["message"]["parts"] == [{"text": "Summary: short"}]
    # The expert's task: a task of the caller's agent, named, linked back to its caller.
    assert expert["status"]["state"] == "TASK_STATE_COMPLETED"
    assert expert["metadata"]["expert"] == "summary"
    assert expert["metadata"]["model_used"] == "standin-2"
    assert expert["metadata"]["usage"]["total_tokens"] == 200
    assert expert["contextId"] != task["contextId"]
    question = expert["history"][0]
    assert question["parts"] == [{"text": "Summarise: long note"}]
    assert question["metadata"]["caller"] == {"agent": "orchestrator", "task_id": task["id"]}
    assert question["metadata"]["expert"] == "summary"
    assert question["referenceTaskIds"] == [task["id"]]
    assert expert["status"]["message"]["parts"] == [{"text": "short"}]
    assert sorted(t["id"] for t in listed["tasks"]) == sorted([task["id"], expert_task_id])
    # Linked from the caller: referenceTaskIds (above) and the tool_result's task_id.
    result = next(d for d in data_parts(exchange) if d["type"] == "tool_result")
    assert result == {"type": "tool_result", "call_id": "e1", "output": "short",
                      "task_id": expert_task_id}
    assert "expert" not in task["metadata"]
    assert task["metadata"]["usage"]["total_tokens"] == 11 + 200 + 33  # rolled up
    # Another tenant (with the agent enabled) cannot tell the expert's task from a missing one.
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == {**missing.json(), "error": {
        **missing.json()["error"],
        "message": missing.json()["error"]["message"].replace("no-such-task", expert_task_id)}}
    assert hidden_cancel.status_code == 404
    # Counted once, under the caller's agent (its binding holds the expert), per model.
    assert counted["total_tokens"] == 11 + 200 + 33
    assert counted["models"]["standin-2"]["total_tokens"] == 200


async def test_cancelling_the_caller_cancels_its_inline_experts_task(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    _orchestrator(agents_dir, provider)
    provider.script(
        {"kind": "tool_calls", "calls": [{"id": "e1", "name": "expert_summary",
                                          "arguments": {"message": "slowly"}}]},
        {"kind": "stall", "text": "thinking about it", "chunk": 3, "seconds": 8})
    headers = {**DEMO, **V1}
    async with app_client(settings_for(backend, agents_dir=agents_dir)) as http:
        body = user_message_v1("go")
        body["configuration"] = {"returnImmediately": True}
        task = await send(http, "orchestrator", body)
        expert = await _inline_expert_task(http, task["id"])
        cancel = await http.post(agent_url("orchestrator", f"/tasks/{task['id']}:cancel"),
                                 headers=headers)
        assert cancel.status_code == 200, cancel.text
        got = await _until_state(http, expert["id"], "TASK_STATE_CANCELED")
    assert got["status"]["state"] == "TASK_STATE_CANCELED"
    assert got["metadata"]["expert"] == "summary"


async def test_cancelling_an_inline_experts_task_is_answered_to_the_callers_model(
    settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    _orchestrator(agents_dir, provider)
    provider.script(
        {"kind": "tool_calls", "calls": [{"id": "e1", "name": "expert_summary",
                                          "arguments": {"message": "slowly"}}]},
        {"kind": "stall", "text": "thinking about it", "chunk": 3, "seconds": 8},
        {"kind": "text", "text": "The expert was stopped."})
    headers = {**DEMO, **V1}
    async with app_client(settings_for("redis", agents_dir=agents_dir)) as http:
        body = user_message_v1("go")
        body["configuration"] = {"returnImmediately": True}
        task = await send(http, "orchestrator", body)
        expert = await _inline_expert_task(http, task["id"])
        cancel = await http.post(agent_url("orchestrator", f"/tasks/{expert['id']}:cancel"),
                                 headers=headers)
        assert cancel.status_code == 200, cancel.text
        caller = await _until_state(http, task["id"], "TASK_STATE_COMPLETED")
    assert caller["status"]["message"]["parts"] == [{"text": "The expert was stopped."}]
    exchange = [m for m in caller["history"] if m["role"] == "ROLE_AGENT"][-1]
    result = next(d for d in data_parts(exchange) if d["type"] == "tool_result")
    assert result["is_error"] is True
    assert result["task_id"] == expert["id"]
    assert "TASK_STATE_CANCELED" in result["output"]


async def test_a_client_cannot_reach_an_inline_expert_by_naming_it(
    settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    """Only the server picks the expert's options: a message's metadata does not."""
    _orchestrator(agents_dir, provider)
    provider.script({"kind": "text", "text": "orchestrator here"})
    async with app_client(settings_for("memory", agents_dir=agents_dir)) as http:
        task = await send(http, "orchestrator", user_message_v1(
            "hello", metadata={"expert": "summary", "caller": {"agent": "x", "task_id": "y"}}))
    assert task["status"]["message"]["parts"] == [{"text": "orchestrator here"}]
    assert "expert" not in task["metadata"]
    [request] = provider.requests()
    assert request["body"]["model"] == "standin-1"
    assert "expert_summary" in [t["function"]["name"] for t in request["body"]["tools"]]


async def _inline_expert_task(http: httpx.AsyncClient, caller_id: str,
                              base: str = "") -> dict[str, Any]:
    """The orchestrator's task that is not the caller (its inline expert's), once listed."""
    for _ in range(200):
        listed = (await http.get(base + agent_url("orchestrator", "/tasks"),
                                 headers={**DEMO, **V1})).json()
        others = [t for t in listed.get("tasks", []) if t["id"] != caller_id]
        if others:
            [expert] = others
            return expert
        await asyncio.sleep(0.05)
    raise AssertionError("the inline expert's task never appeared")


async def _until_state(http: httpx.AsyncClient, task_id: str, state: str,
                       base: str = "") -> dict[str, Any]:
    for _ in range(200):
        got: dict[str, Any] = (await http.get(base + agent_url("orchestrator", f"/tasks/{task_id}"),
                                              headers={**DEMO, **V1})).json()
        if got["status"]["state"] == state:
            break
        await asyncio.sleep(0.05)
    return got


def test_an_experts_send_leaves_its_callers_quota_slots_alone() -> None:
    """The run's send holds the tenant's task slot; the expert's nested send must not settle it."""
    from a2a_server.protocol import quotas

    holds = quotas.Holds()
    token = quotas._current.set(holds)
    try:
        with quotas.nested_send():
            quotas.run_answered()  # what the expert's blocking send does once answered
            assert quotas._current.get() is None
        assert quotas._current.get() is holds
    finally:
        quotas._current.reset(token)
    assert holds.answered is False


async def test_cancelling_the_caller_on_another_replica_cancels_its_inline_experts_task(
    live_server_factory: Callable[..., LiveServer], agents_dir: Path, provider: Provider,
) -> None:
    _orchestrator(agents_dir, provider)
    provider.script(
        {"kind": "tool_calls", "calls": [{"id": "e1", "name": "expert_summary",
                                          "arguments": {"message": "slowly"}}]},
        {"kind": "stall", "text": "thinking about it", "chunk": 3, "seconds": 8})
    a = live_server_factory("redis", agents_dir=agents_dir)
    b = live_server_factory("redis", agents_dir=agents_dir)
    headers = {**DEMO, **V1}
    async with httpx.AsyncClient(timeout=30) as http:
        body = user_message_v1("go")
        body["configuration"] = {"returnImmediately": True}
        task = await send(http, "orchestrator", body, base=a.url)
        expert = await _inline_expert_task(http, task["id"], base=b.url)
        cancel = await http.post(b.url + agent_url("orchestrator", f"/tasks/{task['id']}:cancel"),
                                 headers=headers)
        assert cancel.status_code == 200, cancel.text
        got = await _until_state(http, expert["id"], "TASK_STATE_CANCELED", base=b.url)
        caller = await _until_state(http, task["id"], "TASK_STATE_CANCELED", base=a.url)
    assert got["status"]["state"] == "TASK_STATE_CANCELED"
    assert caller["status"]["state"] == "TASK_STATE_CANCELED"
