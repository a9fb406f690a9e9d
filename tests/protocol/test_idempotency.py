"""Idempotency-Key on every send, on both stores: retries return the first task, once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import ACME, DEMO, V1, user_message_v03, user_message_v1
from tests.protocol.sse import read_events

SEND = "/agents/echo/v1/message:send"
STREAM = "/agents/echo/v1/message:stream"
HEADERS = {**DEMO, **V1}


async def task_ids(http: httpx.AsyncClient, headers: dict[str, str] = HEADERS) -> list[str]:
    listed = await http.get("/agents/echo/v1/tasks", headers=headers)
    assert listed.status_code == 200, listed.text
    return [t["id"] for t in listed.json()["tasks"]]


async def test_a_retry_returns_the_same_task_without_running_the_agent(
    http: httpx.AsyncClient,
) -> None:
    body = user_message_v1("hello")
    keyed = {**HEADERS, "Idempotency-Key": "order-1"}
    first = await http.post(SEND, json=body, headers=keyed)
    again = await http.post(SEND, json=body, headers=keyed)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json()["task"]["id"] == first.json()["task"]["id"]
    assert again.json()["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert await task_ids(http) == [first.json()["task"]["id"]]  # the agent ran once
    fresh = await http.post(SEND, json=body, headers={**HEADERS, "Idempotency-Key": "order-2"})
    assert fresh.json()["task"]["id"] != first.json()["task"]["id"]


async def test_the_same_key_with_another_body_is_422_and_runs_nothing(
    http: httpx.AsyncClient,
) -> None:
    keyed = {**HEADERS, "Idempotency-Key": "k"}
    assert (await http.post(SEND, json=user_message_v1("a"), headers=keyed)).status_code == 200
    other = await http.post(SEND, json=user_message_v1("b"), headers=keyed)
    assert other.status_code == 422, other.text
    assert "different request body" in other.json()["error"]["message"]
    rpc = await http.post("/agents/echo/v1", headers=keyed, json={
        "jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": user_message_v1("c")})
    assert rpc.json()["error"]["code"] == -32602
    assert "different request body" in rpc.json()["error"]["message"]
    assert len(await task_ids(http)) == 1


async def test_concurrent_duplicates_run_the_agent_once(http: httpx.AsyncClient) -> None:
    body = user_message_v1("slow please")
    keyed = {**HEADERS, "Idempotency-Key": "burst"}
    answers = await asyncio.gather(*(http.post(SEND, json=body, headers=keyed) for _ in range(8)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["task"]["id"] for a in answers}) == 1
    assert len(await task_ids(http)) == 1


async def test_jsonrpc_sends_of_both_versions_are_idempotent(http: httpx.AsyncClient) -> None:
    async def rpc(method: str, params: dict[str, Any], headers: dict[str, str]) -> Any:
        sent = await http.post("/agents/echo/v1", json={
            "jsonrpc": "2.0", "id": 1, "method": method, "params": params}, headers=headers)
        assert sent.status_code == 200, sent.text
        return sent.json()["result"]

    body = user_message_v1("one")
    first = await rpc("SendMessage", body, {**HEADERS, "Idempotency-Key": "rpc1"})
    again = await rpc("SendMessage", body, {**HEADERS, "Idempotency-Key": "rpc1"})
    assert again["task"]["id"] == first["task"]["id"]
    old = user_message_v03("two")
    first03 = await rpc("message/send", old, {**DEMO, "Idempotency-Key": "rpc03"})
    again03 = await rpc("message/send", old, {**DEMO, "Idempotency-Key": "rpc03"})
    assert again03["id"] == first03["id"] and again03["kind"] == "task"
    assert len(await task_ids(http)) == 2


async def test_keys_belong_to_the_tenant(http: httpx.AsyncClient) -> None:
    body = user_message_v1("mine")
    demo = await http.post(SEND, json=body, headers={**HEADERS, "Idempotency-Key": "shared"})
    acme = await http.post(SEND, json=user_message_v1("theirs"),
                           headers={**ACME, **V1, "Idempotency-Key": "shared"})
    assert acme.status_code == 200, acme.text  # not a 422: another tenant's key is another key
    assert acme.json()["task"]["id"] != demo.json()["task"]["id"]
    assert await task_ids(http, {**ACME, **V1}) == [acme.json()["task"]["id"]]


async def test_a_malformed_key_is_refused_and_runs_nothing(http: httpx.AsyncClient) -> None:
    for key in ("x" * 256, "", "tab\there"):
        bad = await http.post(SEND, json=user_message_v1("hi"),
                              headers={**HEADERS, "Idempotency-Key": key})
        assert bad.status_code == 400, (key, bad.text)
        assert "Idempotency-Key" in bad.json()["error"]["message"]
    assert await task_ids(http) == []


async def test_a_direct_reply_is_replayed(http: httpx.AsyncClient) -> None:
    body = user_message_v1("hi")
    keyed = {**HEADERS, "Idempotency-Key": "direct"}
    first = await http.post("/agents/direct/v1/message:send", json=body, headers=keyed)
    again = await http.post("/agents/direct/v1/message:send", json=body, headers=keyed)
    assert first.status_code == again.status_code == 200, again.text
    assert "message" in first.json()
    assert again.json() == first.json()


async def test_a_streamed_send_retried_gets_its_task(http: httpx.AsyncClient) -> None:
    body = user_message_v1("hi")
    keyed = {**HEADERS, "Idempotency-Key": "stream"}
    async with http.stream("POST", STREAM, json=body, headers=keyed) as first:
        events = [e async for e in read_events(first)]
    task_id = events[0].data["task"]["id"]
    async with http.stream("POST", STREAM, json=body, headers=keyed) as again:
        replay = [e async for e in read_events(again)]
    assert len(replay) == 1
    assert replay[0].data["task"]["id"] == task_id
    assert replay[0].data["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    sent = await http.post(SEND, json=body, headers=keyed)  # the same request, not streamed
    assert sent.json()["task"]["id"] == task_id
    assert await task_ids(http) == [task_id]


async def test_a_retried_follow_up_runs_its_turn_once(http: httpx.AsyncClient) -> None:
    chat = "/agents/chat/v1/message:send"
    opened = await http.post(chat, json=user_message_v1("hi"), headers=HEADERS)
    task = opened.json()["task"]
    follow_up = user_message_v1("more", taskId=task["id"], contextId=task["contextId"])
    keyed = {**HEADERS, "Idempotency-Key": "turn-2"}
    first = await http.post(chat, json=follow_up, headers=keyed)
    again = await http.post(chat, json=follow_up, headers=keyed)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json()["task"]["id"] == task["id"]
    stored = await http.get(f"/agents/chat/v1/tasks/{task['id']}", headers=HEADERS)
    texts = [m["parts"][0]["text"] for m in stored.json()["history"]]
    assert texts.count("more") == 1  # one turn: the retry added nothing
    assert stored.json()["status"]["message"]["parts"][0]["text"] == "reply to more"
