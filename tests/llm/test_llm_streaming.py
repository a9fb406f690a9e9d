"""Streamed answers, and cancel mid-stream from another replica (real uvicorn servers)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import DEMO, V1, LiveServer, user_message_v1
from tests.llm.conftest import Provider, agent_url
from tests.protocol.sse import SseEvent, read_events

HEADERS = {**DEMO, **V1}


def _kind(event: SseEvent) -> str:
    return next(iter(event.data))


async def test_tokens_reach_the_stream_as_artifact_chunks_then_the_full_answer(
    backend: str, live_server_factory: Callable[..., LiveServer], agents_dir: Path,
    provider: Provider,
) -> None:
    provider.script({"kind": "text", "text": "The quick brown fox", "chunk": 4, "delay": 0.02,
                     "usage": {"prompt_tokens": 3, "completion_tokens": 5}})
    server = live_server_factory(backend, agents_dir=agents_dir)
    events: list[SseEvent] = []
    async with httpx.AsyncClient(timeout=30) as http, http.stream(
            "POST", server.url + agent_url("assistant", "/message:stream"), headers=HEADERS,
            json=user_message_v1("fox?")) as response:
        assert response.status_code == 200
        async for event in read_events(response):
            events.append(event)
    chunks = [e.data["artifactUpdate"] for e in events if _kind(e) == "artifactUpdate"]
    pieces = [c["artifact"]["parts"][0]["text"] for c in chunks[:-1]]
    assert pieces == ["The ", "quic", "k br", "own ", "fox"]
    assert [bool(c.get("append")) for c in chunks[:-1]] == [False, True, True, True, True]
    assert chunks[-1]["lastChunk"] is True and not chunks[-1].get("append")
    assert chunks[-1]["artifact"]["parts"] == [{"text": "The quick brown fox"}]
    last = events[-1].data["statusUpdate"]
    assert last["status"]["state"] == "TASK_STATE_COMPLETED"
    assert last["status"]["message"]["parts"] == [{"text": "The quick brown fox"}]
    assert last["metadata"]["usage"]["total_tokens"] == 8


async def _aborted(provider: Provider, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        requests = provider.requests()
        if requests and requests[-1]["aborted"]:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_cancel_on_another_replica_aborts_the_provider_call(
    live_server_factory: Callable[..., LiveServer], agents_dir: Path, provider: Provider,
) -> None:
    provider.script({"kind": "text", "text": "word " * 200, "chunk": 5, "delay": 0.1})
    a = live_server_factory("redis", agents_dir=agents_dir, lease_seconds=1.5)
    b = live_server_factory("redis", agents_dir=agents_dir, lease_seconds=1.5)
    events: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=30) as http:
        async with http.stream("POST", a.url + agent_url("assistant", "/message:stream"),
                               headers=HEADERS, json=user_message_v1("talk")) as response:
            async for event in read_events(response):
                events.append(event.data)
                if _kind(event) == "artifactUpdate" and len(events) == 4:
                    task_id = event.data["artifactUpdate"]["taskId"]
                    cancel = await http.post(
                        b.url + agent_url("assistant", f"/tasks/{task_id}:cancel"),
                        headers=HEADERS)
                    assert cancel.status_code == 200, cancel.text
                    assert cancel.json()["status"]["state"] == "TASK_STATE_CANCELED"
        got = await http.get(a.url + agent_url("assistant", f"/tasks/{task_id}"),
                             headers=HEADERS)
    assert got.json()["status"]["state"] == "TASK_STATE_CANCELED"
    assert await _aborted(provider)  # the stand-in saw the connection go mid-answer
    chunks = [e for e in events if "artifactUpdate" in e]
    assert len(chunks) < 100  # it stopped well before the 200 words
