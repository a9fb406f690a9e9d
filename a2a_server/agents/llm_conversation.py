"""What the model is shown: a context's stored messages as Chat Completions messages.

Everything the model saw or did is in the store, as A2A messages, so any replica
can rebuild the conversation (multi-turn, and a task resumed after a client tool):

- a user message's text is a ``user`` message; its DataParts
  ``{"type": "tool_result", "call_id", "output"}`` answer pending tool calls;
- an agent message's DataParts ``{"type": "tool_call", "call_id", "name",
  "arguments"}`` are one ``assistant`` message with ``tool_calls`` (a call id seen
  before is a reminder, not a new call), its ``tool_result`` DataParts (server
  tools, experts) the ``tool`` answers, its text an ``assistant`` message.

A ``tool`` message must follow its call: a result for an unknown or already
answered call id is dropped, and a user text that arrives while calls are still
unanswered first answers them with "not run" (the client replied with text
instead: the model is told and sees the text).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from a2a.types.a2a_pb2 import Message, Part, Role, Task
from google.protobuf.json_format import MessageToDict

from a2a_server.stores.base import Scope, Stores

TOOL_CALL = "tool_call"
TOOL_RESULT = "tool_result"
NOT_RUN = "The client did not run this tool; it replied with a message instead."


def _plain(value: Any) -> Any:
    """Protobuf's Struct holds every number as a double: give integers back as integers."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def part_data(part: Part) -> dict[str, Any] | None:
    """A DataPart's object (None for other parts or non-objects), integers as integers."""
    if part.WhichOneof("content") != "data":
        return None
    value = _plain(MessageToDict(part.data))
    return value if isinstance(value, dict) else None


def text_of(message: Message) -> str:
    """The message's text parts, joined by newlines."""
    return "\n".join(p.text for p in message.parts if p.WhichOneof("content") == "text")


def tool_results(message: Message) -> list[dict[str, Any]]:
    """The ``tool_result`` DataParts of a message."""
    out = []
    for part in message.parts:
        data = part_data(part)
        if data is not None and data.get("type") == TOOL_RESULT:
            out.append(data)
    return out


def tool_calls(message: Message) -> list[dict[str, Any]]:
    """The ``tool_call`` DataParts of a message."""
    out = []
    for part in message.parts:
        data = part_data(part)
        if data is not None and data.get("type") == TOOL_CALL and isinstance(data.get("call_id"), str):
            out.append(data)
    return out


def _output(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class Conversation:
    """Chat Completions messages built from A2A messages, keeping calls and results paired."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.pending: dict[str, dict[str, Any]] = {}  # call id -> its tool_call DataPart
        self._seen: set[str] = set()

    def add(self, message: Message) -> None:
        """Append one stored message."""
        if message.role == Role.ROLE_AGENT:
            self._add_agent(message)
        else:
            self._add_user(message)

    def _add_agent(self, message: Message) -> None:
        every = tool_calls(message)
        calls = [c for c in every if c["call_id"] not in self._seen]  # the rest: reminders
        if calls:
            self.messages.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": c["call_id"], "type": "function",
                 "function": {"name": str(c.get("name", "")),
                              "arguments": json.dumps(c.get("arguments") or {})}}
                for c in calls]})
            for call in calls:
                self._seen.add(call["call_id"])
                self.pending[call["call_id"]] = call
        self._answer(tool_results(message))
        text = text_of(message)
        if text and not every:  # a message asking for tools is not an answer
            self._close_pending()
            self.messages.append({"role": "assistant", "content": text})

    def _add_user(self, message: Message) -> None:
        self._answer(tool_results(message))
        text = text_of(message)
        if text:
            self._close_pending()
            self.messages.append({"role": "user", "content": text})

    def _answer(self, results: Iterable[dict[str, Any]]) -> None:
        for result in results:
            call_id = result.get("call_id")
            if isinstance(call_id, str) and self.pending.pop(call_id, None) is not None:
                self.messages.append({"role": "tool", "tool_call_id": call_id,
                                      "content": _output(result.get("output", ""))})

    def _close_pending(self) -> None:
        for call_id in list(self.pending):
            self.messages.append({"role": "tool", "tool_call_id": call_id, "content": NOT_RUN})
        self.pending.clear()


def task_messages(task: Task) -> list[Message]:
    """A task's messages in order: its history, then its status message."""
    messages = list(task.history)
    if task.status.HasField("message"):
        messages.append(task.status.message)
    return messages


async def earlier_messages(stores: Stores, scope: Scope, context_id: str, current_task: str,
                           max_items: int) -> list[Message]:
    """The messages of the context's last ``max_items`` items before ``current_task``."""
    if max_items <= 0 or not context_id:
        return []
    head = await stores.contexts.page(scope, context_id, 0, 0)
    if head is None:
        return []
    offset = max(head.total - max_items - 1, 0)  # one more: the current task may be in it
    page = await stores.contexts.page(scope, context_id, max_items + 1, offset)
    if page is None:
        return []
    out: list[Message] = []
    for item in page.items:
        if item.message is not None:
            out.append(item.message)
        elif item.task_id and item.task_id != current_task:
            stored = await stores.tasks.load(scope, item.task_id)
            if stored is not None:
                out.extend(task_messages(stored.task))
    return out


def _size(message: dict[str, Any]) -> int:
    """A rough token count (four characters a token), for the context budget."""
    return len(json.dumps(message)) // 4 + 1


def trim(messages: list[dict[str, Any]], max_messages: int | None,
         max_tokens: int | None) -> list[dict[str, Any]]:
    """The newest messages within both limits, starting at a user message.

    Starting at a user message keeps every ``tool`` message after its call.
    """
    keep = len(messages)
    if max_messages is not None:
        keep = min(keep, max_messages)
    if max_tokens is not None:
        total, count = 0, 0
        for message in reversed(messages):
            total += _size(message)
            if total > max_tokens and count:
                break
            count += 1
        keep = min(keep, count)
    start = len(messages) - keep
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    later = [i for i in users if i >= start]
    if later:
        return messages[later[0]:]
    earlier = [i for i in users if i < start]  # the window has no user message: widen it
    return messages[earlier[-1]:] if earlier else messages
