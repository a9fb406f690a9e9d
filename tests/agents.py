"""Executors used only by tests (bound by import path, which also tests that binding kind)."""

from __future__ import annotations

import asyncio

from a2a.helpers.proto_helpers import get_message_text, new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import Part, TaskState
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.struct_pb2 import Value


class ChatExecutor(AgentExecutor):
    """Keeps a task in input-required, replying to every turn, until told 'bye'."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        assert message is not None
        if context.current_task is None:
            await event_queue.enqueue_event(new_task_from_user_message(message))
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        text = get_message_text(message)
        reply = updater.new_agent_message([new_text_part(f"reply to {text}")])
        if text == "bye":
            await updater.complete(reply)
        else:
            await updater.requires_input(reply)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()


class DirectReplyExecutor(AgentExecutor):
    """Answers with a bare Message: no task is created."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        assert message is not None
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        await event_queue.enqueue_event(
            updater.new_agent_message([new_text_part(f"direct: {get_message_text(message)}")])
        )

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        del context, event_queue


class ToolCallExecutor(AgentExecutor):
    """Asks the client to run a tool (input-required with a ``tool_call`` DataPart), then
    completes with the ``tool_result`` the client sent back in the same task."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        assert message is not None
        if context.current_task is None:
            await event_queue.enqueue_event(new_task_from_user_message(message))
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        results = [MessageToDict(part.data) for part in message.parts if part.HasField("data")]
        result = next((r for r in results if r.get("type") == "tool_result"), None)
        if result is None:
            call = {"type": "tool_call", "call_id": "call-1", "name": "get_weather",
                    "arguments": {"city": get_message_text(message)}}
            data = Value()
            ParseDict(call, data)
            await updater.requires_input(updater.new_agent_message([Part(data=data)]))
        else:
            await updater.complete(updater.new_agent_message(
                [new_text_part(f"tool {result.get('call_id')} said: {result.get('output')}")]))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()


class ArtifactsExecutor(AgentExecutor):
    """Streams a text artifact in three chunks (``gap`` seconds apart), then a data and a file
    artifact, then completes with usage metadata on the task."""

    gap = 1.0

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        assert message is not None
        if context.current_task is None:
            await event_queue.enqueue_event(new_task_from_user_message(message))
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        await updater.start_work()
        for i, chunk in enumerate(("one ", "two ", "three")):
            if i:
                await asyncio.sleep(self.gap)
            await updater.add_artifact([new_text_part(chunk)], artifact_id="story", name="story",
                                       append=i > 0, last_chunk=i == 2)
        data = Value()
        ParseDict({"key": "value", "count": 42}, data)
        await updater.add_artifact([Part(data=data)], name="numbers")
        await updater.add_artifact(
            [Part(raw=b"hello file", filename="hello.txt", media_type="text/plain")], name="file")
        await updater.update_status(TaskState.TASK_STATE_COMPLETED, metadata={
            "usage": {"input_tokens": 12, "output_tokens": 30, "total_tokens": 42,
                      "estimated_cost": 0.00042, "currency": "USD"},
            "model_used": "stand-in-model", "provider": "stand-in"})

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()
