"""The official Python ``a2a-sdk`` client, unmodified, talking to an LLM agent (both bindings)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.client.card_resolver import A2ACardResolver
from a2a.types.a2a_pb2 import (
    AgentCard,
    Message,
    Part,
    Role,
    SendMessageRequest,
    TaskState,
)
from google.protobuf.json_format import MessageToDict
from google.protobuf.struct_pb2 import Value

from tests.interop.test_python_client import BINDINGS, CardCredentials, _client
from tests.llm.conftest import Provider, llm_options, write_agent

pytestmark = pytest.mark.interop


def _message(text: str | None = None, data: dict[str, Any] | None = None,
             **fields: Any) -> SendMessageRequest:
    part = Part(text=text) if text is not None else Part(data=Value())
    if data is not None:
        part.data.struct_value.update(data)
    return SendMessageRequest(message=Message(
        message_id=uuid.uuid4().hex, role=Role.ROLE_USER, parts=[part], **fields))


@pytest.fixture
async def assistant(backend: str, live_server_factory: Callable[..., Any], agents_dir: Path,
                    provider: Provider) -> AsyncIterator[tuple[AgentCard, httpx.AsyncClient]]:
    """A live server with an LLM agent that has a client tool; its card as discovered."""
    write_agent(agents_dir, "tooler", llm_options(provider, client_tools=[
        {"name": "lookup", "parameters": {"type": "object",
                                          "properties": {"q": {"type": "string"}}}}]))
    server = live_server_factory(backend, agents_dir=agents_dir)
    async with httpx.AsyncClient(timeout=30) as http:
        resolver = A2ACardResolver(http, f"{server.url}/agents/tooler/v1")
        card = await resolver.get_agent_card(http_kwargs={"headers": {"Tenant-Name": "demo"}})
        yield card, http


@pytest.mark.parametrize("binding", BINDINGS)
async def test_streamed_multi_turn_and_a_client_tool_round_trip(
    binding: str, assistant: tuple[AgentCard, httpx.AsyncClient], provider: Provider,
) -> None:
    card, http = assistant
    client = _client(card, http, binding, streaming=True,
                     credentials=CardCredentials(card, api_key="demo-key"))
    provider.script(
        {"kind": "text", "text": "Hello Ada", "chunk": 3},
        {"kind": "tool_calls", "calls": [{"id": "t1", "name": "lookup", "arguments": {"q": "Ada"}}]},
        {"kind": "text", "text": "Ada is 36."})
    events = [e async for e in client.send_message(_message("I am Ada"))]
    chunks = [e.artifact_update for e in events if e.HasField("artifact_update")]
    assert [c.artifact.parts[0].text for c in chunks[:-1]] == ["Hel", "lo ", "Ada"]
    first = events[0].task
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED

    asked = [e async for e in client.send_message(_message("How old am I?",
                                                           context_id=first.context_id))]
    status = asked[-1].status_update.status
    assert status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    call = next(MessageToDict(p.data) for p in status.message.parts if p.HasField("data"))
    assert call == {"type": "tool_call", "call_id": "t1", "name": "lookup",
                    "arguments": {"q": "Ada"}}
    task_id = asked[-1].status_update.task_id
    answered = [e async for e in client.send_message(_message(
        data={"type": "tool_result", "call_id": "t1", "output": "36"}, task_id=task_id,
        context_id=first.context_id))]
    final = answered[-1].status_update
    assert final.task_id == task_id
    assert final.status.state == TaskState.TASK_STATE_COMPLETED
    assert final.status.message.parts[0].text == "Ada is 36."
    roles = [m["role"] for m in provider.requests()[2]["body"]["messages"]]
    assert roles == ["user", "assistant", "user", "assistant", "tool"]
