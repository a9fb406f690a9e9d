"""The ``echo`` agent: deterministic, for demos, tests and benchmarks.

It answers every message with a completed task carrying one artifact whose
text is ``echo: <your text>``. A message containing the word ``slow`` takes a
few seconds (``slow_seconds`` option) in ``working`` first, so cancel and
subscribe can be seen.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from a2a.helpers.proto_helpers import get_message_text, new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater

_SLOW = re.compile(r"\bslow\b", re.IGNORECASE)


class EchoAgentExecutor(AgentExecutor):
    """Echoes the user's text back as an artifact."""

    def __init__(self, slow_seconds: float = 3.0, **options: Any) -> None:
        if options:
            raise ValueError(f"unknown echo options: {sorted(options)}")
        self.slow_seconds = slow_seconds

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Create (or continue) the task, optionally dawdle, then complete it."""
        message = context.message
        assert message is not None  # the SDK always builds one for a send
        if context.current_task is None:
            await event_queue.enqueue_event(new_task_from_user_message(message))
        task_id, context_id = context.task_id or message.task_id, context.context_id or ""
        updater = TaskUpdater(event_queue, task_id, context_id)
        text = get_message_text(message)
        if _SLOW.search(text):
            await updater.start_work(
                updater.new_agent_message([new_text_part("working slowly...")])
            )
            await asyncio.sleep(self.slow_seconds)
        await updater.add_artifact([new_text_part(f"echo: {text}")], name="echo")
        await updater.complete(updater.new_agent_message([new_text_part(f"echo: {text}")]))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Mark the task canceled."""
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        await updater.cancel()
