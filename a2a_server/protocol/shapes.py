"""JSON shapes on the wire: A2A 1.0 ProtoJSON, or the A2A 0.3 JSON that Corti clients parse.

0.3 objects are produced with the SDK's own ``a2a.compat.v0_3`` conversions,
never by hand. 1.0 objects are ``protojson.to_jsonable``'s: for orjson (they may
hold ``orjson.Fragment``s), never to be mutated.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import orjson
from a2a.compat.v0_3 import conversions
from a2a.server.events import Event
from a2a.types.a2a_pb2 import Message, Task
from a2a.utils.proto_utils import to_stream_response
from pydantic import BaseModel

from a2a_server.protocol.protojson import integral, to_jsonable


def _dump03(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


# The 0.3 conversions print Structs with MessageToDict (integers as 42.0); these walk
# only where a Struct was printed (metadata, data parts) and print integral numbers as
# integers, like the 1.0 renderer.
def _ints(value: Any) -> Any:
    if isinstance(value, float):
        return integral(value)
    if isinstance(value, dict):
        return {key: _ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_ints(item) for item in value]
    return value


def _metadata03(obj: dict[str, Any]) -> None:
    if "metadata" in obj:
        obj["metadata"] = _ints(obj["metadata"])


def _parts03(obj: dict[str, Any]) -> None:
    _metadata03(obj)
    for part in obj.get("parts", ()):
        _metadata03(part)
        if "data" in part:
            part["data"] = _ints(part["data"])


def _status03(obj: dict[str, Any]) -> None:
    message = obj.get("status", {}).get("message")
    if message is not None:
        _parts03(message)


def _task03(task: dict[str, Any]) -> dict[str, Any]:
    _metadata03(task)
    _status03(task)
    for message in task.get("history", ()):
        _parts03(message)
    for artifact in task.get("artifacts", ()):
        _parts03(artifact)
    return task


def _event03(event: dict[str, Any]) -> dict[str, Any]:
    kind = event.get("kind")
    if kind == "task":
        return _task03(event)
    if kind == "message":
        _parts03(event)
        return event
    _metadata03(event)
    _status03(event)
    if "artifact" in event:
        _parts03(event["artifact"])
    return event


def task_json(task: Task, v03: bool) -> dict[str, Any]:
    """A Task in the requested version's shape."""
    if v03:
        return _task03(_dump03(conversions.to_compat_task(task)))
    return to_jsonable(task)


class _RenderCache:
    """Rendered JSON of recently served tasks, keyed by their serialized bytes.

    A task's serialized bytes determine its JSON completely, so a hit can never
    be stale; clients polling a task are served without re-rendering it. A store
    that holds tasks as bytes (Redis) hands them over as they are: a hit then
    costs no protobuf parse at all, whatever the number of messages.
    """

    def __init__(self, max_entries: int = 4096, max_key_bytes: int = 16_384) -> None:
        self._entries: OrderedDict[tuple[bool, bytes], bytes] = OrderedDict()
        self._max_entries = max_entries
        self._max_key_bytes = max_key_bytes

    def render(self, serialized: bytes, v03: bool) -> bytes:
        if len(serialized) > self._max_key_bytes:
            return orjson.dumps(task_json(Task.FromString(serialized), v03))
        key = (v03, serialized)
        hit = self._entries.get(key)
        if hit is not None:
            self._entries.move_to_end(key)
            return hit
        rendered = orjson.dumps(task_json(Task.FromString(serialized), v03))
        self._entries[key] = rendered
        if len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return rendered


_render_cache = _RenderCache()


def task_json_bytes(task: Task, v03: bool) -> bytes:
    """``task_json`` serialized, from a bounded cache of recent renders."""
    return _render_cache.render(task.SerializeToString(deterministic=True), v03)


def stored_task_json_bytes(serialized: bytes, v03: bool) -> bytes:
    """``task_json_bytes`` of a task given serialized (as a store returned it)."""
    return _render_cache.render(serialized, v03)


def message_json(message: Message, v03: bool) -> dict[str, Any]:
    """A Message in the requested version's shape."""
    if v03:
        message_dict = _dump03(conversions.to_compat_message(message))
        _parts03(message_dict)
        return message_dict
    return to_jsonable(message)


def send_result_json(result: Task | Message, v03: bool) -> dict[str, Any]:
    """``{"task": ...}`` or ``{"message": ...}`` (Corti v1 and A2A 1.0 REST agree on this)."""
    if isinstance(result, Task):
        return {"task": task_json(result, v03)}
    return {"message": message_json(result, v03)}


def stream_event_json(event: Event, v03: bool) -> dict[str, Any]:
    """One streamed event: a 1.0 StreamResponse, or a bare 0.3 event with its ``kind``."""
    response = to_stream_response(event)
    if v03:
        return _event03(_dump03(conversions.to_compat_stream_response(response).result))
    return to_jsonable(response)


def context_item_json(item: Task | Message, v03: bool) -> dict[str, Any]:
    """A context item: 0.3 objects carry ``kind``; 1.0 items are wrapped by type."""
    if v03:
        return task_json(item, True) if isinstance(item, Task) else message_json(item, True)
    return send_result_json(item, False)
