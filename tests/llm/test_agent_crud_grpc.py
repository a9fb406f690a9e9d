"""Tenant-created agents over gRPC (the SDK's own gRPC client transport): the card declares
the GRPC interface, a send reaches the agent (loaded on first use, as on HTTP), another
tenant's agent and a deleted one answer NOT_FOUND exactly like a missing one, a deleted
agent's finished task stays readable; and across two replicas on one Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import httpx
import pytest
from a2a.client import A2ACardResolver, Client, ClientConfig, ClientFactory
from a2a.types import a2a_pb2_grpc
from a2a.types.a2a_pb2 import AgentCard, GetTaskRequest, TaskState
from a2a.utils.constants import TransportProtocol

from a2a_server.settings import Settings
from tests.conftest import DEMO, LiveServer, free_port
from tests.grpc_binding.conftest import ApiKey, first_event, grpc_app, grpc_settings, user_message
from tests.llm.conftest import Provider
from tests.llm.test_agent_crud import CREATE, count_agent_reads, create, policy_file
from tests.llm.test_agent_crud_replicas import until

ANSWER = {"text": "Hi over gRPC", "usage": {"prompt_tokens": 3, "completion_tokens": 2}}


@pytest.fixture
def settings(backend: str, settings_for: Callable[..., Settings], tmp_path: Path,
             provider: Provider, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("STANDIN_API_KEY", "sk-standin")
    return grpc_settings(settings_for, backend, tenant_agents_file=policy_file(tmp_path, provider))


def _grpc_client(card: AgentCard, key: str, target: str | None = None) -> Client:
    """An SDK client on the card's GRPC interface (``target``: another replica's port)."""
    if target is not None:
        for interface in card.supported_interfaces:
            if interface.protocol_binding == "GRPC":
                interface.url = target
    config = ClientConfig(streaming=False, grpc_channel_factory=grpc.aio.insecure_channel,
                          supported_protocol_bindings=[TransportProtocol.GRPC])
    return ClientFactory(config).create(card, interceptors=[ApiKey(key)])


async def _stub_send(address: str, tenant: str, key: str) -> tuple[grpc.StatusCode, str]:
    """A raw stub's SendMessage (what any gRPC client sees): its status and details."""
    request = user_message("hello")
    request.tenant = tenant
    async with grpc.aio.insecure_channel(address) as channel:
        stub = a2a_pb2_grpc.A2AServiceStub(channel)
        try:
            await stub.SendMessage(request, metadata=(("x-api-key", key),))
        except grpc.aio.AioRpcError as failed:
            return failed.code(), failed.details() or ""
    return grpc.StatusCode.OK, ""


async def test_a_bad_credential_causes_no_store_read_over_grpc(settings: Settings) -> None:
    """As on HTTP: a call with a bad key naming a created agent not loaded here reads nothing
    from the store and is UNAUTHENTICATED word for word as for a missing id."""
    async with grpc_app(settings) as app:
        agent_id = (await create(app.http))["id"]
        app.app.state.tenant_agents.apply(agent_id, None)
        reads = count_agent_reads(app.app)
        address, missing = settings.grpc_public_address or "", str(uuid.uuid4())
        refused = await _stub_send(address, agent_id, "not-a-key")
        assert refused[0] == grpc.StatusCode.UNAUTHENTICATED
        assert await _stub_send(address, missing, "not-a-key") == refused
        assert reads == []
        assert (await _stub_send(address, missing, "demo-key"))[0] == grpc.StatusCode.NOT_FOUND
        assert reads == [missing]


async def test_created_agent_over_grpc(settings: Settings, provider: Provider) -> None:
    """Card with GRPC, a send loaded on first use, hidden NOT_FOUND, delete: sends NOT_FOUND,
    the finished task still readable over gRPC."""
    provider.rule("hello", ANSWER)
    async with grpc_app(settings) as app:
        agent_id = (await create(app.http))["id"]
        card = await app.card(agent_id)
        grpc_interfaces = [i for i in card.supported_interfaces if i.protocol_binding == "GRPC"]
        assert [(i.url, i.tenant) for i in grpc_interfaces] == [
            (settings.grpc_public_address, f"demo/{agent_id}")]
        # Not loaded on this replica (as after an eviction, or on a replica that never saw
        # it): the gRPC call itself loads it.
        app.app.state.tenant_agents.apply(agent_id, None)
        assert agent_id not in app.app.state.server.runtimes
        client = _grpc_client(card, "demo-key")
        task = (await first_event(client, user_message("hello"))).task
        assert task.status.state == TaskState.TASK_STATE_COMPLETED
        assert task.artifacts[0].parts[0].text == "Hi over gRPC"
        assert provider.requests()[-1]["body"]["messages"][0] == {"role": "system",
                                                                  "content": "You triage."}
        read = await client.get_task(GetTaskRequest(id=task.id))
        assert read.status.state == TaskState.TASK_STATE_COMPLETED

        address = settings.grpc_public_address or ""
        missing = str(uuid.uuid4())
        # acme names demo's agent (by id, and as demo's interface tenant would): NOT_FOUND,
        # word for word what a missing id gets.
        assert await _stub_send(address, agent_id, "acme-key") == (
            grpc.StatusCode.NOT_FOUND, f"agent '{agent_id}' not found")
        assert await _stub_send(address, missing, "acme-key") == (
            grpc.StatusCode.NOT_FOUND, f"agent '{missing}' not found")
        reads = _grpc_client(card, "acme-key")
        with pytest.raises(Exception) as hidden:
            await reads.get_task(GetTaskRequest(id=task.id, tenant=f"acme/{agent_id}"))
        assert "not found" in str(hidden.value)
        await reads.close()

        assert (await app.http.delete(f"/agents/{agent_id}", headers=DEMO)).status_code == 204
        assert await _stub_send(address, f"demo/{agent_id}", "demo-key") == (
            grpc.StatusCode.NOT_FOUND, f"agent '{agent_id}' not found")
        kept = await client.get_task(GetTaskRequest(id=task.id))
        assert kept.status.state == TaskState.TASK_STATE_COMPLETED
        await client.close()


async def test_created_on_a_served_over_grpc_by_b(
        live_server_factory: Callable[..., LiveServer], tmp_path: Path, provider: Provider,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Created over HTTP on replica A, sent to over gRPC on replica B (which has never
    served it on any binding); deleted on A, B's gRPC refuses sends."""
    monkeypatch.setenv("STANDIN_API_KEY", "sk-standin")
    provider.rule("hello", ANSWER)
    policy = policy_file(tmp_path, provider)

    def replica() -> LiveServer:
        port = free_port()
        return live_server_factory("redis", tenant_agents_file=policy, grpc_port=port,
                                   grpc_public_address=f"127.0.0.1:{port}")

    a, b = replica(), replica()
    b_address = b.settings.grpc_public_address or ""
    async with httpx.AsyncClient(timeout=30) as http:
        agent_id = (await http.post(f"{a.url}/agents", json=CREATE, headers=DEMO)).json()["id"]
        http.headers.update(DEMO)
        card = await A2ACardResolver(
            http, a.url, agent_card_path=f"/agents/{agent_id}/v1/.well-known/agent-card.json"
        ).get_agent_card()
        on_b = _grpc_client(card, "demo-key", target=b_address)
        task = (await first_event(on_b, user_message("hello"))).task
        assert task.status.state == TaskState.TASK_STATE_COMPLETED
        assert task.artifacts[0].parts[0].text == "Hi over gRPC"
        assert (await http.delete(f"{a.url}/agents/{agent_id}")).status_code == 204

    async def refused() -> Any:
        code, _ = await _stub_send(b_address, f"demo/{agent_id}", "demo-key")
        return code == grpc.StatusCode.NOT_FOUND

    assert await until(refused)
    kept = await on_b.get_task(GetTaskRequest(id=task.id))
    assert kept.status.state == TaskState.TASK_STATE_COMPLETED
    await on_b.close()

