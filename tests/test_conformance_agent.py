"""The ``conformance`` agent (the A2A TCK's system under test), driven through the real app.

Each behaviour the TCK selects by message-ID prefix is checked on the wire, with
the demo tenant's credentials, on the HTTP+JSON and JSON-RPC bindings; streams
run over a real uvicorn; push notifications are delivered to a real HTTP
receiver on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest

from a2a_server.agents.conformance import ConformanceAgentExecutor
from a2a_server.settings import Settings
from tests.conftest import ACME, DEMO, V1, LiveServer, running_app
from tests.protocol.sse import SseEvent, read_events

BASE = "/agents/conformance/v1"
AUTH = {**DEMO, **V1}


def tck_message(prefix: str, text: str = "TCK", **extra: Any) -> dict[str, Any]:
    """A 1.0 message whose ID starts with ``prefix``, as the TCK builds them."""
    return {"role": "ROLE_USER", "parts": [{"text": text}],
            "messageId": f"{prefix}-{uuid.uuid4()}", **extra}


async def send(client: httpx.AsyncClient, message: dict[str, Any],
               **params: Any) -> dict[str, Any]:
    response = await client.post(f"{BASE}/message:send", json={"message": message, **params},
                                 headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def rpc(client: httpx.AsyncClient, method: str, params: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(BASE, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                             "params": params}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def only_artifact_part(task: dict[str, Any]) -> dict[str, Any]:
    assert len(task["artifacts"]) == 1 and len(task["artifacts"][0]["parts"]) == 1, task
    return task["artifacts"][0]["parts"][0]  # type: ignore[no-any-return]


# -- routing ------------------------------------------------------------------


@pytest.mark.parametrize(("message_id", "behaviour"), [
    ("tck-complete-task-1", "tck-complete-task"),
    ("tck-artifact-file-url-1", "tck-artifact-file-url"),
    ("tck-artifact-file-1", "tck-artifact-file"),
    ("tck-stream-artifact-file-1", "tck-stream-artifact-file"),
    ("tck-stream-artifact-chunked-1", "tck-stream-artifact-chunked"),
    ("tck-stream-ordering-001-x", "tck-stream-ordering-001"),
    ("tck-stream-001-x", "tck-stream-001"),
    ("tck-message-response-1", "tck-message-response"),
    ("test-resubscribe-message-id-1", "test-resubscribe-message-id"),
    ("tck-dm-test-001-x", ""),
    ("plain-uuid", ""),
])
def test_the_longest_matching_prefix_selects_the_behaviour(message_id: str, behaviour: str) -> None:
    assert ConformanceAgentExecutor().behaviour_for(message_id) == behaviour


def test_binding_options_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown conformance options"):
        ConformanceAgentExecutor(colour="blue")
    with pytest.raises(ValueError, match="resubscribe_seconds"):
        ConformanceAgentExecutor(resubscribe_seconds=-1)


# -- the card -------------------------------------------------------------------


async def test_card_declares_streaming_push_and_extended_card(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{BASE}/.well-known/agent-card.json")
    assert response.status_code == 200
    card = response.json()
    assert card["capabilities"] == {"streaming": True, "pushNotifications": True,
                                    "extendedAgentCard": True}
    assert {i["protocolBinding"] for i in card["supportedInterfaces"]} == {"JSONRPC", "HTTP+JSON"}
    assert all(i["url"] == "http://testserver/agents/conformance/v1"
               for i in card["supportedInterfaces"])
    assert card["skills"][0]["id"] == "tck"


async def test_the_conformance_agent_is_not_enabled_for_acme(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{BASE}/message:send",
                                 json={"message": tck_message("tck-complete-task")},
                                 headers={**ACME, **V1})
    assert response.status_code == 404


# -- SendMessage behaviours -------------------------------------------------------


async def test_complete_task(client: httpx.AsyncClient) -> None:
    task = (await send(client, tck_message("tck-complete-task", "hello")))["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["status"]["message"]["role"] == "ROLE_AGENT"
    assert task["status"]["message"]["parts"] == [{"text": "Hello from TCK"}]
    assert task["history"][0]["parts"] == [{"text": "hello"}]


async def test_unknown_prefix_completes_the_task(client: httpx.AsyncClient) -> None:
    task = (await send(client, tck_message("some-client-uuid")))["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_artifact_text(client: httpx.AsyncClient) -> None:
    task = (await send(client, tck_message("tck-artifact-text")))["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert only_artifact_part(task) == {"text": "Generated text content"}


async def test_artifact_file_with_bytes(client: httpx.AsyncClient) -> None:
    task = (await send(client, tck_message("tck-artifact-file")))["task"]
    part = only_artifact_part(task)
    assert part["filename"] == "output.txt" and part["mediaType"] == "text/plain"
    assert base64.b64decode(part["raw"]) == b"Generated file content"


async def test_artifact_file_by_url(client: httpx.AsyncClient) -> None:
    task = (await send(client, tck_message("tck-artifact-file-url")))["task"]
    assert only_artifact_part(task) == {"url": "https://example.com/output.txt",
                                        "filename": "output.txt", "mediaType": "text/plain"}


async def test_artifact_data(client: httpx.AsyncClient) -> None:
    task = (await send(client, tck_message("tck-artifact-data")))["task"]
    assert only_artifact_part(task)["data"] == {"key": "value", "count": 42}


async def test_message_response_is_a_direct_message(client: httpx.AsyncClient) -> None:
    result = await send(client, tck_message("tck-message-response"))
    assert set(result) == {"message"}
    assert result["message"]["role"] == "ROLE_AGENT"
    assert result["message"]["parts"] == [{"text": "Direct message response"}]


async def test_reject_task(client: httpx.AsyncClient) -> None:
    task = (await send(client, tck_message("tck-reject-task")))["task"]
    assert task["status"]["state"] == "TASK_STATE_REJECTED"
    assert task["status"]["message"]["parts"] == [{"text": "rejected"}]


async def test_input_required_then_follow_up_completes(client: httpx.AsyncClient) -> None:
    task = (await send(client, tck_message("tck-input-required", "first")))["task"]
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    follow = tck_message("tck-input-required", "second", taskId=task["id"])
    again = (await send(client, follow))["task"]
    assert again["id"] == task["id"] and again["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    last = tck_message("tck-complete-task", "third", taskId=task["id"])
    done = (await send(client, last))["task"]
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    assert done["contextId"] == task["contextId"]
    stored = (await client.get(f"{BASE}/tasks/{task['id']}", headers=AUTH)).json()
    users = [m["parts"][0]["text"] for m in stored["history"] if m["role"] == "ROLE_USER"]
    assert users == ["first", "second", "third"]


async def test_cancel_an_input_required_task(client: httpx.AsyncClient) -> None:
    task = (await send(client, tck_message("tck-input-required")))["task"]
    canceled = await client.post(f"{BASE}/tasks/{task['id']}:cancel", headers=AUTH)
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"]["state"] == "TASK_STATE_CANCELED"
    again = await client.post(f"{BASE}/tasks/{task['id']}:cancel", headers=AUTH)
    assert again.status_code >= 400  # a canceled task is terminal: not cancelable


async def test_jsonrpc_send_get_and_list(client: httpx.AsyncClient) -> None:
    sent = await rpc(client, "SendMessage", {"message": tck_message("tck-artifact-text")})
    task = sent["result"]["task"]
    assert only_artifact_part(task) == {"text": "Generated text content"}
    got = await rpc(client, "GetTask", {"id": task["id"], "historyLength": 0})
    assert got["result"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert "history" not in got["result"]
    listed = await rpc(client, "ListTasks", {"contextId": task["contextId"]})
    assert [t["id"] for t in listed["result"]["tasks"]] == [task["id"]]


async def test_jsonrpc_message_response(client: httpx.AsyncClient) -> None:
    sent = await rpc(client, "SendMessage", {"message": tck_message("tck-message-response")})
    assert sent["result"]["message"]["parts"] == [{"text": "Direct message response"}]


# -- extended card ----------------------------------------------------------------


async def test_extended_card_needs_credentials_and_names_the_tenant(
    client: httpx.AsyncClient,
) -> None:
    anonymous = await client.get(f"{BASE}/extendedAgentCard", headers=V1)
    assert anonymous.status_code == 401
    rest = await client.get(f"{BASE}/extendedAgentCard", headers=AUTH)
    assert rest.status_code == 200, rest.text
    assert rest.json()["name"] == "Conformance"
    assert all(i["tenant"] == "demo" for i in rest.json()["supportedInterfaces"])
    assert "extended card for tenant demo" in rest.json()["description"]
    jsonrpc = await rpc(client, "GetExtendedAgentCard", {})
    assert jsonrpc["result"]["name"] == "Conformance"


# -- push notification configs ----------------------------------------------------


async def test_push_config_set_get_list_delete(client: httpx.AsyncClient) -> None:
    task = (await send(client, tck_message("tck-complete-task")))["task"]
    configs = f"{BASE}/tasks/{task['id']}/pushNotificationConfigs"
    config = {"id": "cfg-1", "url": "https://example.com/hook",
              "authentication": {"scheme": "Bearer", "credentials": "secret"}}
    created = await client.post(configs, json=config, headers=AUTH)
    assert created.status_code == 200, created.text
    assert created.json()["id"] == "cfg-1" and created.json()["url"] == "https://example.com/hook"
    got = await client.get(f"{configs}/cfg-1", headers=AUTH)
    assert got.status_code == 200 and got.json()["taskId"] == task["id"]
    listed = await client.get(configs, headers=AUTH)
    assert [c["id"] for c in listed.json()["configs"]] == ["cfg-1"]
    assert (await client.get(f"{configs}/nope", headers=AUTH)).status_code == 404
    assert (await client.delete(f"{configs}/cfg-1", headers=AUTH)).status_code == 200
    assert (await client.get(f"{configs}/cfg-1", headers=AUTH)).status_code == 404
    assert (await client.delete(f"{configs}/cfg-1", headers=AUTH)).status_code == 200  # idempotent


async def test_push_config_over_jsonrpc(client: httpx.AsyncClient) -> None:
    task = (await send(client, tck_message("tck-complete-task")))["task"]
    created = await rpc(client, "CreateTaskPushNotificationConfig",
                        {"taskId": task["id"], "id": "cfg-2", "url": "https://example.com/h"})
    assert created["result"]["id"] == "cfg-2"
    got = await rpc(client, "GetTaskPushNotificationConfig", {"taskId": task["id"], "id": "cfg-2"})
    assert got["result"]["url"] == "https://example.com/h"
    listed = await rpc(client, "ListTaskPushNotificationConfigs", {"taskId": task["id"]})
    assert [c["id"] for c in listed["result"]["configs"]] == ["cfg-2"]
    deleted = await rpc(client, "DeleteTaskPushNotificationConfig",
                        {"taskId": task["id"], "id": "cfg-2"})
    assert "error" not in deleted


async def test_another_tenant_cannot_read_the_push_configs(client: httpx.AsyncClient) -> None:
    task = (await send(client, tck_message("tck-complete-task")))["task"]
    response = await client.get(f"{BASE}/tasks/{task['id']}/pushNotificationConfigs",
                                headers={**ACME, **V1})
    assert response.status_code == 404


class WebhookReceiver:
    """A real HTTP server on loopback that records the POSTs it receives."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], Any]] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()},
                                          json.loads(body)))
                receiver.arrived.set()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                del args

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhook"


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
async def loopback_push_client(
    backend: str, settings_for: Callable[..., Settings]
) -> AsyncIterator[httpx.AsyncClient]:
    """An app that may deliver push notifications to loopback (the receiver's address)."""
    settings = settings_for(backend, push_url_allowlist=["127.0.0.0/8"])
    async with running_app(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_push_delivery_with_credentials_as_stream_responses(
    loopback_push_client: httpx.AsyncClient, webhook: WebhookReceiver
) -> None:
    client = loopback_push_client
    config = {"id": "hook", "url": webhook.url,
              "authentication": {"scheme": "Bearer", "credentials": "tck-token"}}
    first = await send(client, tck_message("tck-input-required"),
                       configuration={"taskPushNotificationConfig": config})
    task_id = first["task"]["id"]
    await send(client, tck_message("tck-complete-task", taskId=task_id))
    for _ in range(150):  # wait for the terminal notification (delivery is asynchronous)
        if any(_state(body) == "TASK_STATE_COMPLETED" for _, body in list(webhook.requests)):
            break
        webhook.arrived.clear()
        await asyncio.to_thread(webhook.arrived.wait, 0.1)
    assert webhook.requests, "no push notification arrived"
    for headers, body in webhook.requests:
        assert headers["authorization"] == "Bearer tck-token"
        assert len(body) == 1 and next(iter(body)) in {"task", "statusUpdate", "artifactUpdate"}
        event = next(iter(body.values()))
        assert event.get("taskId", event.get("id")) == task_id
    assert _state(webhook.requests[-1][1]) == "TASK_STATE_COMPLETED"


def _state(body: dict[str, Any]) -> str | None:
    event = body.get("statusUpdate") or body.get("task") or {}
    return event.get("status", {}).get("state")


# -- streaming ----------------------------------------------------------------------


async def stream(server: LiveServer, message: dict[str, Any]) -> list[SseEvent]:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http, \
            http.stream("POST", f"{BASE}/message:stream", json={"message": message},
                        headers=AUTH) as response:
        assert response.status_code == 200, await response.aread()
        return [event async for event in read_events(response)]


def kinds_and_states(events: list[SseEvent]) -> list[str]:
    out = []
    for event in events:
        kind = next(iter(event.data))
        payload = event.data[kind]
        out.append(f"{kind}:{payload['status']['state']}" if "status" in payload else kind)
    return out


@pytest.mark.parametrize(("prefix", "text"), [
    ("tck-stream-001", "Stream hello from TCK"),
    ("tck-stream-003", "Stream task lifecycle"),
    ("tck-stream-ordering-001", "Ordered output"),
    ("tck-stream-artifact-text", "Streamed text content"),
])
async def test_stream_working_artifact_completed(
    live_server_factory: Callable[..., LiveServer], backend: str, prefix: str, text: str
) -> None:
    events = await stream(live_server_factory(backend), tck_message(prefix))
    assert kinds_and_states(events) == [
        "task:TASK_STATE_SUBMITTED", "statusUpdate:TASK_STATE_WORKING", "artifactUpdate",
        "statusUpdate:TASK_STATE_COMPLETED"]
    assert events[2].data["artifactUpdate"]["artifact"]["parts"] == [{"text": text}]


async def test_stream_message_only_lifecycle(live_server_factory: Callable[..., LiveServer],
                                             backend: str) -> None:
    events = await stream(live_server_factory(backend), tck_message("tck-stream-002"))
    assert kinds_and_states(events) == ["task:TASK_STATE_SUBMITTED",
                                        "statusUpdate:TASK_STATE_COMPLETED"]


async def test_stream_file_artifact(live_server_factory: Callable[..., LiveServer],
                                    backend: str) -> None:
    events = await stream(live_server_factory(backend), tck_message("tck-stream-artifact-file"))
    part = events[2].data["artifactUpdate"]["artifact"]["parts"][0]
    assert part["filename"] == "output.txt" and part["mediaType"] == "text/plain"


async def test_stream_chunked_artifact_is_assembled(live_server_factory: Callable[..., LiveServer],
                                                    backend: str) -> None:
    server = live_server_factory(backend)
    events = await stream(server, tck_message("tck-stream-artifact-chunked"))
    chunks = [e.data["artifactUpdate"] for e in events if "artifactUpdate" in e.data]
    assert [c["artifact"]["parts"] for c in chunks] == [[{"text": "chunk-1 "}],
                                                        [{"text": "chunk-2"}]]
    assert [c.get("append", False) for c in chunks] == [False, True]
    assert [c.get("lastChunk", False) for c in chunks] == [False, True]
    assert chunks[0]["artifact"]["artifactId"] == chunks[1]["artifact"]["artifactId"]
    task_id = events[0].data["task"]["id"]
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        stored = (await http.get(f"{BASE}/tasks/{task_id}", headers=AUTH)).json()
    assert stored["artifacts"][0]["parts"] == [{"text": "chunk-1 "}, {"text": "chunk-2"}]


async def test_stream_message_response(live_server_factory: Callable[..., LiveServer],
                                       backend: str) -> None:
    events = await stream(live_server_factory(backend), tck_message("tck-message-response"))
    assert [e.data for e in events] == [{"message": events[0].data["message"]}]
    assert events[0].data["message"]["parts"] == [{"text": "Direct message response"}]


async def test_resubscribe_to_the_long_running_task(live_server_factory: Callable[..., LiveServer],
                                                    backend: str) -> None:
    server = live_server_factory(backend)
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        sent = await http.post(f"{BASE}/message:send", headers=AUTH, json={
            "message": tck_message("test-resubscribe-message-id"),
            "configuration": {"returnImmediately": True}})
        task_id = sent.json()["task"]["id"]
        for _ in range(200):
            got = (await http.get(f"{BASE}/tasks/{task_id}", headers=AUTH)).json()
            if got["status"]["state"] == "TASK_STATE_WORKING":
                break
            await asyncio.sleep(0.02)
        assert got["status"]["state"] == "TASK_STATE_WORKING"
        subscribe = f"{BASE}/tasks/{task_id}:subscribe"
        async with http.stream("POST", subscribe, headers=AUTH) as response:
            assert response.status_code == 200, await response.aread()
            events = [event async for event in read_events(response)]
    states = kinds_and_states(events)
    assert states[0] == "task:TASK_STATE_WORKING"  # the snapshot first
    assert states[-1] == "statusUpdate:TASK_STATE_COMPLETED"
