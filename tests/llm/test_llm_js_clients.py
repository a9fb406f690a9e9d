"""Unmodified JavaScript clients talking to an LLM agent: ``@a2a-js/sdk`` and Corti's ``@corti/sdk``.

The Node scripts (``tests/interop/js/*_llm_client.mjs``) run the conversation and print
what they saw; the provider stand-in is scripted here and its requests checked here:
a streamed answer (artifact chunks in order), a second turn in the same context (the
model sees the first, read from the store), a client tool round trip through
``input-required`` (``tool_call`` DataPart out, ``tool_result`` DataPart back to the same
task) and the usage in the task's metadata. Corti's SDK has no streaming call: its
script sends, and the A2A SDK's streams. Both stores, both HTTP bindings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.interop.test_js_clients import _run, node  # noqa: F401 - the session fixture
from tests.llm.conftest import Provider, llm_options, write_agent

pytestmark = [pytest.mark.interop, pytest.mark.timeout(300)]

# input, output tokens of each scripted answer (priced at 1 and 2 per million)
TURNS = [(10, 3), (20, 4), (30, 5)]


def _script(provider: Provider) -> None:
    usage = [{"prompt_tokens": i, "completion_tokens": o} for i, o in TURNS]
    provider.script(
        {"kind": "text", "text": "Hello Ada", "chunk": 3, "usage": usage[0]},
        {"kind": "tool_calls", "usage": usage[1],
         "calls": [{"id": "t1", "name": "lookup", "arguments": {"q": "Ada"}}]},
        {"kind": "text", "text": "Ada is 36.", "usage": usage[2]})


@pytest.fixture
def tooler(agents_dir: Path, provider: Provider) -> str:
    """An LLM agent with a client tool, on the stand-in."""
    write_agent(agents_dir, "tooler", llm_options(provider, system_prompt="Be brief.", client_tools=[
        {"name": "lookup", "description": "Looks a person up.",
         "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}]))
    return "tooler"


def _usage(turns: list[tuple[int, int]]) -> dict[str, Any]:
    inputs, outputs = sum(i for i, _ in turns), sum(o for _, o in turns)
    return {"input_tokens": inputs, "output_tokens": outputs, "total_tokens": inputs + outputs,
            "estimated_cost": (inputs * 1.0 + outputs * 2.0) / 1_000_000, "currency": "USD"}


def _check_provider_saw_the_conversation(provider: Provider) -> None:
    """Turn 2 saw turn 1 (from the store); the tool's result went back to the model."""
    first, second, third = (r["body"]["messages"] for r in provider.requests())
    assert [m["role"] for m in first] == ["system", "user"]
    assert second == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "I am Ada"},
        {"role": "assistant", "content": "Hello Ada"},
        {"role": "user", "content": "How old am I?"}]
    assert [m["role"] for m in third] == ["system", "user", "assistant", "user", "assistant",
                                          "tool"]
    assert third[-2]["tool_calls"][0]["function"]["name"] == "lookup"
    assert third[-1]["tool_call_id"] == "t1"
    assert json.loads(third[-1]["content"]) == {"age": 36}


@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
def test_a2a_js_sdk_streams_converses_and_answers_a_client_tool(
    node: str, backend: str, binding: str,  # noqa: F811 - the imported fixture
    live_server_factory: Callable[..., Any], agents_dir: Path, provider: Provider, tooler: str,
) -> None:
    server = live_server_factory(backend, agents_dir=agents_dir)
    _script(provider)
    card = f"{server.url}/agents/{tooler}/v1/.well-known/agent-card.json"
    steps = _run(node, "a2a_js_llm_client.mjs", card, binding, "demo-key")
    assert [s["step"] for s in steps] == [
        "discover", "stream (artifact chunks in order)",
        "second turn: input-required with a tool_call",
        "tool_result DataPart back to the same task", "usage in the task's metadata"]
    seen = {s["step"]: s["detail"] for s in steps}
    streamed = seen["stream (artifact chunks in order)"]
    assert streamed["chunks"] == ["Hel", "lo ", "Ada"]  # in the order the provider sent them
    assert streamed["kinds"][0] == "task" and streamed["kinds"][-1] == "statusUpdate"
    assert streamed["answer"] == "Hello Ada"
    assert streamed["usage"] == _usage(TURNS[:1])  # the answering message: its own turn
    assert seen["second turn: input-required with a tool_call"]["call"] == {
        "type": "tool_call", "call_id": "t1", "name": "lookup", "arguments": {"q": "Ada"}}
    assert seen["tool_result DataPart back to the same task"]["answer"] == "Ada is 36."
    usage = seen["usage in the task's metadata"]
    assert usage["usage"] == _usage(TURNS[1:])  # the tool-calling task: both of its runs
    assert usage["first"] == _usage(TURNS[:1])
    assert (usage["model_used"], usage["provider"]) == ("standin-1", "standin")
    _check_provider_saw_the_conversation(provider)


def test_corti_sdk_converses_and_answers_a_client_tool(
    node: str, backend: str,  # noqa: F811 - the imported fixture
    live_server_factory: Callable[..., Any], agents_dir: Path, provider: Provider, tooler: str,
) -> None:
    server = live_server_factory(backend, agents_dir=agents_dir)
    _script(provider)
    steps = _run(node, "corti_llm_client.mjs", server.url, "demo", "demo-client", "demo-secret",
                 tooler)
    assert [s["step"] for s in steps] == [
        "first turn", "second turn: input-required with a tool_call",
        "tool_result DataPart back to the same task", "agents.getTask: usage in the metadata",
        "agents.getContext: both turns"]
    seen = {s["step"]: s["detail"] for s in steps}
    assert seen["first turn"]["answer"] == seen["first turn"]["artifact"] == "Hello Ada"
    assert seen["second turn: input-required with a tool_call"]["call"] == {
        "type": "tool_call", "call_id": "t1", "name": "lookup", "arguments": {"q": "Ada"}}
    assert seen["tool_result DataPart back to the same task"]["answer"] == "Ada is 36."
    task = seen["agents.getTask: usage in the metadata"]
    assert task["usage"] == _usage(TURNS[1:])
    assert (task["model_used"], task["provider"]) == ("standin-1", "standin")
    # user question, the input-required request, the tool_result (the answer is the status)
    assert task["history"] == ["user", "agent", "user"]
    assert seen["agents.getContext: both turns"]["tasks"] == 2
    _check_provider_saw_the_conversation(provider)
