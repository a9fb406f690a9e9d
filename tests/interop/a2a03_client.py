"""Run by tests/interop/test_a2a03_client.py in a venv holding ``a2a-sdk`` 0.3.x (not 1.x).

The 0.3 line of the official Python SDK, unmodified, as a 0.3 user writes it:
the card from the agent's well-known URL, a client from ``ClientFactory``, and
send / stream / get / cancel. Prints one JSON object with what it saw.

Usage: python a2a03_client.py BASE_URL AGENT API_KEY
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any

import httpx
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.types import Message, Part, Role, Task, TaskIdParams, TaskQueryParams, TextPart


def _message(text: str) -> Message:
    return Message(role=Role.user, message_id=uuid.uuid4().hex,
                   parts=[Part(root=TextPart(text=text))])


def _task_of(event: Any) -> Task | None:
    if isinstance(event, tuple):
        return event[0]
    return event if isinstance(event, Task) else None


async def main(base: str, agent: str, key: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    headers = {"X-API-Key": key, "Tenant-Name": "demo"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        card = await A2ACardResolver(
            http, base, agent_card_path=f"/agents/{agent}/v1/.well-known/agent-card.json"
        ).get_agent_card()
        seen["card"] = {"url": card.url, "protocol_version": card.protocol_version,
                        "preferred_transport": card.preferred_transport,
                        "skill_modes": [(s.input_modes, s.output_modes) for s in card.skills]}
        blocking = ClientFactory(ClientConfig(httpx_client=http, streaming=False)).create(card)
        events = [e async for e in blocking.send_message(_message("hello from 0.3"))]
        task = _task_of(events[-1])
        assert task is not None, events
        seen["send"] = {"state": task.status.state.value,
                        "artifact": task.artifacts[0].parts[0].root.text if task.artifacts else None}
        got = await blocking.get_task(TaskQueryParams(id=task.id, history_length=1))
        seen["get"] = {"id_matches": got.id == task.id, "history": len(got.history or [])}
        try:
            await blocking.get_task(TaskQueryParams(id="no-such-task"))
            seen["missing"] = "no error"
        except Exception as exc:  # noqa: BLE001 - report what the client raised
            seen["missing"] = f"{type(exc).__name__}: {exc}"
        streaming = ClientFactory(ClientConfig(httpx_client=http, streaming=True)).create(card)
        kinds = []
        final = None
        async for event in streaming.send_message(_message("slow stream me")):
            current = _task_of(event)
            update = event[1] if isinstance(event, tuple) else None
            kinds.append(type(update).__name__ if update is not None else type(
                current if current is not None else event).__name__)
            if current is not None:
                final = current.status.state.value
        seen["stream"] = {"kinds": kinds, "final": final}
        stream = streaming.send_message(_message("slow cancel me"))
        first = _task_of(await anext(stream))
        assert first is not None
        cancelled = await blocking.cancel_task(TaskIdParams(id=first.id))
        await stream.aclose()
        seen["cancel"] = cancelled.status.state.value
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:4]))))
