"""How an agent's events change its task: the SDK's ``TaskManager`` rules, without its I/O.

Kept apart from the run so the rules can be read (and tested) on their own:

- a status update moves the current status message into the history, merges
  the event's metadata and replaces the status;
- an artifact update adds, replaces or (``append``) extends an artifact
  (the SDK's own ``append_artifact_to_task``);
- a user message sent into an existing task moves the status message into the
  history first, then is appended (``update_with_message``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from a2a.server.tasks.task_manager import append_artifact_to_task
from a2a.types.a2a_pb2 import (
    Message,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)

from a2a_server.stores._wire import head_of


def new_task(task_id: str, context_id: str, message: Message | None) -> Task:
    """A submitted task holding the user's message (an agent that skipped the Task event)."""
    task = Task(id=task_id, context_id=context_id,
                status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED))
    if message is not None:
        task.history.append(message)
    return task


def append_message(task: Task, message: Message) -> None:
    """A follow-up message: the status message goes to the history first."""
    if task.status.HasField("message"):
        task.history.append(task.status.message)
        task.status.ClearField("message")
    task.history.append(message)


def apply_status(task: Task, event: TaskStatusUpdateEvent) -> None:
    """A new status; the previous status message is kept in the history."""
    if task.status.HasField("message"):
        task.history.append(task.status.message)
    if event.metadata:
        task.metadata.MergeFrom(event.metadata)
    task.status.CopyFrom(event.status)


def apply_artifact(task: Task, event: TaskArtifactUpdateEvent) -> None:
    """Add, replace or extend an artifact.

    Raises:
        InvalidAgentResponseError: ``append`` to an artifact that does not exist.
    """
    append_artifact_to_task(task, event)


def status_event(task: Task, state: TaskState) -> TaskStatusUpdateEvent:
    """A status update moving ``task`` to ``state`` now (what the server writes itself)."""
    status = TaskStatus(state=state)
    status.timestamp.FromDatetime(datetime.now(UTC))
    return TaskStatusUpdateEvent(task_id=task.id, context_id=task.context_id, status=status)


def view(task: Task, history_length: int | None) -> Task:
    """A copy of ``task`` with only its last ``history_length`` messages (None: all).

    Copies only what it returns: the head, and the messages kept.
    """
    out = head_of(task)
    history = task.history
    if history_length is None or history_length >= len(history):
        out.history.extend(history)
    elif history_length > 0:
        out.history.extend(history[len(history) - history_length:])
    return out
