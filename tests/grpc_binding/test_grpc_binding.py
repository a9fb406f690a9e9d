"""A2A over gRPC through the SDK's own gRPC transport: every method, on both stores."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
import grpc.aio
import pytest
from a2a.client import ClientCallContext
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTasksRequest,
    SendMessageConfiguration,
    SubscribeToTaskRequest,
    TaskPushNotificationConfig,
    TaskState,
)
from a2a.utils.errors import TaskNotFoundError

from a2a_server.settings import Settings
from tests.conftest import DEMO, running_app
from tests.grpc_binding.conftest import GrpcApp, first_event, user_message

pytestmark = pytest.mark.usefixtures("backend")


async def test_the_card_declares_the_grpc_interface(served: GrpcApp) -> None:
    card = await served.card()
    grpc_interfaces = [i for i in card.supported_interfaces if i.protocol_binding == "GRPC"]
    assert len(grpc_interfaces) == 1
    interface = grpc_interfaces[0]
    assert interface.url == served.settings.grpc_public_address
    assert interface.tenant == "demo/echo" and interface.protocol_version == "1.0"
    # The Corti v2 card keeps the gRPC address (only HTTP interfaces move to the v2 paths).
    v2 = (await served.http.get("/agentic/agents/echo/.well-known/agent-card.json",
                                headers={**DEMO, "A2A-Version": "1.0"})).json()
    urls = {i["protocolBinding"]: i["url"] for i in v2["supportedInterfaces"]}
    assert urls["GRPC"] == served.settings.grpc_public_address
    assert urls["JSONRPC"].endswith("/agentic/agents/echo/a2a")


async def test_no_grpc_interface_when_grpc_is_off(settings_for: Callable[..., Settings],
                                                  backend: str) -> None:
    import httpx

    async with running_app(settings_for(backend)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            card = (await http.get("/agents/echo/v1/.well-known/agent-card.json",
                                   headers={**DEMO, "A2A-Version": "1.0"})).json()
    assert {i["protocolBinding"] for i in card["supportedInterfaces"]} == {"JSONRPC", "HTTP+JSON"}


async def test_send_then_get_the_same_task_over_grpc_and_http(served: GrpcApp) -> None:
    client = await served.client()
    events = [e async for e in client.send_message(user_message("hello grpc"))]
    assert len(events) == 1 and events[0].WhichOneof("payload") == "task"
    task = events[0].task
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert task.artifacts[0].parts[0].text == "echo: hello grpc"
    got = await client.get_task(GetTaskRequest(id=task.id))
    assert got.id == task.id and got.status.state == TaskState.TASK_STATE_COMPLETED
    over_http = await served.http.get(f"/agents/echo/v1/tasks/{task.id}", headers=DEMO)
    assert over_http.status_code == 200 and over_http.json()["status"]["state"] == "completed"
    await client.close()


async def test_history_length_applies(served: GrpcApp) -> None:
    client = await served.client("chat")
    first = (await first_event(client, user_message("one"))).task
    request = user_message("two", task_id=first.id)
    [e async for e in client.send_message(request)]
    full = await client.get_task(GetTaskRequest(id=first.id))
    # u1, a1, u2 (the latest reply is the status message)
    assert [m.parts[0].text for m in full.history] == ["one", "reply to one", "two"]
    assert full.status.message.parts[0].text == "reply to two"
    trimmed = await client.get_task(GetTaskRequest(id=first.id, history_length=1))
    assert [m.parts[0].text for m in trimmed.history] == ["two"]
    request = user_message("three", task_id=first.id)
    request.configuration.CopyFrom(SendMessageConfiguration(history_length=2))
    sent = (await first_event(client, request)).task
    assert len(sent.history) == 2
    await client.close()


async def test_a_streamed_send_yields_every_event(served: GrpcApp) -> None:
    client = await served.client(streaming=True)
    kinds = []
    final = None
    async for event in client.send_message(user_message("slow stream me")):
        kinds.append(event.WhichOneof("payload"))
        if event.HasField("status_update"):
            final = event.status_update.status.state
    assert kinds[0] == "task" and "artifact_update" in kinds
    assert final == TaskState.TASK_STATE_COMPLETED
    await client.close()


async def test_a_direct_message_answer(served: GrpcApp) -> None:
    client = await served.client("direct")
    events = [e async for e in client.send_message(user_message("hi"))]
    assert events[0].WhichOneof("payload") == "message"
    assert events[0].message.parts[0].text == "direct: hi"
    await client.close()


async def test_cancel_and_subscribe(served: GrpcApp) -> None:
    sender = await served.client(streaming=True)
    stream = sender.send_message(user_message("slow cancel me"))
    first = await anext(stream)
    task_id = first.task.id
    watcher = await served.client(streaming=True)
    watched: list[int] = []

    async def watch() -> None:
        async for event in watcher.subscribe(SubscribeToTaskRequest(id=task_id)):
            if event.HasField("status_update"):
                watched.append(event.status_update.status.state)

    watching = asyncio.create_task(watch())
    await asyncio.sleep(0.2)
    canceller = await served.client()
    cancelled = await canceller.cancel_task(CancelTaskRequest(id=task_id))
    assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
    await asyncio.wait_for(watching, 10)
    assert watched[-1] == TaskState.TASK_STATE_CANCELED
    await stream.aclose()
    for client in (sender, watcher, canceller):
        await client.close()


async def test_list_tasks_of_this_agent(served: GrpcApp) -> None:
    client = await served.client()
    ids = {(await first_event(client, user_message(f"n{i}"))).task.id
           for i in range(3)}
    listed = await client.list_tasks(ListTasksRequest())
    assert ids <= {t.id for t in listed.tasks}
    await client.close()


async def test_push_configs_and_the_extended_card(served: GrpcApp) -> None:
    client = await served.client("conformance")
    task = (await first_event(client, user_message("hi"))).task
    config = TaskPushNotificationConfig(task_id=task.id, id="cfg-1",
                                        url="https://hooks.example.com/a2a")
    created = await client.create_task_push_notification_config(config)
    assert created.id == "cfg-1" and created.url == config.url
    got = await client.get_task_push_notification_config(
        GetTaskPushNotificationConfigRequest(task_id=task.id, id="cfg-1"))
    assert got.url == config.url
    listed = await client.list_task_push_notification_configs(
        ListTaskPushNotificationConfigsRequest(task_id=task.id))
    assert [c.id for c in listed.configs] == ["cfg-1"]
    await client.delete_task_push_notification_config(
        DeleteTaskPushNotificationConfigRequest(task_id=task.id, id="cfg-1"))
    listed = await client.list_task_push_notification_configs(
        ListTaskPushNotificationConfigsRequest(task_id=task.id))
    assert list(listed.configs) == []
    extended = await client.get_extended_agent_card(GetExtendedAgentCardRequest())
    assert "extended card for tenant demo" in extended.description
    await client.close()


async def test_an_unknown_task_is_not_found(served: GrpcApp) -> None:
    client = await served.client()
    with pytest.raises(TaskNotFoundError):
        await client.get_task(GetTaskRequest(id="no-such-task"))
    await client.close()


async def test_errors_are_grpc_statuses(served: GrpcApp) -> None:
    """Raw stub calls: the status codes a plain gRPC client sees."""
    from a2a.types import a2a_pb2_grpc

    async with grpc.aio.insecure_channel(served.settings.grpc_public_address or "") as channel:
        stub = a2a_pb2_grpc.A2AServiceStub(channel)
        request = GetTaskRequest(id="x", tenant="demo/echo")
        cases = [
            ((), grpc.StatusCode.UNAUTHENTICATED),
            ((("x-api-key", "wrong"),), grpc.StatusCode.UNAUTHENTICATED),
            ((("x-api-key", "demo-key"), ("tenant-name", "acme")),
             grpc.StatusCode.PERMISSION_DENIED),
            ((("x-api-key", "demo-key"),), grpc.StatusCode.NOT_FOUND),
        ]
        for metadata, code in cases:
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await stub.GetTask(request, metadata=metadata)
            assert failed.value.code() == code, (metadata, failed.value.details())
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stub.GetTask(GetTaskRequest(id="x", tenant="acme/echo"),
                               metadata=(("x-api-key", "demo-key"),))
        assert failed.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stub.GetTask(GetTaskRequest(id="x", tenant="demo/nobody"),
                               metadata=(("x-api-key", "demo-key"),))
        assert failed.value.code() == grpc.StatusCode.NOT_FOUND
        assert "agent 'nobody' not found" in (failed.value.details() or "")


async def test_an_unsupported_version_is_unimplemented(served: GrpcApp) -> None:
    from a2a.types import a2a_pb2_grpc
    from a2a.utils.errors import VersionNotSupportedError

    async with grpc.aio.insecure_channel(served.settings.grpc_public_address or "") as channel:
        stub = a2a_pb2_grpc.A2AServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stub.SendMessage(user_message("v99"), metadata=(
                ("x-api-key", "demo-key"), ("x-agent-id", "echo"), ("a2a-version", "99.0")))
        assert failed.value.code() == grpc.StatusCode.UNIMPLEMENTED
        for version in ("1.0", "1.1"):
            answer = await stub.SendMessage(user_message("v1"), metadata=(
                ("x-api-key", "demo-key"), ("x-agent-id", "echo"), ("a2a-version", version)))
            assert answer.HasField("task")
    # The SDK's client reads the A2A error from the status details.
    client = await served.client()
    context = ClientCallContext(service_parameters={"a2a-version": "0.3"})
    with pytest.raises(VersionNotSupportedError):
        await client.get_task(GetTaskRequest(id="x"), context=context)
    await client.close()


async def test_the_agent_may_be_named_in_metadata(served: GrpcApp) -> None:
    from a2a.types import a2a_pb2_grpc

    async with grpc.aio.insecure_channel(served.settings.grpc_public_address or "") as channel:
        stub = a2a_pb2_grpc.A2AServiceStub(channel)
        answer = await stub.SendMessage(user_message("by metadata"), metadata=(
            ("x-api-key", "demo-key"), ("x-agent-id", "echo")))
        assert answer.task.artifacts[0].parts[0].text == "echo: by metadata"
        # The tenant part of the value may be left out: the credentials name the tenant.
        got = await stub.GetTask(GetTaskRequest(id=answer.task.id, tenant="echo"),
                                 metadata=(("authorization", "Bearer demo-key"),))
        assert got.id == answer.task.id


async def test_a_bearer_token_from_the_token_endpoint_works(served: GrpcApp) -> None:
    token = (await served.http.post(
        "/realms/demo/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": "demo-client",
              "client_secret": "demo-secret"})).json()["access_token"]
    client = await served.client(key=None)
    context = ClientCallContext(service_parameters={"authorization": f"Bearer {token}"})
    events = [e async for e in client.send_message(user_message("jwt"), context=context)]
    assert events[0].task.status.state == TaskState.TASK_STATE_COMPLETED
    await client.close()
