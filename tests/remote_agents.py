"""For tests of ``executor: remote``: the remote side's executors (bound by import path) and
helpers that write agent directories and remote bindings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from a2a.helpers.proto_helpers import get_message_text, new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import Role, TaskState

from a2a_server.agents.usage import Usage
from tests.conftest import REPO, LiveServer


class MeteredChatExecutor(AgentExecutor):
    """Answers each turn in input-required with an artifact ``turn-N``, reporting usage
    (10 in / 5 out per turn); 'bye' ends."""

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
        await updater.add_artifact([new_text_part(text)], artifact_id=f"turn-{turns}")
        reply = updater.new_agent_message([new_text_part(f"turn {turns}: {text}")])
        state = TaskState.TASK_STATE_COMPLETED if text == "bye" else TaskState.TASK_STATE_INPUT_REQUIRED
        await updater.update_status(state, reply, metadata=metadata)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()


def write_agent(directory: Path, agent_id: str, binding: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    card = json.loads((REPO / "agent_cards" / "echo.json").read_text())
    card["name"] = agent_id
    (directory / f"{agent_id}.json").write_text(json.dumps(card))
    (directory / f"{agent_id}.binding.yaml").write_text(json.dumps(binding))


def card_url(server: LiveServer | str, agent: str) -> str:
    base = server if isinstance(server, str) else server.url
    return f"{base}/agents/{agent}/v1/.well-known/agent-card.json"


def proxy_binding(url: str, **options: Any) -> dict[str, Any]:
    return {"executor": "remote", "options": {
        "card_url": url, "headers": {"Tenant-Name": "demo"}, "auth": "header",
        "auth_header": "X-API-Key", "auth_value_env": "REMOTE_DEMO_KEY",
        "read_timeout_seconds": 20, **options}}
