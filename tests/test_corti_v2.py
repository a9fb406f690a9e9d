"""Corti v2 path family: the same handlers under ``/agentic/agents/{agentId}/a2a`` and
``/agentic/contexts/{contextId}``, one test per path (both versions where they differ)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from a2a_server.check import CheckOptions, run_check
from tests.conftest import ACME, DEMO, V1, LiveServer, user_message_v03, user_message_v1
from tests.protocol.sse import SseEvent, read_events

A2A = "/agentic/agents/echo/a2a"


@pytest.fixture
async def live(backend: str, live_server_factory: Callable[..., LiveServer]
               ) -> AsyncIterator[tuple[LiveServer, httpx.AsyncClient]]:
    server = live_server_factory(backend)
    async with httpx.AsyncClient(base_url=server.url, timeout=15) as client:
        yield server, client


async def _sse(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> list[SseEvent]:
    async with client.stream(method, url, **kwargs) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        return [event async for event in read_events(response)]


async def _send_v1(client: httpx.AsyncClient, text: str, **config: Any) -> dict[str, Any]:
    body = user_message_v1(text)
    if config:
        body["configuration"] = config
    sent = await client.post(f"{A2A}/message:send", json=body, headers={**DEMO, **V1})
    assert sent.status_code == 200, sent.text
    return sent.json()["task"]  # type: ignore[no-any-return]


async def test_card_points_at_v2_interfaces(live: tuple[LiveServer, httpx.AsyncClient]) -> None:
    server, client = live
    card = (await client.get("/agentic/agents/echo/.well-known/agent-card.json",
                             headers={"Tenant-Name": "demo"})).json()
    assert {(i["protocolBinding"], i["url"], i["tenant"]) for i in card["supportedInterfaces"]} \
        == {("JSONRPC", f"{server.url}{A2A}", "demo"), ("HTTP+JSON", f"{server.url}{A2A}", "demo")}
    assert card["url"] == f"{server.url}{A2A}"  # the 0.3 view agrees


async def test_the_v2_card_passes_the_contract_check(
        live: tuple[LiveServer, httpx.AsyncClient]) -> None:
    server, _ = live
    report = run_check(CheckOptions(f"{server.url}/agentic/agents/echo/.well-known/agent-card.json",
                                    headers={"X-API-Key": "demo-key"}))
    assert report.ok, report.render()
    assert {r.group for r in report.results if r.group != "card"} == {
        f"JSONRPC {server.url}{A2A} tenant=demo", f"HTTP+JSON {server.url}{A2A} tenant=demo"}


@pytest.mark.parametrize("path", [A2A, f"{A2A}/"])
async def test_jsonrpc(live: tuple[LiveServer, httpx.AsyncClient], path: str) -> None:
    _, client = live
    body = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
            "params": {**user_message_v1("rpc"), "tenant": "demo"}}
    answer = (await client.post(path, json=body, headers={**DEMO, **V1})).json()
    task = answer["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    got = (await client.post(path, json={"jsonrpc": "2.0", "id": 2, "method": "GetTask",
                                         "params": {"id": task["id"], "historyLength": 0}},
                             headers={**DEMO, **V1})).json()
    assert got["result"]["id"] == task["id"] and "history" not in got["result"]
    legacy = (await client.post(path, json={"jsonrpc": "2.0", "id": 3, "method": "tasks/get",
                                            "params": {"id": task["id"]}}, headers=DEMO)).json()
    assert legacy["result"]["kind"] == "task" and legacy["result"]["status"]["state"] == "completed"


async def test_jsonrpc_tenant_from_body_must_match(
        live: tuple[LiveServer, httpx.AsyncClient]) -> None:
    _, client = live
    body = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
            "params": {**user_message_v1("rpc"), "tenant": "acme"}}
    answer = await client.post(A2A, json=body, headers={"X-API-Key": "demo-key", **V1})
    assert answer.status_code == 403 and "error" in answer.json()


async def test_message_send_both_shapes(live: tuple[LiveServer, httpx.AsyncClient]) -> None:
    _, client = live
    task = await _send_v1(client, "v1")
    assert task["artifacts"][0]["parts"][0]["text"] == "echo: v1"
    corti = (await client.post(f"{A2A}/message:send", json=user_message_v03("v03"),
                               headers=DEMO)).json()["task"]
    assert corti["kind"] == "task" and corti["status"]["state"] == "completed"


async def test_message_send_with_tenant_path(live: tuple[LiveServer, httpx.AsyncClient]) -> None:
    """A2A's multi-tenant REST variant under the v2 interface URL: {url}/{tenant}/..."""
    _, client = live
    sent = await client.post(f"{A2A}/demo/message:send", json=user_message_v1("t"),
                             headers={"X-API-Key": "demo-key", **V1})
    assert sent.status_code == 200, sent.text
    task_id = sent.json()["task"]["id"]
    got = await client.get(f"{A2A}/demo/tasks/{task_id}", headers={"X-API-Key": "demo-key", **V1})
    assert got.status_code == 200 and got.json()["id"] == task_id
    other = await client.get(f"{A2A}/acme/tasks/{task_id}", headers={"X-API-Key": "demo-key", **V1})
    assert other.status_code == 403


async def test_message_stream(live: tuple[LiveServer, httpx.AsyncClient]) -> None:
    _, client = live
    events = await _sse(client, "POST", f"{A2A}/message:stream", json=user_message_v1("s"),
                        headers={**DEMO, **V1})
    assert [next(iter(e.data)) for e in events] == ["task", "artifactUpdate", "statusUpdate"]
    assert events[-1].data["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_tasks_list(live: tuple[LiveServer, httpx.AsyncClient]) -> None:
    _, client = live
    task = await _send_v1(client, "listed")
    listed = (await client.get(f"{A2A}/tasks", headers={**DEMO, **V1})).json()
    assert task["id"] in [t["id"] for t in listed["tasks"]]
    theirs = (await client.get(f"{A2A}/tasks", headers={**ACME, **V1})).json()
    assert task["id"] not in [t["id"] for t in theirs.get("tasks", [])]


async def test_task_get_with_history_length(live: tuple[LiveServer, httpx.AsyncClient]) -> None:
    _, client = live
    task = await _send_v1(client, "slow history")  # user message + "working slowly..."
    url = f"{A2A}/tasks/{task['id']}"
    full = (await client.get(url, headers={**DEMO, **V1})).json()["history"]
    assert len(full) == 2
    last = (await client.get(url, params={"historyLength": 1}, headers={**DEMO, **V1})).json()
    assert last["history"] == full[-1:]
    none = (await client.get(url, params={"historyLength": 0}, headers={**DEMO, **V1})).json()
    assert "history" not in none
    corti = (await client.get(url, params={"historyLength": 1}, headers=DEMO)).json()
    assert corti["kind"] == "task" and len(corti["history"]) == 1
    bad = await client.get(url, params={"historyLength": -1}, headers={**DEMO, **V1})
    assert bad.status_code == 400
    assert (await client.get(url, headers={**ACME, **V1})).status_code == 404


async def test_task_cancel(live: tuple[LiveServer, httpx.AsyncClient]) -> None:
    _, client = live
    running = await _send_v1(client, "slow cancel me", returnImmediately=True)
    canceled = await client.post(f"{A2A}/tasks/{running['id']}:cancel", headers={**DEMO, **V1})
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"]["state"] == "TASK_STATE_CANCELED"
    again = await client.post(f"{A2A}/tasks/{running['id']}:cancel", headers={**DEMO, **V1})
    assert again.status_code == 400, again.text  # the SDK's table: FAILED_PRECONDITION
    assert again.json()["error"]["details"][0]["reason"] == "TASK_NOT_CANCELABLE"
    missing = await client.post(f"{A2A}/tasks/nope:cancel", headers={**DEMO, **V1})
    assert missing.status_code == 404


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_task_subscribe(live: tuple[LiveServer, httpx.AsyncClient], method: str) -> None:
    _, client = live
    running = await _send_v1(client, "slow subscribe", returnImmediately=True)
    subscriber = asyncio.create_task(_sse(client, method, f"{A2A}/tasks/{running['id']}:subscribe",
                                          headers={**DEMO, **V1}))
    events = await asyncio.wait_for(subscriber, 15)
    assert next(iter(events[0].data)) == "task"
    assert events[0].data["task"]["id"] == running["id"]
    assert events[-1].data["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_tenant_context_lists_the_conversation(
        live: tuple[LiveServer, httpx.AsyncClient]) -> None:
    _, client = live
    first = await _send_v1(client, "slow one")
    follow = user_message_v1("two", contextId=first["contextId"])
    second = (await client.post(f"{A2A}/message:send", json=follow,
                                headers={**DEMO, **V1})).json()["task"]
    assert second["contextId"] == first["contextId"]
    url = f"/agentic/contexts/{first['contextId']}"

    whole = (await client.get(url, headers={**DEMO, **V1})).json()
    assert whole["id"] == first["contextId"] and whole["total"] == 2
    assert [item["task"]["id"] for item in whole["items"]] == [first["id"], second["id"]]
    assert len(whole["items"][0]["task"]["history"]) == 2

    trimmed = (await client.get(url, params={"historyLength": 1}, headers={**DEMO, **V1})).json()
    assert [len(i["task"]["history"]) for i in trimmed["items"]] == [1, 1]
    assert trimmed["items"][0]["task"]["history"] == whole["items"][0]["task"]["history"][-1:]
    bare = (await client.get(url, params={"historyLength": 0}, headers={**DEMO, **V1})).json()
    assert all("history" not in i["task"] for i in bare["items"])

    paged = (await client.get(url, params={"limit": 1, "offset": 1},
                              headers={**DEMO, **V1})).json()
    assert [i["task"]["id"] for i in paged["items"]] == [second["id"]] and paged["total"] == 2

    corti = (await client.get(url, params={"historyLength": 1}, headers=DEMO)).json()
    assert [i["kind"] for i in corti["items"]] == ["task", "task"]
    assert len(corti["items"][0]["history"]) == 1

    # The v1 per-agent path sees the same context.
    v1_path = (await client.get(f"/agents/echo/v1/contexts/{first['contextId']}",
                                headers={**DEMO, **V1})).json()
    assert [i["task"]["id"] for i in v1_path["items"]] == [first["id"], second["id"]]


async def test_tenant_context_is_isolated_and_authenticated(
        live: tuple[LiveServer, httpx.AsyncClient]) -> None:
    _, client = live
    task = await _send_v1(client, "private")
    url = f"/agentic/contexts/{task['contextId']}"
    assert (await client.get(url, headers={**ACME, **V1})).status_code == 404
    assert (await client.get(url)).status_code == 401
    assert (await client.get(url, headers={"X-API-Key": "demo-key", "Tenant-Name": "acme"})
            ).status_code == 403
    assert (await client.get("/agentic/contexts/nope", headers=DEMO)).status_code == 404
    bad = await client.get(url, params={"historyLength": "x"}, headers={**DEMO, **V1})
    assert bad.status_code == 400
