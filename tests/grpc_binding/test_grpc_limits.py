"""Tenant limits and Idempotency-Key over gRPC, as over HTTP (the same counters and claims)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import grpc
import grpc.aio
import pytest
from a2a.types import a2a_pb2_grpc
from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest

from a2a_server.settings import Settings
from tests.conftest import running_app
from tests.grpc_binding.conftest import grpc_settings
from tests.limited_tenants import tenants_with_limits
from tests.llm.test_agent_crud import count_agent_reads

KEY = (("x-api-key", "limited-key"),)


def send(text: str = "hi") -> SendMessageRequest:
    return SendMessageRequest(tenant="limited/echo", message=Message(
        role=Role.ROLE_USER, message_id=os.urandom(8).hex(), parts=[Part(text=text)]))


async def test_grpc_requests_count_in_the_tenants_window_and_are_refused_alike(
    settings_for: Callable[..., Settings], backend: str, tmp_path: Path,
) -> None:
    tenants = tenants_with_limits(tmp_path / "tenants", requests_per_minute=3)
    settings = grpc_settings(settings_for, backend, tenants_dir=tenants)
    async with running_app(settings) as app:
        import httpx

        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        sent = await http.post("/agents/echo/v1/message:send", headers={
            "X-API-Key": "limited-key", "A2A-Version": "1.0"}, json={"message": {
                "role": "ROLE_USER", "messageId": "m0", "parts": [{"text": "hi"}]}})
        assert sent.status_code == 200  # one of the three, over HTTP
        async with grpc.aio.insecure_channel(settings.grpc_public_address or "") as channel:
            stub = a2a_pb2_grpc.A2AServiceStub(channel)
            for _ in range(2):
                await stub.SendMessage(send(), metadata=KEY)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.SendMessage(send(), metadata=KEY)
        await http.aclose()
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "3 requests per minute" in (refused.value.details() or "")
    trailing = dict(refused.value.trailing_metadata() or ())
    assert trailing["ratelimit-policy"] == '"requests";q=3;w=60'
    assert trailing["ratelimit"] == f'"requests";r=0;t={trailing["retry-after"]}'


async def test_grpc_over_the_limit_an_unknown_agent_id_is_refused_before_any_store_read(
    settings_for: Callable[..., Settings], backend: str, tmp_path: Path,
) -> None:
    """As over HTTP: a call naming an unknown UUID-shaped agent is counted before the store
    read that would load it; within the limit NOT_FOUND, over it RESOURCE_EXHAUSTED and no
    read, as for a known agent."""
    tenants = tenants_with_limits(tmp_path / "tenants", requests_per_minute=1)
    settings = grpc_settings(settings_for, backend, tenants_dir=tenants)
    async with running_app(settings) as app:
        reads = count_agent_reads(app)
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        codes = []
        async with grpc.aio.insecure_channel(settings.grpc_public_address or "") as channel:
            stub = a2a_pb2_grpc.A2AServiceStub(channel)
            for agent in (first, second, "echo"):
                request = send()
                request.tenant = f"limited/{agent}"
                with pytest.raises(grpc.aio.AioRpcError) as failed:
                    await stub.SendMessage(request, metadata=KEY)
                codes.append(failed.value.code())
    assert codes == [grpc.StatusCode.NOT_FOUND, grpc.StatusCode.RESOURCE_EXHAUSTED,
                     grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert reads == [first]


async def test_grpc_sends_take_task_slots_and_honour_idempotency_keys(
    settings_for: Callable[..., Settings], backend: str, tmp_path: Path,
) -> None:
    tenants = tenants_with_limits(tmp_path / "tenants", concurrent_tasks=1)
    settings = grpc_settings(settings_for, backend, tenants_dir=tenants)
    async with running_app(settings):
        async with grpc.aio.insecure_channel(settings.grpc_public_address or "") as channel:
            stub = a2a_pb2_grpc.A2AServiceStub(channel)
            request = send("once")
            keyed = (*KEY, ("idempotency-key", "g-1"))
            first = await stub.SendMessage(request, metadata=keyed)
            again = await stub.SendMessage(request, metadata=keyed)  # the slot came back
            assert again.task.id == first.task.id
            listed = await stub.ListTasks(a2a_pb2_grpc.a2a__pb2.ListTasksRequest(
                tenant="limited/echo"), metadata=KEY)
            assert [t.id for t in listed.tasks] == [first.task.id]
            slow = send("slow please")
            slow.configuration.return_immediately = True
            await stub.SendMessage(slow, metadata=KEY)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.SendMessage(send(), metadata=KEY)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "1 concurrently running tasks" in (refused.value.details() or "")
