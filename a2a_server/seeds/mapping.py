"""How an A2A task reads in Shannon's and agentlin's task objects (pure functions).

``docs/seed-apis.md`` holds the table these functions implement. Usage, model,
provider and error come from ``Task.metadata`` as ``a2a_server.agents.usage``
lays down; a field whose source is absent is left out, as the pages show.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from a2a.types.a2a_pb2 import Message, Part, Role, Task, TaskState

from a2a_server.agents.usage import ERROR, MODEL_USED, PROVIDER, USAGE, Usage
from a2a_server.protocol.protojson import to_dict
from a2a_server.stores.base import TERMINAL_STATES

# Set by POST /api/v1/tasks on the user's message (A2A tasks carry no creation time).
CREATED_AT = "created_at"
MODE = "mode"
TOOL_CALL = "tool_call"
TIMEOUT_CODE = "timeout"

_SHANNON_STATUS = {
    TaskState.TASK_STATE_SUBMITTED: "TASK_STATUS_QUEUED",
    TaskState.TASK_STATE_WORKING: "TASK_STATUS_RUNNING",
    # A task waiting on its caller is a workflow still running (Temporal's view):
    # Shannon's pollers keep polling, as they must.
    TaskState.TASK_STATE_INPUT_REQUIRED: "TASK_STATUS_RUNNING",
    TaskState.TASK_STATE_AUTH_REQUIRED: "TASK_STATUS_RUNNING",
    TaskState.TASK_STATE_COMPLETED: "TASK_STATUS_COMPLETED",
    TaskState.TASK_STATE_CANCELED: "TASK_STATUS_CANCELLED",
    TaskState.TASK_STATE_FAILED: "TASK_STATUS_FAILED",
    TaskState.TASK_STATE_REJECTED: "TASK_STATUS_FAILED",
}
_AGENTLIN_STATUS = {
    TaskState.TASK_STATE_SUBMITTED: "queued",
    TaskState.TASK_STATE_WORKING: "working",
    TaskState.TASK_STATE_INPUT_REQUIRED: "input-required",
    TaskState.TASK_STATE_AUTH_REQUIRED: "paused",
    TaskState.TASK_STATE_COMPLETED: "completed",
    TaskState.TASK_STATE_CANCELED: "canceled",
    TaskState.TASK_STATE_FAILED: "failed",
    TaskState.TASK_STATE_REJECTED: "failed",
}
_MODES = ("simple", "standard", "complex")
# agentlin's error object is a JSON-RPC error object: a failed run is an internal error.
AGENTLIN_RUN_ERROR = -32603


def _struct(value: Any) -> dict[str, Any]:
    return to_dict(value) if value.fields else {}


def _text(parts: Any) -> str:
    return "".join(part.text for part in parts if part.WhichOneof("content") == "text")


def _data(part: Part) -> Any:
    return to_dict(part.data) if part.WhichOneof("content") == "data" else None


def _timestamp(value: Any) -> datetime:
    return value.ToDatetime(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _first_user_message(task: Task) -> Message | None:
    return next((m for m in task.history if m.role == Role.ROLE_USER), None)


def final_text(task: Task) -> str:
    """The agent's answer: its artifacts' text, else its last status message's."""
    text = "".join(_text(artifact.parts) for artifact in task.artifacts)
    if text or not task.status.HasField("message"):
        return text
    return _text(task.status.message.parts)


def query_of(task: Task) -> str:
    """The text of the first user message (what was asked)."""
    first = _first_user_message(task)
    return "" if first is None else _text(first.parts)


def metadata_of(task: Task) -> dict[str, Any]:
    """``Task.metadata`` as a plain dict."""
    return _struct(task.metadata)


def error_of(metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The ``error`` object the usage contract puts on a failed task, if well formed."""
    error = metadata.get(ERROR)
    return error if isinstance(error, dict) else None


def timed_out(task: Task, metadata: dict[str, Any]) -> bool:
    """A run stopped by its timeout: FAILED with ``error.code == "timeout"``."""
    error = error_of(metadata)
    return (task.status.state == TaskState.TASK_STATE_FAILED and error is not None
            and error.get("code") == TIMEOUT_CODE)


def usage_of(metadata: dict[str, Any]) -> dict[str, Any] | None:
    """``{total_tokens, input_tokens, output_tokens[, estimated_cost]}``, or None if absent."""
    if not isinstance(metadata.get(USAGE), dict):
        return None
    usage = Usage.from_metadata(metadata[USAGE])
    out: dict[str, Any] = {"total_tokens": usage.total_tokens,
                           "input_tokens": usage.input_tokens,
                           "output_tokens": usage.output_tokens}
    if usage.estimated_cost is not None:
        out["estimated_cost"] = usage.estimated_cost
    return out


def tool_call_of(task: Task) -> dict[str, Any] | None:
    """The tool call an input-required task's status message carries, if any."""
    if not task.status.HasField("message"):
        return None
    for part in task.status.message.parts:
        data = _data(part)
        if isinstance(data, dict) and data.get("type") == TOOL_CALL:
            return data
    return None


def _failure_message(task: Task, metadata: dict[str, Any]) -> str:
    error = error_of(metadata)
    if error is not None and isinstance(error.get("message"), str) and error["message"]:
        return str(error["message"])
    if task.status.HasField("message"):
        text = _text(task.status.message.parts)
        if text:
            return text
    if task.status.state == TaskState.TASK_STATE_REJECTED:
        return "the agent rejected the task"
    return "the task failed"


def times_of(task: Task) -> tuple[datetime | None, datetime | None]:
    """(created, updated): the submit time recorded on the first message, the status time."""
    updated = _timestamp(task.status.timestamp) if task.status.HasField("timestamp") else None
    created = None
    first = _first_user_message(task)
    if first is not None and first.metadata.fields:
        raw = _struct(first.metadata).get(CREATED_AT)
        if isinstance(raw, str):
            try:
                created = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                created = None
    return created or updated, updated


def _mode(task: Task) -> str:
    first = _first_user_message(task)
    asked = _struct(first.metadata).get(MODE) if first is not None and first.metadata.fields else None
    if isinstance(asked, str) and asked in _MODES:
        return f"EXECUTION_MODE_{asked.upper()}"
    messages = [*task.history, *([task.status.message] if task.status.HasField("message") else [])]
    for message in messages:
        for part in message.parts:
            data = _data(part)
            if isinstance(data, dict) and data.get("type") == TOOL_CALL:
                return "EXECUTION_MODE_STANDARD"
    return "EXECUTION_MODE_SIMPLE"


def shannon_status(task: Task, metadata: dict[str, Any]) -> str:
    """``TASK_STATUS_*`` of an A2A task."""
    if timed_out(task, metadata):
        return "TASK_STATUS_TIMEOUT"
    return _SHANNON_STATUS.get(task.status.state, "TASK_STATUS_UNSPECIFIED")


def _shannon_response(text: str) -> dict[str, Any]:
    """The parsed answer when it is a JSON object; else ``{"result": text}``.

    The page's own samples read ``response["result"]`` of a completed task, so a
    plain-text answer is given there too.
    """
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"result": text}


def shannon_task(task: Task) -> dict[str, Any]:
    """Shannon's flat task-status object for an A2A task."""
    metadata = metadata_of(task)
    status = shannon_status(task, metadata)
    created, updated = times_of(task)
    out: dict[str, Any] = {"task_id": task.id, "status": status}
    if task.status.state == TaskState.TASK_STATE_COMPLETED:
        text = final_text(task)
        out["result"] = text
        out["response"] = _shannon_response(text)
    else:
        out["response"] = None
    failed = task.status.state in (TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_REJECTED)
    out["error"] = _failure_message(task, metadata) if failed else ""
    if created is not None and updated is not None:
        out["created_at"], out["updated_at"] = _iso(created), _iso(updated)
    out["query"] = query_of(task)
    out["session_id"] = task.context_id
    out["mode"] = _mode(task)
    for key in (MODEL_USED, PROVIDER):
        if isinstance(metadata.get(key), str):
            out[key] = metadata[key]
    usage = usage_of(metadata)
    if usage is not None:
        out["usage"] = usage
    return out


def agentlin_status(task: Task, metadata: dict[str, Any]) -> str:
    """agentlin's status of an A2A task."""
    if timed_out(task, metadata):
        return "expired"
    return _AGENTLIN_STATUS.get(task.status.state, "created")


def _content(part: Part) -> dict[str, Any] | None:
    kind = part.WhichOneof("content")
    if kind == "text":
        return {"type": "text", "text": part.text}
    if kind == "data":
        return {"type": "data", "data": _data(part)}
    if kind == "url":
        return {"type": "file", "url": part.url, "filename": part.filename,
                "media_type": part.media_type}
    return None


def _output_message(item_id: str, parts: Any, done: bool) -> dict[str, Any]:
    content = [c for c in (_content(p) for p in parts) if c is not None]
    return {"type": "message", "id": item_id, "role": "assistant", "content": content,
            "status": "completed" if done else "in_progress"}


def agentlin_output(task: Task) -> list[dict[str, Any]]:
    """Each artifact as an output message; without artifacts, the agent's status message."""
    done = task.status.state in TERMINAL_STATES
    out = [_output_message(a.artifact_id, a.parts, done) for a in task.artifacts]
    if not out and task.status.HasField("message"):
        message = task.status.message
        if message.role == Role.ROLE_AGENT and tool_call_of(task) is None:
            out.append(_output_message(message.message_id, message.parts, done))
    return out


def agentlin_input_required(task: Task) -> dict[str, Any] | None:
    """agentlin's ``input_required`` tool call, for an input-required task carrying one."""
    if task.status.state != TaskState.TASK_STATE_INPUT_REQUIRED:
        return None
    call = tool_call_of(task)
    if call is None:
        return None
    arguments = call.get("arguments", {})
    call_id = str(call.get("call_id", ""))
    return {"type": TOOL_CALL, "call_id": call_id, "name": str(call.get("name", "")),
            "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
            "id": call_id, "status": "in_progress", "language": "json"}


def _agentlin_error(task: Task, metadata: dict[str, Any]) -> dict[str, Any] | None:
    if task.status.state not in (TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_REJECTED):
        return None
    error: dict[str, Any] = {"code": AGENTLIN_RUN_ERROR,
                             "message": _failure_message(task, metadata)}
    source = error_of(metadata)
    if source is not None and isinstance(source.get("code"), str):
        error["data"] = {"code": source["code"]}
    return error


def agentlin_task(task: Task, user_id: str) -> dict[str, Any]:
    """agentlin's ``{"object": "task", ...}`` for an A2A task, read by ``user_id``."""
    metadata = metadata_of(task)
    created, _ = times_of(task)
    out: dict[str, Any] = {"object": "task", "id": task.id, "session_id": task.context_id,
                           "user_id": user_id, "status": agentlin_status(task, metadata)}
    if created is not None:
        out["created_at"] = int(created.timestamp())
    out["output"] = agentlin_output(task)
    usage = metadata.get(USAGE)
    if isinstance(usage, dict):
        out["usage"] = Usage.from_metadata(usage).to_metadata()
    optional = {"error": _agentlin_error(task, metadata),
                "input_required": agentlin_input_required(task)}
    out.update({key: value for key, value in optional.items() if value is not None})
    out["metadata"] = metadata
    first = _first_user_message(task)
    if first is not None and first.reference_task_ids:
        out["previous_task_id"] = first.reference_task_ids[0]
    return out
