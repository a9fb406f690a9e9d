"""Two live replicas on one Redis: usage counted exactly whichever replica ran the task."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import DEMO, V1, LiveServer, user_message_v1
from tests.llm.conftest import Provider, agent_url


async def test_usage_totals_are_exact_after_concurrent_tasks_on_two_replicas(
    live_server_factory: Callable[..., LiveServer], agents_dir: Path, provider: Provider,
) -> None:
    provider.rule("", {"kind": "text", "text": "fine", "chunk": 2,
                       "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
    a = live_server_factory("redis", agents_dir=agents_dir)
    b = live_server_factory("redis", agents_dir=agents_dir)

    async def one(http: httpx.AsyncClient, server: LiveServer, n: int) -> str:
        sent = await http.post(server.url + agent_url("assistant", "/message:send"),
                               json=user_message_v1(f"question {n}"), headers={**DEMO, **V1})
        assert sent.status_code == 200, sent.text
        state: str = sent.json()["task"]["status"]["state"]
        return state

    async with httpx.AsyncClient(timeout=60) as http:
        states = await asyncio.gather(*(one(http, (a, b)[n % 2], n) for n in range(40)))
        seen_a = (await http.get(f"{a.url}/agents/assistant/usage", headers=DEMO)).json()
        seen_b = (await http.get(f"{b.url}/agents/assistant/usage", headers=DEMO)).json()
    assert states == ["TASK_STATE_COMPLETED"] * 40
    totals = seen_a["totals"]
    assert (totals["calls"], totals["input_tokens"], totals["output_tokens"]) == (40, 280, 120)
    assert totals["estimated_cost"] == round(40 * (7e-6 + 6e-6), 9)
    assert seen_b["totals"] == totals
