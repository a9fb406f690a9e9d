"""The stores' hand-built protobuf bytes are what the protobuf library would build."""

from __future__ import annotations

from a2a.types.a2a_pb2 import (
    Message,
    Part,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatusUpdateEvent,
)
from a2a.utils.proto_utils import to_stream_response

from a2a_server.stores._wire import frame, stream_response_bytes


def test_stream_response_bytes_are_the_serialized_stream_response_of_each_event() -> None:
    task = Task(id="t" * 200, context_id="c")
    task.status.state = TaskState.TASK_STATE_COMPLETED
    task.history.add(message_id="m", parts=[Part(text="x" * 300)])
    artifact = TaskArtifactUpdateEvent(task_id="t", context_id="c")
    artifact.artifact.parts.add(text="y" * 70_000)  # a length over two varint bytes
    status = TaskStatusUpdateEvent(task_id="t", context_id="c")
    status.status.state = TaskState.TASK_STATE_WORKING
    events = [task, Message(message_id="m"), status, artifact,
              Task(), Message(), TaskStatusUpdateEvent(), TaskArtifactUpdateEvent()]
    for event in events:
        assert stream_response_bytes(event) == to_stream_response(event).SerializeToString()


def test_a_framed_message_is_a_serialized_tasks_history_entry() -> None:
    for size in (0, 1, 100, 127, 128, 300, 16_383, 16_384, 70_000):
        message = Message(message_id="m", parts=[Part(text="x" * size)]) if size else Message()
        task = Task(history=[message])
        assert frame(message.SerializeToString()) == task.SerializeToString()
