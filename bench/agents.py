"""The executor every benchmarked server runs (ours and the SDK reference servers alike).

It is the project's ``EchoAgentExecutor`` unchanged, except that a message whose text
contains ``keep-open`` is answered with ``input-required`` instead of ``completed``:
the follow-up scenario (d) needs tasks that accept one more message (the SDK refuses
any message to a terminal task).
"""

from __future__ import annotations

from typing import Any

from a2a.helpers.proto_helpers import get_message_text, new_text_part
from a2a.server.agent_execution import RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater

from a2a_server.agents.echo import EchoAgentExecutor

KEEP_OPEN = "keep-open"


class BenchEchoExecutor(EchoAgentExecutor):
    """Echo; ``keep-open`` messages leave the task in ``input-required``."""

    def __init__(self, slow_seconds: float = 0.2, **options: Any) -> None:
        super().__init__(slow_seconds=slow_seconds, **options)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Echo, or echo and ask for more input."""
        message = context.message
        if message is None or context.current_task is None:
            await super().execute(context, event_queue)
            return
        text = get_message_text(message)
        if KEEP_OPEN not in text:
            await super().execute(context, event_queue)
            return
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        await updater.requires_input(updater.new_agent_message([new_text_part(f"echo: {text}")]))
