"""Tenant isolation over gRPC: another tenant's task is NOT_FOUND, exactly like a missing one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import grpc.aio
import pytest
from a2a.types import a2a_pb2_grpc
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTasksRequest,
    SubscribeToTaskRequest,
    TaskPushNotificationConfig,
)

from a2a_server.settings import Settings
from tests.grpc_binding.conftest import grpc_app, grpc_settings, user_message
from tests.tenancy.test_isolation import agents_with_push, tenants_all_agents  # noqa: F401

pytestmark = pytest.mark.usefixtures("backend")

DEMO_MD = (("x-api-key", "demo-key"),)
ACME_MD = (("x-api-key", "acme-key"),)


@pytest.fixture
async def stub(backend: str, settings_for: Callable[..., Settings], agents_with_push: Path,  # noqa: F811
               tenants_all_agents: Path,  # noqa: F811
               ) -> AsyncIterator[a2a_pb2_grpc.A2AServiceStub]:
    settings = grpc_settings(settings_for, backend, agents_dir=agents_with_push,
                             tenants_dir=tenants_all_agents)
    async with grpc_app(settings), grpc.aio.insecure_channel(
        settings.grpc_public_address or ""
    ) as channel:
        yield a2a_pb2_grpc.A2AServiceStub(channel)


async def _code(call: object) -> grpc.StatusCode:
    try:
        if hasattr(call, "__aiter__"):
            async for _ in call:  # type: ignore[attr-defined]
                pass
        else:
            await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    raise AssertionError("the call succeeded")


async def test_another_tenants_task_is_not_found_on_every_method(
    stub: a2a_pb2_grpc.A2AServiceStub,
) -> None:
    mine = (await stub.SendMessage(user_message("mine"), metadata=(
        *DEMO_MD, ("x-agent-id", "pushecho")))).task
    config = TaskPushNotificationConfig(task_id=mine.id, id="c1", url="https://hooks.example.com/x",
                                        tenant="demo/pushecho")
    await stub.CreateTaskPushNotificationConfig(config, metadata=DEMO_MD)
    for task_id in (mine.id, "no-such-task"):  # theirs and missing: the same answer
        tenant = "acme/pushecho"
        calls = [
            stub.GetTask(GetTaskRequest(id=task_id, tenant=tenant), metadata=ACME_MD),
            stub.CancelTask(CancelTaskRequest(id=task_id, tenant=tenant), metadata=ACME_MD),
            stub.SubscribeToTask(SubscribeToTaskRequest(id=task_id, tenant=tenant),
                                 metadata=ACME_MD),
            stub.GetTaskPushNotificationConfig(GetTaskPushNotificationConfigRequest(
                task_id=task_id, id="c1", tenant=tenant), metadata=ACME_MD),
            stub.ListTaskPushNotificationConfigs(ListTaskPushNotificationConfigsRequest(
                task_id=task_id, tenant=tenant), metadata=ACME_MD),
            stub.SendMessage(user_message("into yours", task_id=task_id), metadata=(
                *ACME_MD, ("x-agent-id", "pushecho"))),
        ]
        for call in calls:
            assert await _code(call) == grpc.StatusCode.NOT_FOUND, (task_id, call)
    # Still there for its owner, untouched.
    got = await stub.GetTask(GetTaskRequest(id=mine.id, tenant="demo/pushecho"), metadata=DEMO_MD)
    assert got.status == mine.status and len(got.history) == len(mine.history)


async def test_list_tasks_shows_only_the_callers(stub: a2a_pb2_grpc.A2AServiceStub) -> None:
    mine = (await stub.SendMessage(user_message("demo's"), metadata=(
        *DEMO_MD, ("x-agent-id", "echo")))).task
    theirs = await stub.ListTasks(ListTasksRequest(tenant="acme/echo"), metadata=ACME_MD)
    assert mine.id not in {t.id for t in theirs.tasks}
    own = await stub.ListTasks(ListTasksRequest(tenant="demo/echo"), metadata=DEMO_MD)
    assert mine.id in {t.id for t in own.tasks}


async def test_naming_another_tenant_is_permission_denied(
    stub: a2a_pb2_grpc.A2AServiceStub,
) -> None:
    named = [
        stub.GetTask(GetTaskRequest(id="x", tenant="demo/echo"), metadata=ACME_MD),
        stub.GetTask(GetTaskRequest(id="x", tenant="acme/echo"),
                     metadata=(*ACME_MD, ("tenant-name", "demo"))),
    ]
    for call in named:
        assert await _code(call) == grpc.StatusCode.PERMISSION_DENIED
    # A tenant that does not exist gets the same answer as one that does.
    ghost = stub.GetTask(GetTaskRequest(id="x", tenant="ghost/echo"), metadata=ACME_MD)
    assert await _code(ghost) == grpc.StatusCode.PERMISSION_DENIED
