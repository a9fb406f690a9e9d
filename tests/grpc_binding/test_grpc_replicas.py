"""gRPC on two live replicas sharing one Redis: a task sent to A is watched and cancelled on B."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import grpc.aio
import httpx
from a2a.client import A2ACardResolver, Client, ClientConfig, ClientFactory
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    SendMessageConfiguration,
    SendMessageRequest,
    SubscribeToTaskRequest,
    TaskState,
)
from a2a.utils.constants import TransportProtocol

from tests.conftest import LiveServer, free_port
from tests.grpc_binding.conftest import ApiKey, first_event, user_message
from tests.test_replicas import agents_with_slow, wait_lease_released


def _replica(factory: Callable[..., LiveServer], agents: Path) -> LiveServer:
    port = free_port()
    return factory("redis", agents_dir=agents, lease_seconds=1.5, grpc_port=port,
                   grpc_public_address=f"127.0.0.1:{port}")


async def _client(server: LiveServer, streaming: bool = False) -> Client:
    async with httpx.AsyncClient(headers={"X-API-Key": "demo-key"}) as http:
        card = await A2ACardResolver(
            http, server.url, agent_card_path="/agents/echo/v1/.well-known/agent-card.json"
        ).get_agent_card()
    config = ClientConfig(streaming=streaming, grpc_channel_factory=grpc.aio.insecure_channel,
                          supported_protocol_bindings=[TransportProtocol.GRPC])
    return ClientFactory(config).create(card, interceptors=[ApiKey("demo-key")])


def _slow(text: str) -> SendMessageRequest:
    request = user_message(text)
    request.configuration.CopyFrom(SendMessageConfiguration(return_immediately=True))
    return request


async def _wait_working(client: Client, task_id: str) -> None:
    for _ in range(400):
        task = await client.get_task(GetTaskRequest(id=task_id))
        if task.status.state == TaskState.TASK_STATE_WORKING:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the task never started working")


async def test_subscribe_on_b_follows_a_task_running_on_a(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    agents = agents_with_slow(tmp_path / "agents", 2)
    a, b = _replica(live_server_factory, agents), _replica(live_server_factory, agents)
    on_a, on_b = await _client(a), await _client(b, streaming=True)
    task = (await first_event(on_a, _slow("slow watch me"))).task
    await _wait_working(on_b, task.id)
    states = []
    async for event in on_b.subscribe(SubscribeToTaskRequest(id=task.id)):
        if event.HasField("status_update"):
            states.append(event.status_update.status.state)
    assert states[-1] == TaskState.TASK_STATE_COMPLETED
    final = await on_b.get_task(GetTaskRequest(id=task.id))
    assert final.artifacts[0].parts[0].text == "echo: slow watch me"
    await on_a.close()
    await on_b.close()


async def test_cancel_on_b_stops_the_run_on_a(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    agents = agents_with_slow(tmp_path / "agents", 120)
    a, b = _replica(live_server_factory, agents), _replica(live_server_factory, agents)
    on_a, on_b = await _client(a), await _client(b)
    task = (await first_event(on_a, _slow("slow cancel me"))).task
    await _wait_working(on_b, task.id)
    cancelled = await on_b.cancel_task(CancelTaskRequest(id=task.id))
    assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
    assert a.settings.redis_url is not None
    await wait_lease_released(a.settings.redis_url, task.id)  # A's run stopped (120 s otherwise)
    for client in (on_a, on_b):
        got = await client.get_task(GetTaskRequest(id=task.id))
        assert got.status.state == TaskState.TASK_STATE_CANCELED
        await client.close()
