"""Streaming over a real uvicorn: message:stream, subscribe and cancel, in both versions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import DEMO, V1, LiveServer, user_message_v03, user_message_v1
from tests.protocol.sse import SseEvent, read_events


async def collect(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> list[SseEvent]:
    async with client.stream(method, url, **kwargs) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        return [event async for event in read_events(response)]


async def test_v03_stream_yields_corti_events_in_order(live_server_factory: Callable[..., LiveServer],
                                                       backend: str) -> None:
    server = live_server_factory(backend)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        events = await collect(client, "POST", "/agents/echo/v1/message:stream",
                               json=user_message_v03("hi"), headers=DEMO)
    kinds = [e.data["kind"] for e in events]
    assert kinds == ["task", "artifact-update", "status-update"]
    assert events[0].data["status"]["state"] == "submitted"
    assert events[1].data["artifact"]["parts"] == [{"kind": "text", "text": "echo: hi"}]
    assert events[2].data["status"]["state"] == "completed" and events[2].data["final"] is True
    assert len({e.data.get("taskId", e.data.get("id")) for e in events}) == 1


async def test_v1_stream_yields_stream_responses(live_server_factory: Callable[..., LiveServer],
                                                 backend: str) -> None:
    server = live_server_factory(backend)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        events = await collect(client, "POST", "/agents/echo/v1/message:stream",
                               json=user_message_v1("hi"), headers={**DEMO, **V1})
    assert [next(iter(e.data)) for e in events] == ["task", "artifactUpdate", "statusUpdate"]
    assert events[-1].data["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_jsonrpc_streaming_message(live_server_factory: Callable[..., LiveServer],
                                         backend: str) -> None:
    server = live_server_factory(backend)
    body = {"jsonrpc": "2.0", "id": 9, "method": "SendStreamingMessage", "params": user_message_v1("hi")}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        events = await collect(client, "POST", "/agents/echo/v1", json=body, headers={**DEMO, **V1})
    assert all(e.data["id"] == 9 and e.data["jsonrpc"] == "2.0" for e in events)
    assert events[-1].data["result"]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


async def wait_for_state(client: httpx.AsyncClient, task_id: str, state: str) -> dict[str, Any]:
    for _ in range(200):
        task = (await client.get(f"/agents/echo/v1/tasks/{task_id}", headers=DEMO)).json()
        if task["status"]["state"] == state:
            return task  # type: ignore[no-any-return]
        await asyncio.sleep(0.02)
    raise AssertionError(f"task {task_id} never reached {state}")


async def test_subscribe_then_cancel_ends_the_stream_canceled(
    live_server_factory: Callable[..., LiveServer], backend: str
) -> None:
    server = live_server_factory(backend)
    async with httpx.AsyncClient(base_url=server.url, timeout=15) as client:
        body = user_message_v03("slow please")
        body["configuration"] = {"blocking": False}
        task = (await client.post("/agents/echo/v1/message:send", json=body, headers=DEMO)).json()["task"]
        await wait_for_state(client, task["id"], "working")

        async def subscribe() -> list[SseEvent]:
            return await collect(client, "GET", f"/agents/echo/v1/tasks/{task['id']}:subscribe",
                                 headers=DEMO)

        subscriber = asyncio.create_task(subscribe())
        await asyncio.sleep(0.2)  # let the subscription attach; correctness does not depend on it
        canceled = await client.post(f"/agents/echo/v1/tasks/{task['id']}:cancel", headers=DEMO)
        assert canceled.status_code == 200 and canceled.json()["status"]["state"] == "canceled"
        events = await asyncio.wait_for(subscriber, 10)
        assert events[0].data["kind"] == "task" and events[0].data["status"]["state"] == "working"
        assert events[-1].data["status"]["state"] == "canceled"
        final = await wait_for_state(client, task["id"], "canceled")
        assert not final.get("artifacts")
        again = await client.post(f"/agents/echo/v1/tasks/{task['id']}:cancel", headers=DEMO)
        assert again.status_code == 400 and again.json()["error"]["status"] == "FAILED_PRECONDITION"


async def test_subscribe_to_finished_task_is_refused(live_server_factory: Callable[..., LiveServer],
                                                     backend: str) -> None:
    server = live_server_factory(backend)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        task = (await client.post("/agents/echo/v1/message:send", json=user_message_v03("x"),
                                  headers=DEMO)).json()["task"]
        response = await client.get(f"/agents/echo/v1/tasks/{task['id']}:subscribe", headers=DEMO)
        assert response.status_code == 400
        assert "terminal" in response.json()["error"]["message"]
