"""How both stores keep a task as bytes: a head, and the history as framed messages.

The head is the task without its history. Each message is kept framed as an
entry of a Task's ``history`` field (tag, length, Message protobuf), so
``head + b"".join(messages)`` is a serialized Task (protobuf merges repeated
fields across the bytes): a view of the last N messages is a slice and a
join, parsed once or not at all, and a save writes only the new messages.
"""

from __future__ import annotations

from collections.abc import Iterable

from a2a.types.a2a_pb2 import (
    Message,
    StreamResponse,
    Task,
    TaskArtifactUpdateEvent,
    TaskStatusUpdateEvent,
)


def head_of(task: Task) -> Task:
    """The task without its history."""
    head = Task(id=task.id, context_id=task.context_id)
    if task.HasField("status"):
        head.status.CopyFrom(task.status)
    head.artifacts.extend(task.artifacts)
    if task.HasField("metadata"):
        head.metadata.CopyFrom(task.metadata)
    return head


def varint(value: int) -> bytes:
    """Protobuf's base-128 varint."""
    if 0 <= value <= 0x7F:
        return _ONE_BYTE[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_ONE_BYTE = [bytes((n,)) for n in range(0x80)]

# A Task's ``history`` entry on the wire: tag (field number, length-delimited), length, bytes.
_HISTORY_TAG = varint((Task.DESCRIPTOR.fields_by_name["history"].number << 3) | 2)


def frame(message: bytes) -> bytes:
    """A serialized message as one entry of a Task's ``history`` field."""
    return _HISTORY_TAG + varint(len(message)) + message


def framed(messages: Iterable[bytes]) -> bytes:
    """Serialized messages as the bytes of a Task's ``history`` field."""
    return b"".join([frame(m) for m in messages])


def _field_tag(field: str) -> bytes:
    return varint((StreamResponse.DESCRIPTOR.fields_by_name[field].number << 3) | 2)


# A StreamResponse holding each kind of event: the event's field tag (length-delimited).
_STREAM_TAGS: dict[type, bytes] = {
    Task: _field_tag("task"),
    Message: _field_tag("message"),
    TaskStatusUpdateEvent: _field_tag("status_update"),
    TaskArtifactUpdateEvent: _field_tag("artifact_update"),
}


def stream_response_bytes(event: Task | Message | TaskStatusUpdateEvent
                          | TaskArtifactUpdateEvent) -> bytes:
    """``to_stream_response(event).SerializeToString()`` without copying the event into a
    StreamResponse: its field's tag, length and the event's own bytes (the same bytes)."""
    tag = _STREAM_TAGS.get(type(event))
    if tag is None:  # not an event type (as ``to_stream_response``: an empty response)
        return b""
    payload = event.SerializeToString()
    return tag + varint(len(payload)) + payload
