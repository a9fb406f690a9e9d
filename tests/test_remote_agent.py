"""``executor: remote``: a local agent forwarding to a second live a2a-server (the remote)."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from a2a_server.agents.remote import RemoteAgentExecutor
from a2a_server.tenancy.config import ConfigError
from tests.conftest import DEMO, V1, LiveServer, free_port, make_settings, user_message_v1
from tests.protocol.sse import read_events
from tests.remote_agents import card_url, proxy_binding, write_agent

HEADERS = {**DEMO, **V1}
TERMINAL = {"TASK_STATE_COMPLETED", "TASK_STATE_CANCELED", "TASK_STATE_FAILED"}


@pytest.fixture
def remote(live_server_factory: Callable[..., LiveServer], tmp_path: Path) -> LiveServer:
    """The remote A2A server: echo ('slow' takes 30 s) and a metered chat agent."""
    agents = tmp_path / "remote-agents"
    write_agent(agents, "echo", {"executor": "echo", "options": {"slow_seconds": 30}})
    write_agent(agents, "chat", {"executor": "tests.remote_agents:MeteredChatExecutor"})
    return live_server_factory("memory", agents_dir=agents)


@pytest.fixture
def local_factory(live_server_factory: Callable[..., LiveServer], tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Callable[..., LiveServer]:
    """The local server (on the test's backend) whose agents forward to ``remote``."""
    monkeypatch.setenv("REMOTE_DEMO_KEY", "demo-key")

    def start(backend: str, bindings: dict[str, dict[str, Any]], allow: bool = True) -> LiveServer:
        agents = tmp_path / f"local-agents-{free_port()}"
        write_agent(agents, "echo", {"executor": "echo"})  # the shipped tenants name it
        for agent_id, binding in bindings.items():
            write_agent(agents, agent_id, binding)
        extra = {"push_url_allowlist": "127.0.0.0/8"} if allow else {}
        return live_server_factory(backend, agents_dir=agents, **extra)

    return start


@pytest.fixture
def local(backend: str, remote: LiveServer, local_factory: Callable[..., LiveServer]) -> LiveServer:
    return local_factory(backend, {"proxy": proxy_binding(card_url(remote, "echo")),
                                   "chatproxy": proxy_binding(card_url(remote, "chat"))})


def path(server: LiveServer, agent: str, rest: str) -> str:
    return f"{server.url}/agents/{agent}/v1{rest}"


async def send(http: httpx.AsyncClient, server: LiveServer, agent: str, text: str,
               **config: Any) -> dict[str, Any]:
    body = user_message_v1(text)
    message = body["message"]
    for key in ("taskId", "contextId"):
        if key in config:
            message[key] = config.pop(key)
    if config:
        body["configuration"] = config
    sent = await http.post(path(server, agent, "/message:send"), json=body, headers=HEADERS)
    assert sent.status_code == 200, sent.text
    return sent.json()["task"]  # type: ignore[no-any-return]


async def get(http: httpx.AsyncClient, server: LiveServer, agent: str, task_id: str) -> dict[str, Any]:
    got = await http.get(path(server, agent, f"/tasks/{task_id}"), headers=HEADERS)
    assert got.status_code == 200, got.text
    return got.json()  # type: ignore[no-any-return]


async def wait_state(http: httpx.AsyncClient, server: LiveServer, agent: str, task_id: str,
                     states: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        task = await get(http, server, agent, task_id)
        if task["status"]["state"] in states or time.monotonic() > deadline:
            return task
        await asyncio.sleep(0.05)


def text_of(task: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for a in task.get("artifacts", []) for p in a["parts"])


async def test_send_is_forwarded_and_the_remote_task_mapped(local: LiveServer,
                                                            remote: LiveServer) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        task = await send(http, local, "proxy", "hello remote")
        assert task["status"]["state"] == "TASK_STATE_COMPLETED"
        assert text_of(task) == "echo: hello remote"
        mapped = task["metadata"]["remote"]
        assert mapped["card_url"] == card_url(remote, "echo")
        assert mapped["task_id"] and mapped["task_id"] != task["id"]
        assert mapped["context_id"] != task["contextId"]
        remote_task = await get(http, remote, "echo", mapped["task_id"])
        assert remote_task["contextId"] == mapped["context_id"]
        assert text_of(remote_task) == "echo: hello remote"
        stored = await get(http, local, "proxy", task["id"])
        assert stored["status"]["state"] == "TASK_STATE_COMPLETED"
        assert stored["metadata"]["remote"] == mapped
        assert stored["history"][0]["role"] == "ROLE_USER"


async def test_stream_relays_the_remote_events(local: LiveServer) -> None:
    async with httpx.AsyncClient(timeout=30) as http, http.stream(
            "POST", path(local, "proxy", "/message:stream"), json=user_message_v1("stream me"),
            headers=HEADERS) as response:
        assert response.status_code == 200
        events = [event.data async for event in read_events(response)]
    first = events[0]["task"]
    assert first["status"]["state"] == "TASK_STATE_SUBMITTED"
    ids = {e.get("statusUpdate", e.get("artifactUpdate", {})).get("taskId") for e in events[1:]}
    assert ids == {first["id"]}  # every event names the local task, never the remote's
    artifacts = [e["artifactUpdate"]["artifact"] for e in events if "artifactUpdate" in e]
    assert [p["text"] for a in artifacts for p in a["parts"]] == ["echo: stream me"]
    last = events[-1]["statusUpdate"]
    assert last["status"]["state"] == "TASK_STATE_COMPLETED"
    assert last["metadata"]["remote"]["task_id"]


async def test_cancel_propagates_to_the_remote_task(local: LiveServer, remote: LiveServer) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        task = await send(http, local, "proxy", "slow please", returnImmediately=True)
        deadline = time.monotonic() + 20
        while not (task.get("metadata", {}).get("remote", {}).get("task_id")):
            assert time.monotonic() < deadline, task
            await asyncio.sleep(0.05)
            task = await get(http, local, "proxy", task["id"])
        remote_id = task["metadata"]["remote"]["task_id"]
        assert (await get(http, remote, "echo", remote_id))["status"]["state"] == "TASK_STATE_WORKING"
        canceled = await http.post(path(local, "proxy", f"/tasks/{task['id']}:cancel"), headers=HEADERS)
        assert canceled.status_code == 200, canceled.text
        assert canceled.json()["status"]["state"] == "TASK_STATE_CANCELED"
        remote_task = await wait_state(http, remote, "echo", remote_id, TERMINAL)
        assert remote_task["status"]["state"] == "TASK_STATE_CANCELED"


async def test_follow_ups_reach_the_same_remote_task_and_context_with_usage(
        local: LiveServer, remote: LiveServer) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        first = await send(http, local, "chatproxy", "hi")
        assert first["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
        mapped = first["metadata"]["remote"]
        second = await send(http, local, "chatproxy", "bye", taskId=first["id"],
                            contextId=first["contextId"])
        assert second["id"] == first["id"]
        assert second["status"]["state"] == "TASK_STATE_COMPLETED"
        assert second["status"]["message"]["parts"][0]["text"] == "turn 2: bye"
        assert second["metadata"]["remote"]["task_id"] == mapped["task_id"]
        assert second["metadata"]["usage"]["input_tokens"] == 20
        assert second["metadata"]["usage"]["total_tokens"] == 30
        assert (second["metadata"]["model_used"], second["metadata"]["provider"]) == (
            "stand-in-1", "stand-in")
        remote_task = await get(http, remote, "chat", mapped["task_id"])
        assert [m["role"] for m in remote_task["history"]].count("ROLE_USER") == 2
        # A new local task in the same local context goes to the same remote context.
        third = await send(http, local, "chatproxy", "again", contextId=first["contextId"])
        assert third["id"] != first["id"]
        assert third["metadata"]["remote"]["context_id"] == mapped["context_id"]
        assert third["metadata"]["remote"]["task_id"] != mapped["task_id"]


async def test_a_remote_that_is_down_fails_the_task_clearly(
        backend: str, local_factory: Callable[..., LiveServer]) -> None:
    gone = card_url(f"http://127.0.0.1:{free_port()}", "echo")
    local = local_factory(backend, {"proxy": proxy_binding(gone)})
    async with httpx.AsyncClient(timeout=30) as http:
        task = await send(http, local, "proxy", "anyone there?")
        assert task["status"]["state"] == "TASK_STATE_FAILED"
        error = task["metadata"]["error"]
        assert error["code"] == "remote_unavailable"
        assert gone in error["message"]
        assert task["status"]["message"]["parts"][0]["text"] == error["message"]
        assert "Traceback" not in json.dumps(task)
        assert (await http.get(f"{local.url}/healthz")).status_code == 200


async def test_a_remote_refusing_the_credentials_fails_the_task(
        backend: str, remote: LiveServer, local_factory: Callable[..., LiveServer],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMOTE_WRONG_KEY", "not-the-key")
    local = local_factory(backend, {"proxy": proxy_binding(card_url(remote, "echo"),
                                                           auth_value_env="REMOTE_WRONG_KEY")})
    async with httpx.AsyncClient(timeout=30) as http:
        task = await send(http, local, "proxy", "let me in")
    assert task["status"]["state"] == "TASK_STATE_FAILED"
    assert task["metadata"]["error"]["code"] == "remote_refused"
    assert "HTTP 401" in task["metadata"]["error"]["message"]
    assert "not-the-key" not in json.dumps(task)


async def test_a_loopback_remote_is_refused_unless_allowlisted(
        backend: str, remote: LiveServer, local_factory: Callable[..., LiveServer]) -> None:
    local = local_factory(backend, {"proxy": proxy_binding(card_url(remote, "echo"))}, allow=False)
    async with httpx.AsyncClient(timeout=30) as http:
        task = await send(http, local, "proxy", "sneaky")
    assert task["status"]["state"] == "TASK_STATE_FAILED"
    assert task["metadata"]["error"]["code"] == "remote_url_refused"
    assert "push_url_allowlist" in task["metadata"]["error"]["message"]


async def test_missing_credentials_say_which_variable(
        backend: str, remote: LiveServer, local_factory: Callable[..., LiveServer]) -> None:
    local = local_factory(backend, {"proxy": proxy_binding(card_url(remote, "echo"),
                                                           auth_value_env="REMOTE_UNSET_KEY")})
    async with httpx.AsyncClient(timeout=30) as http:
        task = await send(http, local, "proxy", "hello")
    assert task["metadata"]["error"]["code"] == "remote_not_configured"
    assert "REMOTE_UNSET_KEY" in task["metadata"]["error"]["message"]


async def test_oauth2_client_credentials_against_the_remote_token_endpoint(
        backend: str, remote: LiveServer, local_factory: Callable[..., LiveServer],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMOTE_CLIENT_ID", "demo-client")
    monkeypatch.setenv("REMOTE_CLIENT_SECRET", "demo-secret")
    binding = {"executor": "remote", "options": {
        "card_url": card_url(remote, "echo"), "headers": {"Tenant-Name": "demo"},
        "auth": "oauth2", "token_url": f"{remote.url}/realms/demo/protocol/openid-connect/token",
        "client_id_env": "REMOTE_CLIENT_ID", "client_secret_env": "REMOTE_CLIENT_SECRET",
        "scope": "openid"}}
    local = local_factory(backend, {"proxy": binding})
    async with httpx.AsyncClient(timeout=30) as http:
        task = await send(http, local, "proxy", "with a token")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED", task
    assert text_of(task) == "echo: with a token"


@pytest.mark.parametrize(("options", "field"), [
    ({}, "card_url"),
    ({"card_url": "ftp://x/card"}, "card_url"),
    ({"card_url": "http://x/card", "surprise": 1}, "surprise"),
    ({"card_url": "http://x/card", "auth": "header"}, "options"),
    ({"card_url": "http://x/card", "timeout_seconds": 0}, "timeout_seconds"),
])
def test_options_are_validated_with_field_names(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=f"field '{field}'"):
        RemoteAgentExecutor(**options)


def test_a_bad_binding_fails_at_start_up_naming_the_field(tmp_path: Path) -> None:
    write_agent(tmp_path, "echo", {"executor": "echo"})
    write_agent(tmp_path, "proxy", {"executor": "remote", "options": {"card_url": "nope"}})
    from a2a_server.app import create_app

    with pytest.raises(ConfigError, match="card_url"):
        create_app(make_settings(agents_dir=tmp_path))
    shutil.rmtree(tmp_path)


async def test_a_slow_remote_times_out_and_is_cancelled(
        backend: str, remote: LiveServer, local_factory: Callable[..., LiveServer]) -> None:
    local = local_factory(backend, {"proxy": proxy_binding(card_url(remote, "echo"),
                                                           timeout_seconds=1.5)})
    async with httpx.AsyncClient(timeout=30) as http:
        task = await send(http, local, "proxy", "slow again")
        assert task["status"]["state"] == "TASK_STATE_FAILED"
        assert task["metadata"]["error"]["code"] == "timeout"
        assert "did not finish within 1.5 s" in task["metadata"]["error"]["message"]
        remote_id = task["metadata"]["remote"]["task_id"]
        remote_task = await wait_state(http, remote, "echo", remote_id, TERMINAL)
        assert remote_task["status"]["state"] == "TASK_STATE_CANCELED"


async def test_without_streaming_the_blocking_answer_is_mirrored(
        backend: str, remote: LiveServer, local_factory: Callable[..., LiveServer]) -> None:
    local = local_factory(backend, {"proxy": proxy_binding(card_url(remote, "chat"),
                                                           streaming=False)})
    async with httpx.AsyncClient(timeout=30) as http:
        task = await send(http, local, "proxy", "bye")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["status"]["message"]["parts"][0]["text"] == "turn 1: bye"
    assert task["metadata"]["usage"]["total_tokens"] == 15
    assert task["metadata"]["remote"]["task_id"]


async def test_a_cancel_on_another_replica_reaches_the_remote(
        remote: LiveServer, local_factory: Callable[..., LiveServer]) -> None:
    bindings = {"proxy": proxy_binding(card_url(remote, "echo"))}
    a = local_factory("redis", bindings)
    b = local_factory("redis", bindings)
    async with httpx.AsyncClient(timeout=30) as http:
        task = await send(http, a, "proxy", "slow and far", returnImmediately=True)
        deadline = time.monotonic() + 20
        while not task.get("metadata", {}).get("remote", {}).get("task_id"):
            assert time.monotonic() < deadline, task
            await asyncio.sleep(0.05)
            task = await get(http, b, "proxy", task["id"])
        remote_id = task["metadata"]["remote"]["task_id"]
        canceled = await http.post(path(b, "proxy", f"/tasks/{task['id']}:cancel"), headers=HEADERS)
        assert canceled.status_code == 200, canceled.text
        remote_task = await wait_state(http, remote, "echo", remote_id, TERMINAL)
        assert remote_task["status"]["state"] == "TASK_STATE_CANCELED"
        assert (await get(http, a, "proxy", task["id"]))["status"]["state"] == "TASK_STATE_CANCELED"


async def test_an_answer_over_the_size_cap_fails_the_task(
        backend: str, remote: LiveServer, local_factory: Callable[..., LiveServer]) -> None:
    local = local_factory(backend, {"proxy": proxy_binding(card_url(remote, "echo"),
                                                           max_answer_bytes=300)})
    async with httpx.AsyncClient(timeout=30) as http:
        task = await send(http, local, "proxy", "x" * 400)
    assert task["status"]["state"] == "TASK_STATE_FAILED"
    assert task["metadata"]["error"]["code"] == "remote_error"
    assert "answered more than 300 bytes" in task["metadata"]["error"]["message"]


async def test_a_streamed_follow_up_relays_only_the_new_turn(local: LiveServer) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        first = await send(http, local, "chatproxy", "one")
        body = user_message_v1("bye", taskId=first["id"], contextId=first["contextId"])
        async with http.stream("POST", path(local, "chatproxy", "/message:stream"), json=body,
                               headers=HEADERS) as response:
            events = [event.data async for event in read_events(response)]
        stored = await get(http, local, "chatproxy", first["id"])
    artifact_ids = [e["artifactUpdate"]["artifact"]["artifactId"] for e in events
                    if "artifactUpdate" in e]
    assert artifact_ids == ["turn-2"]
    assert events[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert [a["artifactId"] for a in stored["artifacts"]] == ["turn-1", "turn-2"]
