"""REST ``message:stream`` of a follow-up to an input-required task streams the agent's work.

On the Redis store the follow-up's history append is logged as a Task still in
input-required; the stream once ended on it, before the agent's events (the client saw only
the old state). It must carry the turn to its end, on every backend.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import DEMO, V1, LiveServer, user_message_v03
from tests.protocol.sse import read_events

BASE = "/agents/conformance/v1"
AUTH = {**DEMO, **V1}


def message(prefix: str, **extra: Any) -> dict[str, Any]:
    return {"role": "ROLE_USER", "parts": [{"text": prefix}],
            "messageId": f"{prefix}-{uuid.uuid4()}", **extra}


def states(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for data in events:
        kind, payload = next(iter(data.items()))
        out.append(f"{kind}:{payload.get('status', {}).get('state', '')}")
    return out


async def stream_follow_up(
    server: LiveServer, follow_up: Callable[[str], dict[str, Any]], headers: dict[str, str]
) -> list[dict[str, Any]]:
    """Open a task waiting for input, then stream the follow-up ``follow_up(task_id)``."""
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        first = await http.post(f"{BASE}/message:send",
                                json={"message": message("tck-input-required")}, headers=AUTH)
        task_id = first.json()["task"]["id"]
        async with http.stream("POST", f"{BASE}/message:stream", json=follow_up(task_id),
                               headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            return [event.data async for event in read_events(response)]


async def test_follow_up_stream_carries_the_turn_to_completion(
    live_server_factory: Callable[..., LiveServer], backend: str
) -> None:
    events = await stream_follow_up(
        live_server_factory(backend),
        lambda task_id: {"message": message("tck-stream-001", taskId=task_id)}, AUTH)
    seen = states(events)
    assert "statusUpdate:TASK_STATE_WORKING" in seen
    assert "artifactUpdate:" in seen
    assert seen[-1] == "statusUpdate:TASK_STATE_COMPLETED"


async def test_follow_up_that_asks_again_ends_at_input_required(
    live_server_factory: Callable[..., LiveServer], backend: str
) -> None:
    events = await stream_follow_up(
        live_server_factory(backend),
        lambda task_id: {"message": message("tck-input-required", taskId=task_id)}, AUTH)
    assert states(events)[-1] == "statusUpdate:TASK_STATE_INPUT_REQUIRED"


async def test_v03_follow_up_stream_carries_the_turn_to_completion(
    live_server_factory: Callable[..., LiveServer], backend: str
) -> None:
    events = await stream_follow_up(
        live_server_factory(backend),
        lambda task_id: user_message_v03("go on", taskId=task_id,
                                         messageId=f"tck-stream-003-{uuid.uuid4()}"), DEMO)
    assert events[-1]["kind"] == "status-update" and events[-1]["status"]["state"] == "completed"
