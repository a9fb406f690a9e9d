"""The official Python ``a2a-sdk`` client, unmodified, against an ``executor: remote`` agent.

The local server's ``proxy`` agent forwards to the echo agent (and ``chatproxy`` to a
metered chat agent) of a second live server. The client sees only the local agent:
its card, its task ids; the remote's work shows through it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.client.card_resolver import A2ACardResolver
from a2a.client.client import Client
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    TaskState,
)
from google.protobuf.json_format import MessageToDict

from tests.conftest import LiveServer
from tests.remote_agents import card_url, proxy_binding, write_agent

pytestmark = pytest.mark.interop

BINDINGS = ["JSONRPC", "HTTP+JSON"]


@pytest.fixture
def servers(backend: str, live_server_factory: Callable[..., LiveServer], tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> tuple[LiveServer, LiveServer]:
    """(local, remote): the local agents forward to the remote's echo and chat agents."""
    remote_agents = tmp_path / "remote"
    write_agent(remote_agents, "echo", {"executor": "echo", "options": {"slow_seconds": 30}})
    write_agent(remote_agents, "chat", {"executor": "tests.remote_agents:MeteredChatExecutor"})
    remote = live_server_factory("memory", agents_dir=remote_agents)
    monkeypatch.setenv("REMOTE_DEMO_KEY", "demo-key")
    local_agents = tmp_path / "local"
    write_agent(local_agents, "echo", {"executor": "echo"})
    write_agent(local_agents, "proxy", proxy_binding(card_url(remote, "echo")))
    write_agent(local_agents, "chatproxy", proxy_binding(card_url(remote, "chat")))
    local = live_server_factory(backend, agents_dir=local_agents, push_url_allowlist="127.0.0.0/8")
    return local, remote


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": "demo-key"}) as client:
        yield client


async def sdk_client(http: httpx.AsyncClient, server: LiveServer, agent: str, binding: str, *,
                     streaming: bool) -> Client:
    resolver = A2ACardResolver(http, f"{server.url}/agents/{agent}/v1")
    card = await resolver.get_agent_card(http_kwargs={"headers": {"Tenant-Name": "demo"}})
    config = ClientConfig(httpx_client=http, supported_protocol_bindings=[binding],
                          use_client_preference=True, streaming=streaming)
    return ClientFactory(config).create(card)


def message(text: str, **fields: Any) -> SendMessageRequest:
    return SendMessageRequest(message=Message(
        message_id=uuid.uuid4().hex, role=Role.ROLE_USER, parts=[Part(text=text)], **fields))


def remote_ids(metadata: Any) -> dict[str, str]:
    return MessageToDict(metadata)["remote"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("binding", BINDINGS)
async def test_send_stream_and_get_through_the_proxy(
        binding: str, servers: tuple[LiveServer, LiveServer], http: httpx.AsyncClient) -> None:
    local, _ = servers
    client = await sdk_client(http, local, "proxy", binding, streaming=True)
    events = [event async for event in client.send_message(message("through"))]
    assert events[0].WhichOneof("payload") == "task"
    task_id = events[0].task.id
    final = events[-1].status_update
    assert final.task_id == task_id
    assert final.status.state == TaskState.TASK_STATE_COMPLETED
    texts = [p.text for e in events if e.HasField("artifact_update")
             for p in e.artifact_update.artifact.parts]
    assert texts == ["echo: through"]
    stored = await client.get_task(GetTaskRequest(id=task_id))
    assert stored.status.state == TaskState.TASK_STATE_COMPLETED
    assert remote_ids(stored.metadata)["task_id"] not in ("", task_id)


@pytest.mark.parametrize("binding", BINDINGS)
async def test_cancel_mid_stream_cancels_the_remote_task(
        binding: str, servers: tuple[LiveServer, LiveServer], http: httpx.AsyncClient) -> None:
    local, remote = servers
    client = await sdk_client(http, local, "proxy", binding, streaming=True)
    task_id = None
    async for event in client.send_message(message("slow stream")):
        if event.HasField("status_update") and "remote" in event.status_update.metadata:
            task_id = event.status_update.task_id
            break
    assert task_id
    canceled = await client.cancel_task(CancelTaskRequest(id=task_id))
    assert canceled.status.state == TaskState.TASK_STATE_CANCELED
    remote_id = remote_ids(canceled.metadata)["task_id"]
    on_remote = await sdk_client(http, remote, "echo", binding, streaming=False)
    deadline = time.monotonic() + 20
    while True:
        state = (await on_remote.get_task(GetTaskRequest(id=remote_id))).status.state
        if state != TaskState.TASK_STATE_WORKING or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert state == TaskState.TASK_STATE_CANCELED


@pytest.mark.parametrize("binding", BINDINGS)
async def test_multi_turn_with_usage_passed_through(
        binding: str, servers: tuple[LiveServer, LiveServer], http: httpx.AsyncClient) -> None:
    local, _ = servers
    client = await sdk_client(http, local, "chatproxy", binding, streaming=False)
    first = [e async for e in client.send_message(message("hello"))][-1].task
    assert first.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    follow = message("bye", task_id=first.id, context_id=first.context_id)
    second = [e async for e in client.send_message(follow)][-1].task
    assert (second.id, second.status.state) == (first.id, TaskState.TASK_STATE_COMPLETED)
    assert second.status.message.parts[0].text == "turn 2: bye"
    metadata = MessageToDict(second.metadata)
    assert metadata["usage"]["total_tokens"] == 30
    assert metadata["remote"] == remote_ids(first.metadata)
