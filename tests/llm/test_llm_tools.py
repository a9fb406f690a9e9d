"""Client tools through input-required, server tools in a loop, on both stores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from a2a_server.settings import Settings
from tests.conftest import user_message_v1
from tests.llm.conftest import Provider, app_client, data_parts, llm_options, send, write_agent

LOOKUP = {"name": "lookup_patient", "description": "Look a patient up in the client's EHR.",
          "parameters": {"type": "object", "properties": {"mrn": {"type": "string"}},
                         "required": ["mrn"]}}
USAGE = {"prompt_tokens": 4, "completion_tokens": 2}


def _tools_agent(agents_dir: Path, provider: Provider) -> None:
    write_agent(agents_dir, "tooler", llm_options(
        provider, client_tools=[LOOKUP, {**LOOKUP, "name": "open_chart"}],
        server_tools=["tests.llm.sample_tools:add",
                      {"function": "tests.llm.sample_tools:explode", "name": "explode"}]))


def _result(task: dict[str, Any], call_id: str, output: Any, text: str | None = None
            ) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"data": {"type": "tool_result", "call_id": call_id, "output": output}}]
    if text is not None:
        parts = [{"text": text}]
    body = user_message_v1("", taskId=task["id"], contextId=task["contextId"])
    body["message"]["parts"] = parts
    return body


async def test_client_tool_round_trip_resumes_the_same_task(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    _tools_agent(agents_dir, provider)
    provider.script(
        {"kind": "tool_calls", "usage": USAGE,
         "calls": [{"id": "call_1", "name": "lookup_patient", "arguments": {"mrn": "123"}}]},
        {"kind": "text", "text": "The patient is Ada.", "usage": USAGE})
    async with app_client(settings_for(backend, agents_dir=agents_dir)) as http:
        task = await send(http, "tooler", user_message_v1("Who is 123?"))
        assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
        assert data_parts(task["status"]["message"]) == [
            {"type": "tool_call", "call_id": "call_1", "name": "lookup_patient",
             "arguments": {"mrn": "123"}}]
        done = await send(http, "tooler", _result(task, "call_1", {"name": "Ada"}))
    assert done["id"] == task["id"], done
    assert done["status"]["state"] == "TASK_STATE_COMPLETED", done["status"]
    assert done["status"]["message"]["parts"] == [{"text": "The patient is Ada."}]
    assert done["metadata"]["usage"]["total_tokens"] == 12  # both turns
    assert done["status"]["message"]["metadata"]["usage"]["total_tokens"] == 6  # this turn
    first, second = provider.requests()
    offered = {t["function"]["name"] for t in first["body"]["tools"]}
    assert offered == {"lookup_patient", "open_chart", "add", "explode"}
    assert second["body"]["messages"][-2:] == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "lookup_patient", "arguments": '{"mrn": "123"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"name": "Ada"}'}]


async def test_several_calls_wrong_call_id_and_partial_answers(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    _tools_agent(agents_dir, provider)
    provider.script(
        {"kind": "tool_calls", "calls": [
            {"id": "c1", "name": "lookup_patient", "arguments": {"mrn": "1"}},
            {"id": "c2", "name": "open_chart", "arguments": {"mrn": "1"}}]},
        {"kind": "text", "text": "done"})
    async with app_client(settings_for(backend, agents_dir=agents_dir)) as http:
        task = await send(http, "tooler", user_message_v1("go"))
        assert [d["call_id"] for d in data_parts(task["status"]["message"])] == ["c1", "c2"]
        wrong = await send(http, "tooler", _result(task, "nope", "x"))
        assert wrong["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
        assert "'nope'" in wrong["status"]["message"]["parts"][0]["text"]
        assert [d["call_id"] for d in data_parts(wrong["status"]["message"])] == ["c1", "c2"]
        partial = await send(http, "tooler", _result(task, "c1", "Ada"))
        assert partial["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
        assert [d["call_id"] for d in data_parts(partial["status"]["message"])] == ["c2"]
        assert len(provider.requests()) == 1  # nothing was asked of the model meanwhile
        done = await send(http, "tooler", _result(task, "c2", "chart opened"))
    assert done["status"]["state"] == "TASK_STATE_COMPLETED", done["status"]
    messages = provider.requests()[1]["body"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert {m["tool_call_id"]: m["content"] for m in messages[2:]} == {
        "c1": "Ada", "c2": "chart opened"}


async def test_a_text_reply_instead_of_a_result_tells_the_model(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    _tools_agent(agents_dir, provider)
    provider.script(
        {"kind": "tool_calls", "calls": [
            {"id": "c1", "name": "lookup_patient", "arguments": {"mrn": "1"}}]},
        {"kind": "text", "text": "Understood."})
    async with app_client(settings_for(backend, agents_dir=agents_dir)) as http:
        task = await send(http, "tooler", user_message_v1("go"))
        done = await send(http, "tooler", _result(task, "c1", None, text="Don't, I know it."))
    assert done["status"]["state"] == "TASK_STATE_COMPLETED", done["status"]
    messages = provider.requests()[1]["body"]["messages"]
    assert messages[-2]["role"] == "tool" and "did not run" in messages[-2]["content"]
    assert messages[-1] == {"role": "user", "content": "Don't, I know it."}


async def test_server_tools_loop_without_a_round_trip(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    _tools_agent(agents_dir, provider)
    provider.script(
        {"kind": "tool_calls", "usage": USAGE, "calls": [
            {"id": "s1", "name": "add", "arguments": {"a": 2, "b": 3}},
            {"id": "s2", "name": "explode", "arguments": {"reason": "test"}},
            {"id": "s3", "name": "missing_tool", "arguments": {}}]},
        {"kind": "text", "text": "2 + 3 = 5", "usage": USAGE})
    async with app_client(settings_for(backend, agents_dir=agents_dir)) as http:
        task = await send(http, "tooler", user_message_v1("add 2 and 3"))
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["status"]["message"]["parts"] == [{"text": "2 + 3 = 5"}]
    assert task["metadata"]["usage"]["total_tokens"] == 12
    tools = provider.requests()[1]["body"]["messages"][-3:]
    assert tools[0] == {"role": "tool", "tool_call_id": "s1", "content": "5"}
    assert tools[1]["tool_call_id"] == "s2" and "boom: test" in tools[1]["content"]
    assert tools[2]["tool_call_id"] == "s3" and "no tool called" in tools[2]["content"]
    exchange = [m for m in task["history"] if m["role"] == "ROLE_AGENT"][-1]
    results = [d for d in data_parts(exchange) if d["type"] == "tool_result"]
    assert [r["call_id"] for r in results] == ["s1", "s2", "s3"]
    add_schema = next(t for t in provider.requests()[0]["body"]["tools"]
                      if t["function"]["name"] == "add")["function"]
    assert add_schema["description"] == "Add two integers."
    assert add_schema["parameters"]["required"] == ["a", "b"]


async def test_mcp_servers_are_accepted_and_an_unreachable_one_does_not_fail_the_task(
    settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    write_agent(agents_dir, "mcpish", llm_options(provider, mcp_servers=[
        {"name": "down", "transportType": "streamable_http", "url": "http://127.0.0.1:9/mcp",
         "timeout_seconds": 1}]))
    provider.script({"kind": "text", "text": "fine without it"})
    async with app_client(settings_for("memory", agents_dir=agents_dir)) as http:
        task = await send(http, "mcpish", user_message_v1("hi"))
    assert task["status"]["state"] == "TASK_STATE_COMPLETED", task["status"]
