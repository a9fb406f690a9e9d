"""SubscribeToTask on a task waiting for input: the stream stays open until the task moves on.

A2A 1.0 section 3.1.6: the first event is the Task as it is; the stream terminates when the
task *reaches* a terminal state. The A2A TCK's STREAM-SUB-002 subscribes to an input-required
task, completes it with a follow-up, and expects the stream to end on COMPLETED. Both bindings
must behave the same (the REST stream once closed right after the input-required snapshot).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import DEMO, V1, LiveServer
from tests.protocol.sse import read_events

BASE = "/agents/conformance/v1"
AUTH = {**DEMO, **V1}


def message(prefix: str, **extra: Any) -> dict[str, Any]:
    return {"role": "ROLE_USER", "parts": [{"text": prefix}],
            "messageId": f"{prefix}-{uuid.uuid4()}", **extra}


def state_of(data: dict[str, Any]) -> str:
    kind, payload = next(iter(data.items()))
    return f"{kind}:{payload.get('status', {}).get('state', '')}"


async def subscribe_rest(http: httpx.AsyncClient, task_id: str, opened: asyncio.Event) -> list[str]:
    async with http.stream("POST", f"{BASE}/tasks/{task_id}:subscribe", headers=AUTH) as response:
        assert response.status_code == 200, await response.aread()
        states = []
        async for event in read_events(response):
            states.append(state_of(event.data))
            opened.set()
        return states


async def subscribe_jsonrpc(http: httpx.AsyncClient, task_id: str,
                            opened: asyncio.Event) -> list[str]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "SubscribeToTask", "params": {"id": task_id}}
    async with http.stream("POST", BASE, json=body, headers=AUTH) as response:
        assert response.status_code == 200, await response.aread()
        states = []
        async for event in read_events(response):
            states.append(state_of(event.data["result"]))
            opened.set()
        return states


@pytest.mark.parametrize("subscribe", [subscribe_rest, subscribe_jsonrpc])
async def test_subscribe_to_input_required_task_follows_it_to_completion(
    live_server_factory: Callable[..., LiveServer], backend: str, subscribe: Any
) -> None:
    server = live_server_factory(backend)
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        first = {"message": message("tck-input-required")}
        sent = await http.post(f"{BASE}/message:send", json=first, headers=AUTH)
        task_id = sent.json()["task"]["id"]
        opened = asyncio.Event()
        subscriber = asyncio.create_task(subscribe(http, task_id, opened))
        await asyncio.wait_for(opened.wait(), 10)  # the snapshot arrived: the stream is attached
        assert not subscriber.done(), f"the stream closed after the snapshot: {subscriber.result()}"
        follow = {"message": message("tck-complete-task", taskId=task_id)}
        done = await http.post(f"{BASE}/message:send", json=follow, headers=AUTH)
        assert done.json()["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
        states = await asyncio.wait_for(subscriber, 10)
    assert states[0] == "task:TASK_STATE_INPUT_REQUIRED"
    assert states[-1] in ("statusUpdate:TASK_STATE_COMPLETED", "task:TASK_STATE_COMPLETED")
    assert json.dumps(states).count("COMPLETED") == 1
