"""JSON shapes on the wire: A2A 1.0 ProtoJSON, or the A2A 0.3 JSON that Corti clients parse.

0.3 objects are produced with the SDK's own ``a2a.compat.v0_3`` conversions, never
by hand (their Structs printed by ``protojson.message_to_dict`` once ``create_app`` has
run ``sdk_printing.install()``; importing this module patches nothing).
1.0 objects are ``protojson.to_jsonable``'s: for orjson (they may hold
``orjson.Fragment``s), never to be mutated.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import orjson
from a2a.compat.v0_3 import conversions
from a2a.server.events import Event
from a2a.types.a2a_pb2 import Message, Task
from a2a.utils.proto_utils import to_stream_response
from pydantic import BaseModel

from a2a_server.errors import UnreadableRecord
from a2a_server.protocol.protojson import to_jsonable

logger = logging.getLogger(__name__)
_Item = TypeVar("_Item", Task, Message)
_Rendered = TypeVar("_Rendered")


def render_each(items: Iterable[_Item], render: Callable[[_Item], Any]) -> list[Any]:
    """``render`` of every item that can be rendered; the others are logged and left out.

    One record that cannot be rendered (stored before a check refused its kind, or
    written by a faulty agent) must not make the whole list unreadable.
    """
    out = []
    for item in items:
        try:
            out.append(render(item))
        except Exception as exc:  # noqa: BLE001 - any failure of this one record
            logger.warning("%s %s cannot be rendered; left out of the list: %s",
                           type(item).__name__.lower(), getattr(item, "id", "") or
                           getattr(item, "message_id", ""), exc)
    return out


def render_one(what: str, render: Callable[[], _Rendered]) -> _Rendered:
    """``render()``; a record that cannot be rendered is logged and answered as such.

    Raises:
        UnreadableRecord: the record cannot be decoded or rendered.
    """
    try:
        return render()
    except Exception as exc:
        logger.warning("%s cannot be rendered: %s", what, exc)
        raise UnreadableRecord(what) from exc


def _dump03(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def task_json(task: Task, v03: bool) -> dict[str, Any]:
    """A Task in the requested version's shape."""
    if v03:
        return _dump03(conversions.to_compat_task(task))
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

    def clear(self) -> None:
        """Forget every render."""
        self._entries.clear()


_render_cache = _RenderCache()


def render_cache_size() -> int:
    """How many renders are remembered now."""
    return len(_render_cache._entries)


def clear_render_cache() -> None:
    """Forget the recent renders (an idle replica gives the memory back)."""
    _render_cache.clear()


def task_json_bytes(task: Task, v03: bool) -> bytes:
    """``task_json`` serialized, from a bounded cache of recent renders."""
    return _render_cache.render(task.SerializeToString(deterministic=True), v03)


def stored_task_json_bytes(serialized: bytes, v03: bool) -> bytes:
    """``task_json_bytes`` of a task given serialized (as a store returned it)."""
    return _render_cache.render(serialized, v03)


def message_json(message: Message, v03: bool) -> dict[str, Any]:
    """A Message in the requested version's shape."""
    if v03:
        return _dump03(conversions.to_compat_message(message))
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
        return _dump03(conversions.to_compat_stream_response(response).result)
    return to_jsonable(response)


def context_item_json(item: Task | Message, v03: bool) -> dict[str, Any]:
    """A context item: 0.3 objects carry ``kind``; 1.0 items are wrapped by type."""
    if v03:
        return task_json(item, True) if isinstance(item, Task) else message_json(item, True)
    return send_result_json(item, False)
