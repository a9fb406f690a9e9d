"""Shannon's task API over A2A tasks: submit, status and cancel.

- ``POST /api/v1/tasks`` ``{"query", "session_id"?, "mode"?, "context"?}``: the query
  is sent to the agent as an A2A user message (``session_id`` is its contextId)
  through the agent's handler, returning at the first commit; answers
  ``{"task_id", "status", "message", "created_at"}`` with ``X-Workflow-ID`` and
  ``X-Session-ID``.
- ``GET /api/v1/tasks/{id}``: the flat status object (``mapping.shannon_task``),
  ``X-Workflow-ID: <id>``.
- ``POST /api/v1/tasks/{id}/cancel``: 202 ``{"success": true, "message", "task_id"}``.

Credentials are the server's own (``X-API-Key``, or a bearer key or token);
errors are ``{"error": "..."}`` (``seeds.errors``).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    Task,
)
from a2a.utils.errors import TaskNotFoundError
from google.protobuf.struct_pb2 import Struct
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from a2a_server.errors import BadRequest, json_response
from a2a_server.field_errors import first_problem
from a2a_server.protocol.quotas import add_rate_limit_fields, quotas_of
from a2a_server.protocol.rest import error_with_rate_limit_fields
from a2a_server.protocol.runtime import build_call_context
from a2a_server.seeds import mapping
from a2a_server.seeds.errors import shannon_error
from a2a_server.seeds.lookup import MAX_ID_CHARS, agent_for_submit, find_task

Endpoint = Callable[[Request], Awaitable[Response]]
WORKFLOW_HEADER = "X-Workflow-ID"
MAX_QUERY_CHARS = 100_000


class SubmitBody(BaseModel):
    """The body of ``POST /api/v1/tasks`` (the fields this server acts on)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    # Echoed in the X-Session-ID header: printable ASCII, no outer spaces (a header cannot
    # carry the rest; it was a 500 after the task had been stored).
    session_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_CHARS,
                                   pattern=r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$")
    mode: Literal["simple", "standard", "complex"] | None = None
    context: dict[str, Any] | None = None


def shannon_endpoint(func: Endpoint) -> Endpoint:
    """Every failure becomes Shannon's ``{"error": ...}``; no traceback reaches a client."""

    @functools.wraps(func)
    async def wrapper(request: Request) -> Response:
        try:
            response = await func(request)
        except Exception as exc:  # noqa: BLE001 - the one boundary that renders errors
            return error_with_rate_limit_fields(request, exc, shannon_error(exc))
        add_rate_limit_fields(request, response)
        return response

    return wrapper


async def _submit_body(request: Request) -> SubmitBody:
    try:
        raw = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Invalid request body: {exc}") from exc
    if not isinstance(raw, dict):
        raise BadRequest("Invalid request body: must be a JSON object")
    try:
        return SubmitBody.model_validate(raw)
    except ValidationError as exc:
        where, message = first_problem(exc, "(body)")
        if where == "query" and exc.errors()[0]["type"] in ("missing", "string_too_short"):
            raise BadRequest("Query is required") from exc
        raise BadRequest(f"Invalid request body: '{where}': {message}") from exc


def _user_message(body: SubmitBody, created: datetime) -> Message:
    metadata = Struct()
    metadata.update({mapping.CREATED_AT: created.isoformat().replace("+00:00", "Z")})
    if body.mode is not None:
        metadata.update({mapping.MODE: body.mode})
    if body.context is not None:
        metadata.update({"context": body.context})
    return Message(role=Role.ROLE_USER, message_id=str(uuid.uuid4()),
                   context_id=body.session_id or str(uuid.uuid4()),
                   parts=[Part(text=body.query)], metadata=metadata)


@shannon_endpoint
async def submit_task(request: Request) -> Response:
    """POST /api/v1/tasks"""
    runtime, _, tenant = await agent_for_submit(request)
    body = await _submit_body(request)
    created = datetime.now(UTC)
    message = _user_message(body, created)
    params = SendMessageRequest(message=message,
                                configuration=SendMessageConfiguration(return_immediately=True))
    # The tenant's concurrent_tasks and tokens_per_day hold here as on every A2A send.
    holds = await quotas_of(request).hold_send(tenant, stream=False,
                                               agent=runtime.agent.agent_id)
    try:
        result = await runtime.handler.on_message_send(params, build_call_context(request))
    finally:
        if holds is not None:
            await holds.settle()
    if not isinstance(result, Task):
        raise BadRequest("the agent answered with a message and created no task", status=502)
    answer = {"task_id": result.id,
              "status": mapping.shannon_status(result, mapping.metadata_of(result)),
              "message": "Task submitted successfully",
              "created_at": created.isoformat().replace("+00:00", "Z")}
    return json_response(answer, headers={WORKFLOW_HEADER: result.id,
                                          "X-Session-ID": result.context_id})


@shannon_endpoint
async def get_task(request: Request) -> Response:
    """GET /api/v1/tasks/{task_id}"""
    task_id = request.path_params["task_id"]
    found = await find_task(request, task_id)
    if found is None:
        raise TaskNotFoundError
    return json_response(mapping.shannon_task(found[2]), headers={WORKFLOW_HEADER: task_id})


@shannon_endpoint
async def cancel_task(request: Request) -> Response:
    """POST /api/v1/tasks/{task_id}/cancel"""
    task_id = request.path_params["task_id"]
    found = await find_task(request, task_id)
    if found is None:
        raise TaskNotFoundError
    runtime = found[0]
    task = await runtime.handler.on_cancel_task(CancelTaskRequest(id=task_id),
                                                build_call_context(request))
    if task is None:
        raise TaskNotFoundError
    return json_response({"success": True, "message": "Task cancelled", "task_id": task_id},
                         status=202, headers={WORKFLOW_HEADER: task_id})
