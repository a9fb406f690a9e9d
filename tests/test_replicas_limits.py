"""Quotas and idempotent sends across two live replicas on one Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import ACME, V1, LiveServer, user_message_v1
from tests.limited_tenants import LIMITED, tenants_with_limits
from tests.protocol.sse import read_events
from tests.test_replicas import agents_with_slow

HEADERS = {**LIMITED, **V1}


def replicas(factory: Callable[..., LiveServer], tmp: Path, **limits: int
             ) -> tuple[LiveServer, LiveServer]:
    tenants = tenants_with_limits(tmp / "tenants", **limits)
    agents = agents_with_slow(tmp / "agents", 30)
    return (factory("redis", tenants_dir=tenants, agents_dir=agents),
            factory("redis", tenants_dir=tenants, agents_dir=agents))


def send_url(server: LiveServer, suffix: str = "message:send") -> str:
    return f"{server.url}/agents/echo/v1/{suffix}"


async def test_requests_per_minute_is_exact_across_replicas_and_acme_is_not_slowed(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path,
) -> None:
    a, b = replicas(live_server_factory, tmp_path, requests_per_minute=12)
    async with httpx.AsyncClient(timeout=30) as http:
        limited = [http.post(send_url(server), json=user_message_v1("hi"), headers=HEADERS)
                   for _ in range(20) for server in (a, b)]
        unlimited = [http.post(send_url(server), json=user_message_v1("hi"),
                               headers={**ACME, **V1}) for _ in range(10) for server in (a, b)]
        everything = await asyncio.gather(*limited, *unlimited)  # at the same time
        answers, others = everything[:40], everything[40:]
    codes = [answer.status_code for answer in answers]
    assert codes.count(200) == 12 and codes.count(429) == 28
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert refused.headers["ratelimit-policy"] == '"requests";q=12;w=60'
    assert refused.headers["ratelimit"] == f'"requests";r=0;t={refused.headers["retry-after"]}'
    assert {other.status_code for other in others} == {200}


async def test_concurrent_tasks_are_exact_across_replicas(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path,
) -> None:
    a, b = replicas(live_server_factory, tmp_path, concurrent_tasks=3)
    body = {**user_message_v1("slow please"), "configuration": {"returnImmediately": True}}
    async with httpx.AsyncClient(timeout=30) as http:
        answers = await asyncio.gather(*(
            http.post(send_url(server), json=body, headers=HEADERS)
            for _ in range(6) for server in (a, b)))
        codes = [answer.status_code for answer in answers]
        assert codes.count(200) == 3 and codes.count(429) == 9
        running = [answer.json()["task"]["id"] for answer in answers if answer.status_code == 200]
        for task_id in running:  # cancels from either replica end the runs: slots come back
            canceled = await http.post(f"{b.url}/agents/echo/v1/tasks/{task_id}:cancel",
                                       headers=HEADERS)
            assert canceled.status_code == 200, canceled.text
        for _ in range(100):
            again = await http.post(send_url(a), json=body, headers=HEADERS)
            if again.status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert again.status_code == 200, again.text


async def test_open_streams_are_limited_across_replicas(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path,
) -> None:
    a, b = replicas(live_server_factory, tmp_path, open_streams=1)
    async with httpx.AsyncClient(timeout=30) as http:
        async with http.stream("POST", send_url(a, "message:stream"),
                               json=user_message_v1("slow please"), headers=HEADERS) as first:
            assert first.status_code == 200
            events = read_events(first)
            await anext(events)  # the stream is open, its run going on
            second = await http.post(send_url(b, "message:stream"),
                                     json=user_message_v1("hi"), headers=HEADERS)
            assert second.status_code == 429, second.text
            assert second.headers["ratelimit-policy"] == '"streams";q=1;qu="concurrent-requests"'
            assert second.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        for _ in range(100):  # the client left: the stream's slot comes back
            third = await http.post(send_url(b, "message:stream"), json=user_message_v1("hi"),
                                    headers=HEADERS)
            if third.status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert third.status_code == 200, third.text


async def test_idempotent_duplicates_on_both_replicas_run_the_agent_once(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path,
) -> None:
    a, b = replicas(live_server_factory, tmp_path)
    body = user_message_v1("slow please")
    body["configuration"] = {"returnImmediately": True}
    keyed = {**HEADERS, "Idempotency-Key": "pay-42"}
    async with httpx.AsyncClient(timeout=30) as http:
        answers = await asyncio.gather(*(http.post(send_url(server), json=body, headers=keyed)
                                         for _ in range(5) for server in (a, b)))
        assert {answer.status_code for answer in answers} == {200}, [x.text for x in answers]
        ids = {answer.json()["task"]["id"] for answer in answers}
        assert len(ids) == 1
        listed = await http.get(f"{b.url}/agents/echo/v1/tasks", headers=HEADERS)
        assert [t["id"] for t in listed.json()["tasks"]] == list(ids)
        other = await http.post(send_url(b), json=user_message_v1("other"), headers=keyed)
        assert other.status_code == 422
        await http.post(f"{a.url}/agents/echo/v1/tasks/{ids.pop()}:cancel", headers=HEADERS)
