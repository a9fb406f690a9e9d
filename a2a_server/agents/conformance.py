"""The ``conformance`` agent: the behaviours the A2A TCK drives, chosen by message-ID prefix.

The A2A TCK (``a2aproject/a2a-tck``, branch ``1.0-dev``) links each test to
an agent behaviour through the ``messageId`` of the message it sends; its
``scenarios/core_operations.feature`` and ``scenarios/streaming.feature``
define them. The first matching prefix wins (longer prefixes are listed
before the shorter ones they extend):

================================  ==============================================================
prefix                            behaviour
================================  ==============================================================
``tck-stream-artifact-chunked``   working, first chunk "chunk-1 ", then "chunk-2" appended to
                                  the same artifact with lastChunk, completed
``tck-stream-artifact-text``      working, artifact "Streamed text content", completed
``tck-stream-artifact-file``      working, file artifact ``output.txt`` (text/plain), completed
``tck-stream-ordering-001``       working, artifact "Ordered output", completed
``tck-stream-001``                working, artifact "Stream hello from TCK", completed
``tck-stream-002``                completed
``tck-stream-003``                working, artifact "Stream task lifecycle", completed
``test-resubscribe-message-id``   working, wait ``resubscribe_seconds``, completed
``tck-artifact-text``             artifact "Generated text content", completed
``tck-artifact-file-url``         artifact with URL ``https://example.com/output.txt``, completed
``tck-artifact-file``             artifact with raw bytes ``output.txt`` (text/plain), completed
``tck-artifact-data``             artifact with data ``{"key": "value", "count": 42}``, completed
``tck-message-response``          a direct Message "Direct message response" (no task)
``tck-input-required``            input-required (the task stays open for follow-ups)
``tck-reject-task``               rejected, with the agent message "rejected"
``tck-complete-task``             completed with the agent message "Hello from TCK"
anything else                     completed with the agent message "Hello from TCK"
================================  ==============================================================

Every behaviour is the same on ``SendMessage`` and ``SendStreamingMessage``;
the SDK decides what the caller sees (the final task, or every event).
A follow-up message to an open task continues it (no new Task is emitted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from a2a.helpers.proto_helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import Part
from google.protobuf.struct_pb2 import Struct, Value

COMPLETE_TEXT = "Hello from TCK"
DIRECT_TEXT = "Direct message response"
REJECT_TEXT = "rejected"
FILE_NAME = "output.txt"
FILE_MEDIA_TYPE = "text/plain"
FILE_BYTES = b"Generated file content"
FILE_URL = "https://example.com/output.txt"
DATA = {"key": "value", "count": 42}

Behaviour = Callable[[TaskUpdater], Awaitable[None]]


def _file_part() -> Part:
    return Part(raw=FILE_BYTES, filename=FILE_NAME, media_type=FILE_MEDIA_TYPE)


def _url_part() -> Part:
    return Part(url=FILE_URL, filename=FILE_NAME, media_type=FILE_MEDIA_TYPE)


def _data_part() -> Part:
    data = Struct()
    data.update(DATA)
    return Part(data=Value(struct_value=data), media_type="application/json")


class ConformanceAgentExecutor(AgentExecutor):
    """Deterministic behaviours for the A2A TCK, selected by message-ID prefix."""

    def __init__(self, resubscribe_seconds: float = 4.0, **options: Any) -> None:
        if options:
            raise ValueError(f"unknown conformance options: {sorted(options)}")
        if resubscribe_seconds < 0:
            raise ValueError("resubscribe_seconds must be >= 0")
        self.resubscribe_seconds = resubscribe_seconds
        self._routes: list[tuple[str, Behaviour]] = [
            ("tck-stream-artifact-chunked", self._stream_chunked),
            ("tck-stream-artifact-text",
             self._working_then([new_text_part("Streamed text content")])),
            ("tck-stream-artifact-file", self._working_then([_file_part()])),
            ("tck-stream-ordering-001", self._working_then([new_text_part("Ordered output")])),
            ("tck-stream-001", self._working_then([new_text_part("Stream hello from TCK")])),
            ("tck-stream-002", self._complete_silently),
            ("tck-stream-003", self._working_then([new_text_part("Stream task lifecycle")])),
            ("test-resubscribe-message-id", self._long_running),
            ("tck-artifact-text",
             self._artifact_then_complete(new_text_part("Generated text content"))),
            ("tck-artifact-file-url", self._artifact_then_complete(_url_part())),
            ("tck-artifact-file", self._artifact_then_complete(_file_part())),
            ("tck-artifact-data", self._artifact_then_complete(_data_part())),
            ("tck-input-required", self._input_required),
            ("tck-reject-task", self._reject),
            ("tck-complete-task", self._complete),
        ]

    def behaviour_for(self, message_id: str) -> str:
        """The prefix that selects the behaviour for ``message_id`` ('' = the default)."""
        if message_id.startswith("tck-message-response"):
            return "tck-message-response"
        return next((prefix for prefix, _ in self._routes if message_id.startswith(prefix)), "")

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Run the behaviour the message ID selects."""
        message = context.message
        assert message is not None  # the SDK always builds one for a send
        task_id, context_id = context.task_id or "", context.context_id or ""
        updater = TaskUpdater(event_queue, task_id, context_id)
        prefix = self.behaviour_for(message.message_id)
        if prefix == "tck-message-response" and context.current_task is None:
            await event_queue.enqueue_event(updater.new_agent_message([new_text_part(DIRECT_TEXT)]))
            return
        if context.current_task is None:
            await event_queue.enqueue_event(new_task_from_user_message(message))
        behaviour = dict(self._routes).get(prefix, self._complete)
        await behaviour(updater)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Cancel the task (every open task of this agent is cancelable)."""
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        await updater.cancel()

    # -- behaviours -------------------------------------------------------

    @staticmethod
    async def _complete(updater: TaskUpdater) -> None:
        await updater.complete(updater.new_agent_message([new_text_part(COMPLETE_TEXT)]))

    @staticmethod
    async def _complete_silently(updater: TaskUpdater) -> None:
        await updater.complete()

    @staticmethod
    async def _input_required(updater: TaskUpdater) -> None:
        await updater.requires_input()

    @staticmethod
    async def _reject(updater: TaskUpdater) -> None:
        await updater.reject(updater.new_agent_message([new_text_part(REJECT_TEXT)]))

    @staticmethod
    def _artifact_then_complete(part: Part) -> Behaviour:
        async def run(updater: TaskUpdater) -> None:
            await updater.add_artifact([part])
            await updater.complete()

        return run

    @staticmethod
    def _working_then(parts: list[Part]) -> Behaviour:
        async def run(updater: TaskUpdater) -> None:
            await updater.start_work()
            await updater.add_artifact(parts)
            await updater.complete()

        return run

    @staticmethod
    async def _stream_chunked(updater: TaskUpdater) -> None:
        await updater.start_work()
        artifact_id = "tck-chunked-artifact"
        await updater.add_artifact([new_text_part("chunk-1 ")], artifact_id=artifact_id,
                                   append=False, last_chunk=False)
        await updater.add_artifact([new_text_part("chunk-2")], artifact_id=artifact_id,
                                   append=True, last_chunk=True)
        await updater.complete()

    async def _long_running(self, updater: TaskUpdater) -> None:
        await updater.start_work()
        await asyncio.sleep(self.resubscribe_seconds)
        await updater.complete()
