"""LLM agents calling the tools of a real MCP server (tests/mcp_server.py), directly and as experts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from a2a_server.settings import Settings
from tests.conftest import DEMO, V1, user_message_v1
from tests.llm.conftest import (
    Provider,
    agent_url,
    app_client,
    data_parts,
    llm_options,
    send,
    write_agent,
)
from tests.mcp_process import TOKEN, McpServerProcess


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[McpServerProcess]:
    """The MCP test server, bearer-checked with ``TOKEN``."""
    server = McpServerProcess()
    yield server
    server.stop()


@pytest.fixture
def calculator(agents_dir: Path, provider: Provider, mcp_server: McpServerProcess,
               monkeypatch: pytest.MonkeyPatch) -> str:
    """``calc``: an LLM agent whose MCP server is the test server (token from MCP_TOKEN)."""
    monkeypatch.setenv("MCP_TOKEN", TOKEN)
    write_agent(agents_dir, "calc", llm_options(provider, system_prompt="You add.", mcp_servers=[
        {"name": "tools", "url": mcp_server.url, "transportType": "streamable_http",
         "authorizationType": "bearer", "token_env": "MCP_TOKEN", "timeout_seconds": 10}]))
    return "calc"


def _tool_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in request["body"]["messages"] if m["role"] == "tool"]


async def test_the_model_calls_an_mcp_tool_and_sees_its_result(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
    calculator: str,
) -> None:
    provider.script(
        {"kind": "tool_calls", "usage": {"prompt_tokens": 5, "completion_tokens": 1},
         "calls": [{"id": "m1", "name": "add", "arguments": {"a": 2, "b": 3}}]},
        {"kind": "text", "text": "2 + 3 = 5", "usage": {"prompt_tokens": 9, "completion_tokens": 4}})
    async with app_client(settings_for(backend, agents_dir=agents_dir)) as http:
        task = await send(http, calculator, user_message_v1("What is 2 + 3?"))
    first, second = provider.requests()
    offered = {t["function"]["name"]: t["function"] for t in first["body"]["tools"]}
    assert offered["add"]["parameters"]["required"] == ["a", "b"]  # the server's own schema
    assert _tool_messages(second) == [{"role": "tool", "tool_call_id": "m1", "content": "5"}]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["status"]["message"]["parts"] == [{"text": "2 + 3 = 5"}]
    assert task["metadata"]["usage"]["total_tokens"] == 19


async def test_a_failing_mcp_tool_is_fed_back_to_the_model_not_a_failed_task(
    settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider, calculator: str,
) -> None:
    provider.script(
        {"kind": "tool_calls", "calls": [{"id": "m1", "name": "fail",
                                          "arguments": {"reason": "no such patient"}}]},
        {"kind": "text", "text": "The tool failed."})
    async with app_client(settings_for("memory", agents_dir=agents_dir)) as http:
        task = await send(http, calculator, user_message_v1("Try the failing tool"))
    [result] = _tool_messages(provider.requests()[1])
    assert "tool 'fail' answered with an error" in result["content"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_an_expert_answers_with_its_mcp_tool_and_its_usage_rolls_up(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
    calculator: str,
) -> None:
    write_agent(agents_dir, "orchestrator", llm_options(provider, experts=[
        {"name": "calculator", "description": "Adds numbers.", "agent": calculator}]))
    provider.script(
        # the orchestrator delegates; the expert calls the MCP tool, then answers; the
        # orchestrator answers with what the expert said
        {"kind": "tool_calls", "usage": {"prompt_tokens": 10, "completion_tokens": 1},
         "calls": [{"id": "e1", "name": "expert_calculator", "arguments": {"message": "2 + 40"}}]},
        {"kind": "tool_calls", "usage": {"prompt_tokens": 20, "completion_tokens": 2},
         "calls": [{"id": "m1", "name": "add", "arguments": {"a": 2, "b": 40}}]},
        {"kind": "text", "text": "42", "usage": {"prompt_tokens": 30, "completion_tokens": 3}},
        {"kind": "text", "text": "The answer is 42.",
         "usage": {"prompt_tokens": 40, "completion_tokens": 4}})
    async with app_client(settings_for(backend, agents_dir=agents_dir)) as http:
        task = await send(http, "orchestrator", user_message_v1("Add 2 and 40"))
        exchange = [m for m in task["history"] if m["role"] == "ROLE_AGENT"][-1]
        [expert_task_id] = exchange["referenceTaskIds"]
        expert = (await http.get(agent_url(calculator, f"/tasks/{expert_task_id}"),
                                 headers={**DEMO, **V1})).json()
    assert _tool_messages(provider.requests()[2]) == [
        {"role": "tool", "tool_call_id": "m1", "content": "42"}]
    assert expert["status"]["state"] == "TASK_STATE_COMPLETED"
    assert expert["metadata"]["usage"]["total_tokens"] == 22 + 33
    result = next(d for d in data_parts(exchange) if d["type"] == "tool_result")
    assert result["output"] == "42"
    assert task["status"]["message"]["parts"] == [{"text": "The answer is 42."}]
    assert task["metadata"]["usage"]["total_tokens"] == 11 + 22 + 33 + 44


async def test_an_inline_expert_calls_its_own_mcp_server_in_its_own_task(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
    mcp_server: McpServerProcess, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Corti's inline expert: a system prompt and MCP servers of its own (not the caller's)."""
    monkeypatch.setenv("MCP_TOKEN", TOKEN)
    write_agent(agents_dir, "orchestrator", llm_options(provider, experts=[
        {"name": "calculator", "description": "Adds numbers.",
         "llm": {"base_url": provider.url, "model": "standin-2", "api_key_env": "STANDIN_API_KEY",
                 "system_prompt": "You add with your tool.",
                 "mcp_servers": [{"name": "tools", "url": mcp_server.url,
                                  "transportType": "streamable_http",
                                  "authorizationType": "bearer", "token_env": "MCP_TOKEN"}]}}]))
    provider.script(
        {"kind": "tool_calls", "usage": {"prompt_tokens": 10, "completion_tokens": 1},
         "calls": [{"id": "e1", "name": "expert_calculator", "arguments": {"message": "2 + 40"}}]},
        {"kind": "tool_calls", "usage": {"prompt_tokens": 20, "completion_tokens": 2},
         "calls": [{"id": "m1", "name": "add", "arguments": {"a": 2, "b": 40}}]},
        {"kind": "text", "text": "42", "usage": {"prompt_tokens": 30, "completion_tokens": 3}},
        {"kind": "text", "text": "The answer is 42.",
         "usage": {"prompt_tokens": 40, "completion_tokens": 4}})
    async with app_client(settings_for(backend, agents_dir=agents_dir)) as http:
        task = await send(http, "orchestrator", user_message_v1("Add 2 and 40"))
        exchange = [m for m in task["history"] if m["role"] == "ROLE_AGENT"][-1]
        [expert_task_id] = exchange["referenceTaskIds"]
        expert = (await http.get(agent_url("orchestrator", f"/tasks/{expert_task_id}"),
                                 headers={**DEMO, **V1})).json()
    requests = provider.requests()
    caller_tools = [t["function"]["name"] for t in requests[0]["body"]["tools"]]
    expert_tools = [t["function"]["name"] for t in requests[1]["body"]["tools"]]
    assert "add" not in caller_tools and "add" in expert_tools
    assert "expert_calculator" not in expert_tools
    assert requests[1]["body"]["messages"][0] == {"role": "system",
                                                  "content": "You add with your tool."}
    assert _tool_messages(requests[2]) == [{"role": "tool", "tool_call_id": "m1", "content": "42"}]
    assert expert["metadata"]["expert"] == "calculator"
    assert expert["status"]["message"]["parts"] == [{"text": "42"}]
    assert expert["metadata"]["usage"]["total_tokens"] == 22 + 33
    assert task["status"]["message"]["parts"] == [{"text": "The answer is 42."}]
    assert task["metadata"]["usage"]["total_tokens"] == 11 + 22 + 33 + 44
