"""Stored A2A messages to model messages, and the context window (no I/O)."""

from __future__ import annotations

from typing import Any

from a2a.helpers.proto_helpers import new_data_part, new_text_part
from a2a.types.a2a_pb2 import Message, Role

from a2a_server.agents.llm_conversation import NOT_RUN, Conversation, trim


def _msg(role: int, *parts: Any) -> Message:
    return Message(role=role, message_id="m", parts=[
        new_text_part(p) if isinstance(p, str) else new_data_part(p) for p in parts])


def _call(call_id: str) -> dict[str, Any]:
    return {"type": "tool_call", "call_id": call_id, "name": "f", "arguments": {}}


def test_reminders_unknown_results_and_text_instead_of_results() -> None:
    conv = Conversation()
    conv.add(_msg(Role.ROLE_USER, "hi"))
    conv.add(_msg(Role.ROLE_AGENT, "run these", _call("c1"), _call("c2")))
    conv.add(_msg(Role.ROLE_USER, {"type": "tool_result", "call_id": "zz", "output": "x"}))
    conv.add(_msg(Role.ROLE_AGENT, "still waiting", _call("c1"), _call("c2")))  # a reminder
    conv.add(_msg(Role.ROLE_USER, {"type": "tool_result", "call_id": "c1", "output": {"a": 1}}))
    conv.add(_msg(Role.ROLE_USER, "never mind"))
    roles = [m["role"] for m in conv.messages]
    assert roles == ["user", "assistant", "tool", "tool", "user"]
    assert conv.messages[2] == {"role": "tool", "tool_call_id": "c1", "content": '{"a": 1}'}
    assert conv.messages[3] == {"role": "tool", "tool_call_id": "c2", "content": NOT_RUN}
    assert conv.pending == {}


def test_trim_keeps_the_newest_within_both_limits_from_a_user_message() -> None:
    messages: list[dict[str, Any]] = []
    for n in range(10):
        messages += [{"role": "user", "content": f"q{n}" * 50},
                     {"role": "assistant", "content": f"a{n}" * 50}]
    assert trim(messages, 4, None) == messages[-4:]
    assert trim(messages, 3, None) == messages[-2:]  # never start at an assistant message
    budget = trim(messages, None, 120)
    assert budget and budget[0]["role"] == "user" and len(budget) < 6
    assert trim(messages, None, None) == messages
    tools = [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": []},
             {"role": "tool", "tool_call_id": "c", "content": "y"}]
    assert trim(tools, 1, None) == tools  # widened back to the user message: no orphan tool
