"""Executors the remote side of tests/test_remote_agent.py runs (bound by import path)."""

from __future__ import annotations

from a2a.helpers.proto_helpers import get_message_text, new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import Role, TaskState

from a2a_server.agents.usage import Usage


class MeteredChatExecutor(AgentExecutor):
    """Answers each turn in input-required, reporting usage (10 in / 5 out per turn); 'bye' ends."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        assert message is not None
        task = context.current_task
        if task is None:
            await event_queue.enqueue_event(new_task_from_user_message(message))
        turns = 1 + (sum(1 for m in task.history if m.role == Role.ROLE_USER) if task else 0)
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        text = get_message_text(message)
        usage = Usage(10 * turns, 5 * turns, 0.001 * turns).to_metadata()
        metadata = {"usage": usage, "model_used": "stand-in-1", "provider": "stand-in"}
        reply = updater.new_agent_message([new_text_part(f"turn {turns}: {text}")])
        state = TaskState.TASK_STATE_COMPLETED if text == "bye" else TaskState.TASK_STATE_INPUT_REQUIRED
        await updater.update_status(state, reply, metadata=metadata)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()
