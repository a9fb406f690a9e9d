"""The mapping table of docs/seed-apis.md, checked for every A2A state on both stores.

Tasks are written straight into the app's task store (every state, with and
without the usage contract's metadata) and read back through Shannon's
``GET /api/v1/tasks/{id}`` and agentlin's ``GET /tasks/{id}``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from a2a.server.cluster import TaskVersion
from a2a.types.a2a_pb2 import Artifact, Message, Part, Role, Task, TaskState, TaskStatus
from google.protobuf.struct_pb2 import Struct, Value

from a2a_server.settings import Settings
from a2a_server.stores.base import Commit, Scope, Stores
from tests.conftest import running_app

DEMO = Scope("demo", "echo")
SHANNON_KEY = {"X-API-Key": "demo-key"}
AGENTLIN_KEY = {"Authorization": "Bearer demo-key"}
CREATED = "2025-10-22T10:30:00Z"
UPDATED = "2025-10-22T10:30:05Z"

# docs/seed-apis.md, "States": A2A state -> (Shannon status, agentlin status)
STATES = {
    TaskState.TASK_STATE_UNSPECIFIED: ("TASK_STATUS_UNSPECIFIED", "created"),
    TaskState.TASK_STATE_SUBMITTED: ("TASK_STATUS_QUEUED", "queued"),
    TaskState.TASK_STATE_WORKING: ("TASK_STATUS_RUNNING", "working"),
    TaskState.TASK_STATE_INPUT_REQUIRED: ("TASK_STATUS_RUNNING", "input-required"),
    TaskState.TASK_STATE_AUTH_REQUIRED: ("TASK_STATUS_RUNNING", "paused"),
    TaskState.TASK_STATE_COMPLETED: ("TASK_STATUS_COMPLETED", "completed"),
    TaskState.TASK_STATE_CANCELED: ("TASK_STATUS_CANCELLED", "canceled"),
    TaskState.TASK_STATE_FAILED: ("TASK_STATUS_FAILED", "failed"),
    TaskState.TASK_STATE_REJECTED: ("TASK_STATUS_FAILED", "failed"),
}
LLM_METADATA = {
    "usage": {"input_tokens": 200, "output_tokens": 100, "total_tokens": 300,
              "estimated_cost": 0.006, "currency": "USD"},
    "model_used": "gpt-5-mini-2025-08-07",
    "provider": "openai",
}


def test_every_a2a_state_has_a_row() -> None:
    assert set(STATES) == set(TaskState.values())


def _struct(values: dict[str, Any]) -> Struct:
    struct = Struct()
    struct.update(values)
    return struct


def make_task(state: TaskState, *, metadata: dict[str, Any] | None = None,
              answer: str = "The capital of France is Paris.",
              status_parts: list[Part] | None = None) -> Task:
    """A task as an agent leaves it in ``state``: question, status message, an artifact if done."""
    task_id = str(uuid.uuid4())
    question = Message(role=Role.ROLE_USER, message_id=str(uuid.uuid4()), context_id="ctx-1",
                       task_id=task_id, parts=[Part(text="What is the capital of France?")],
                       metadata=_struct({"created_at": CREATED}),
                       reference_task_ids=["task-before"])
    status = TaskStatus(state=state, message=Message(
        role=Role.ROLE_AGENT, message_id=str(uuid.uuid4()),
        parts=status_parts or [Part(text=f"status text of {TaskState.Name(state)}")]))
    status.timestamp.FromJsonString(UPDATED)
    task = Task(id=task_id, context_id="ctx-1", status=status, history=[question])
    if state == TaskState.TASK_STATE_COMPLETED:
        task.artifacts.append(Artifact(artifact_id="art-1", parts=[Part(text=answer)]))
    if metadata:
        task.metadata.update(metadata)
    return task


@pytest.fixture
async def app_stores(backend: str, settings_for: Callable[..., Settings]
                     ) -> AsyncIterator[tuple[httpx.AsyncClient, Stores]]:
    async with running_app(settings_for(backend)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, app.state.server.stores


async def views(http: httpx.AsyncClient, stores: Stores,
                task: Task) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Shannon's object, agentlin's result) of ``task`` once stored."""
    await stores.tasks.commit(DEMO, Commit(task, [task], TaskVersion.MISSING))
    shannon = await http.get(f"/api/v1/tasks/{task.id}", headers=SHANNON_KEY)
    assert shannon.status_code == 200, shannon.text
    assert shannon.headers["X-Workflow-ID"] == task.id
    agentlin = await http.get(f"/tasks/{task.id}", headers=AGENTLIN_KEY)
    assert agentlin.status_code == 200, agentlin.text
    envelope = agentlin.json()
    assert envelope["jsonrpc"] == "2.0" and "error" not in envelope
    return shannon.json(), envelope["result"]


@pytest.mark.parametrize("state", list(STATES), ids=TaskState.Name)
async def test_state_and_fields_without_llm_metadata(
    app_stores: tuple[httpx.AsyncClient, Stores], state: TaskState
) -> None:
    http, stores = app_stores
    task = make_task(state)
    shannon, agentlin = await views(http, stores, task)
    shannon_status, agentlin_status = STATES[state]
    failed = state in (TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_REJECTED)
    completed = state == TaskState.TASK_STATE_COMPLETED
    expected: dict[str, Any] = {
        "task_id": task.id, "status": shannon_status,
        "response": {"result": "The capital of France is Paris."} if completed else None,
        "error": f"status text of {TaskState.Name(state)}" if failed else "",
        "created_at": "2025-10-22T10:30:00.000Z", "updated_at": "2025-10-22T10:30:05.000Z",
        "query": "What is the capital of France?", "session_id": "ctx-1",
        "mode": "EXECUTION_MODE_SIMPLE",
    }
    if completed:
        expected["result"] = "The capital of France is Paris."
    assert shannon == expected  # no model_used / provider / usage: absent, as the page shows

    assert agentlin["object"] == "task"
    assert (agentlin["id"], agentlin["session_id"]) == (task.id, "ctx-1")
    assert agentlin["user_id"] == "key:local"
    assert agentlin["status"] == agentlin_status
    assert agentlin["created_at"] == 1761129000
    assert agentlin["previous_task_id"] == "task-before"
    assert agentlin["metadata"] == {}
    assert "usage" not in agentlin and "input_required" not in agentlin
    if failed:
        message = f"status text of {TaskState.Name(state)}"
        assert agentlin["error"] == {"code": -32603, "message": message}
    else:
        assert "error" not in agentlin
    if completed:
        assert agentlin["output"] == [{
            "type": "message", "id": "art-1", "role": "assistant", "status": "completed",
            "content": [{"type": "text", "text": "The capital of France is Paris."}]}]


@pytest.mark.parametrize("state", list(STATES), ids=TaskState.Name)
async def test_usage_model_and_provider_come_from_metadata(
    app_stores: tuple[httpx.AsyncClient, Stores], state: TaskState
) -> None:
    http, stores = app_stores
    shannon, agentlin = await views(http, stores, make_task(state, metadata=LLM_METADATA))
    assert shannon["status"] == STATES[state][0]
    assert shannon["model_used"] == "gpt-5-mini-2025-08-07"
    assert shannon["provider"] == "openai"
    assert shannon["usage"] == {"total_tokens": 300, "input_tokens": 200, "output_tokens": 100,
                                "estimated_cost": 0.006}
    assert agentlin["status"] == STATES[state][1]
    assert agentlin["usage"] == LLM_METADATA["usage"]
    assert agentlin["metadata"] == LLM_METADATA


async def test_usage_without_a_price_has_no_estimated_cost(
    app_stores: tuple[httpx.AsyncClient, Stores]
) -> None:
    http, stores = app_stores
    usage = {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12, "currency": "USD"}
    shannon, _ = await views(http, stores, make_task(TaskState.TASK_STATE_COMPLETED,
                                                     metadata={"usage": usage}))
    assert shannon["usage"] == {"total_tokens": 12, "input_tokens": 5, "output_tokens": 7}
    assert "model_used" not in shannon and "provider" not in shannon


async def test_a_run_stopped_by_its_timeout(app_stores: tuple[httpx.AsyncClient, Stores]) -> None:
    http, stores = app_stores
    error = {"code": "timeout", "message": "the model did not answer within 30 s"}
    task = make_task(TaskState.TASK_STATE_FAILED, metadata={**LLM_METADATA, "error": error})
    shannon, agentlin = await views(http, stores, task)
    assert shannon["status"] == "TASK_STATUS_TIMEOUT"
    assert shannon["error"] == "the model did not answer within 30 s"
    assert shannon["response"] is None
    assert agentlin["status"] == "expired"
    assert agentlin["error"] == {"code": -32603, "message": "the model did not answer within 30 s",
                                 "data": {"code": "timeout"}}


async def test_a_provider_error_is_a_failure_with_its_message(
    app_stores: tuple[httpx.AsyncClient, Stores]
) -> None:
    http, stores = app_stores
    error = {"code": "provider_error", "message": "LLM service unavailable: connection timeout"}
    shannon, agentlin = await views(http, stores, make_task(TaskState.TASK_STATE_FAILED,
                                                            metadata={"error": error}))
    assert shannon["status"] == "TASK_STATUS_FAILED"
    assert shannon["error"] == "LLM service unavailable: connection timeout"
    assert agentlin["status"] == "failed"
    assert agentlin["error"]["data"] == {"code": "provider_error"}


async def test_input_required_with_a_tool_call(app_stores: tuple[httpx.AsyncClient, Stores]) -> None:
    http, stores = app_stores
    call = {"type": "tool_call", "call_id": "call-7", "name": "get_weather",
            "arguments": {"city": "Paris"}}
    value = Value()
    value.struct_value.update(call)
    task = make_task(TaskState.TASK_STATE_INPUT_REQUIRED,
                     status_parts=[Part(text="I need the weather"), Part(data=value)])
    shannon, agentlin = await views(http, stores, task)
    assert shannon["status"] == "TASK_STATUS_RUNNING"
    assert shannon["mode"] == "EXECUTION_MODE_STANDARD"  # it called a tool
    assert agentlin["status"] == "input-required"
    assert agentlin["input_required"] == {
        "type": "tool_call", "call_id": "call-7", "name": "get_weather",
        "arguments": json.dumps({"city": "Paris"}), "id": "call-7", "status": "in_progress",
        "language": "json"}
    assert agentlin["output"] == []  # the tool call is the input_required, not an output


async def test_input_required_without_a_tool_call_shows_the_question(
    app_stores: tuple[httpx.AsyncClient, Stores]
) -> None:
    http, stores = app_stores
    _, agentlin = await views(http, stores, make_task(TaskState.TASK_STATE_INPUT_REQUIRED))
    assert "input_required" not in agentlin
    assert agentlin["output"][0]["content"] == [
        {"type": "text", "text": "status text of TASK_STATE_INPUT_REQUIRED"}]
    assert agentlin["output"][0]["status"] == "in_progress"


async def test_a_json_answer_is_parsed_into_response(
    app_stores: tuple[httpx.AsyncClient, Stores]
) -> None:
    http, stores = app_stores
    answer = '{"capital": "Paris", "since": 987}'
    shannon, _ = await views(http, stores, make_task(TaskState.TASK_STATE_COMPLETED, answer=answer))
    assert shannon["result"] == answer
    assert shannon["response"] == {"capital": "Paris", "since": 987}
