"""Push-notification URLs: the SSRF guard (A2A 1.0 section 13.2) and its allowlist setting."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from a2a_server.push_policy import PushUrlPolicy, parse_allowlist
from a2a_server.settings import Settings
from tests.conftest import DEMO, V1, make_settings, running_app

AUTH = {**DEMO, **V1}
BASE = "/agents/conformance/v1"
PUBLIC_LITERAL = "https://93.184.215.14/hook"  # a global unicast address: no DNS needed

REFUSED = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.5/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",  # shared address space
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
    "http://[fd00::1]/hook",
    "http://0.0.0.0/hook",
    "ftp://93.184.215.14/hook",
    "file:///etc/passwd",
    "http:///no-host",
    "http://93.184.215.14:99999/bad-port",
    # IPv6 forms that embed a non-public IPv4 address: judged by the IPv4 inside
    "http://[::127.0.0.1]/hook",  # IPv4-compatible
    "http://[::ffff:0:7f00:1]/hook",  # IPv4-translated (SIIT)
    "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "http://[2002:a9fe:a9fe::1]/hook",  # 6to4 of 169.254.169.254
    "http://[64:ff9b::7f00:1]/hook",  # NAT64 well-known prefix
    "http://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
    "http://[64:ff9b:1:7f00:1::]/hook",  # NAT64 local-use /48 (RFC 6052 layout)
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",  # Teredo, client 127.0.0.1
]

EMBEDDING_PUBLIC = [  # the same forms around 93.184.215.14: judged public like it
    "http://[2002:5db8:d70e::1]/hook",
    "http://[64:ff9b::5db8:d70e]/hook",
    "http://[64:ff9b:1:5db8:d7:e00::]/hook",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_non_public_targets_are_refused_by_default(url: str) -> None:
    policy = PushUrlPolicy()
    assert await policy.for_registration(url) is False
    assert await policy.for_delivery(url) is False


async def test_public_targets_are_accepted() -> None:
    policy = PushUrlPolicy()
    assert await policy.for_registration(PUBLIC_LITERAL) is True
    assert await policy.for_delivery(PUBLIC_LITERAL) is True


@pytest.mark.parametrize("url", EMBEDDING_PUBLIC)
async def test_ipv6_forms_embedding_a_public_ipv4_are_accepted(url: str) -> None:
    assert await PushUrlPolicy().for_delivery(url) is True


async def test_an_allowlisted_network_covers_the_ipv4_inside_an_embedding_form() -> None:
    policy = PushUrlPolicy.from_allowlist(["127.0.0.0/8"])
    assert await policy.for_delivery("http://[2002:7f00:1::]/hook") is True
    assert await policy.for_delivery("http://[2002:a00:1::]/hook") is False  # 10.0.0.1


async def test_an_unresolvable_host_may_be_registered_but_is_never_called() -> None:
    policy = PushUrlPolicy()
    url = "https://hooks.example.invalid/hook"  # .invalid never resolves (RFC 6761)
    assert await policy.for_registration(url) is True
    assert await policy.for_delivery(url) is False


async def test_allowlisted_networks_and_hosts() -> None:
    policy = PushUrlPolicy.from_allowlist(["127.0.0.0/8", "Hooks.Internal"])
    assert await policy.for_delivery("http://127.0.0.1:9000/hook") is True
    assert await policy.for_registration("http://hooks.internal/x") is True  # exempt by name
    assert await policy.for_delivery("http://hooks.internal/x") is True
    assert await policy.for_delivery("http://10.0.0.1/hook") is False  # not in the allowlist
    assert await policy.for_delivery("ftp://127.0.0.1/hook") is False  # scheme still checked


async def test_a_host_name_allowlist_entry_exempts_that_name_only() -> None:
    policy = PushUrlPolicy.from_allowlist(["localhost"])
    assert await policy.for_delivery("http://localhost:1234/webhook") is True
    assert await policy.for_delivery("http://127.0.0.1:1234/webhook") is False


class _CountingResolver:
    """Counts the event loop's ``getaddrinfo`` calls per host, answering with the real one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        loop = asyncio.get_running_loop()
        self.real = loop.getaddrinfo
        self.hosts: list[str] = []
        monkeypatch.setattr(loop, "getaddrinfo", self)

    async def __call__(self, host: str, *args: Any, **kwargs: Any) -> Any:
        self.hosts.append(host)
        return await self.real(host, *args, **kwargs)


async def test_ip_literals_are_judged_without_a_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = _CountingResolver(monkeypatch)
    policy = PushUrlPolicy.from_allowlist(["127.0.0.0/8"])
    assert await policy.for_registration("http://127.0.0.1:9000/hook") is True
    assert await policy.for_delivery("http://127.0.0.1:9000/hook") is True
    assert await policy.for_delivery("http://[::1]/hook") is False
    assert await policy.for_delivery(PUBLIC_LITERAL) is True
    assert resolver.hosts == []
    # a numeric spelling that is not a literal is still the resolver's to interpret
    assert await policy.for_delivery("http://2130706433/hook") is True  # 127.0.0.1
    assert resolver.hosts == ["2130706433"]


async def test_a_host_name_answer_is_kept_for_the_ttl_then_asked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resolver = _CountingResolver(monkeypatch)
    policy = PushUrlPolicy(resolution_ttl_s=0.2)
    for _ in range(3):  # localhost is loopback: refused, from one lookup
        assert await policy.for_delivery("http://localhost:1234/hook") is False
    assert await policy.for_registration("http://hooks.example.invalid/hook") is True
    assert await policy.for_delivery("http://hooks.example.invalid/hook") is False
    assert resolver.hosts == ["localhost", "hooks.example.invalid"]
    await asyncio.sleep(0.3)  # past the TTL: a re-pointed name is seen
    assert await policy.for_delivery("http://localhost:1234/hook") is False
    assert resolver.hosts == ["localhost", "hooks.example.invalid", "localhost"]


def test_allowlist_entries_are_parsed_and_bad_ones_named() -> None:
    hosts, networks = parse_allowlist([" localhost ", "10.0.0.0/8", "::1", "", "a.b-c.example."])
    assert hosts == {"localhost", "a.b-c.example"}
    assert [str(n) for n in networks] == ["10.0.0.0/8", "::1/128"]
    with pytest.raises(ValueError, match="'http://x' is neither"):
        parse_allowlist(["http://x"])


def test_allowlist_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A2A_SERVER_PUSH_URL_ALLOWLIST", "localhost, 127.0.0.0/8")
    assert Settings(jwt_secret="x" * 40).push_url_allowlist == ["localhost", "127.0.0.0/8"]
    monkeypatch.setenv("A2A_SERVER_PUSH_URL_ALLOWLIST", "localhost,10.0.0.0/33")
    with pytest.raises(ValidationError, match=r"10\.0\.0\.0/33"):
        Settings(jwt_secret="x" * 40)
    monkeypatch.delenv("A2A_SERVER_PUSH_URL_ALLOWLIST")
    assert Settings(jwt_secret="x" * 40).push_url_allowlist == []


# -- through the app ------------------------------------------------------------------


@pytest.fixture
async def app_client(backend: str, settings_for: Callable[..., Settings]
                     ) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings_for(backend)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def _completed_task(http: httpx.AsyncClient) -> str:
    message = {"role": "ROLE_USER", "parts": [{"text": "x"}],
               "messageId": f"tck-complete-task-{uuid.uuid4()}"}
    sent = await http.post(f"{BASE}/message:send", json={"message": message}, headers=AUTH)
    assert sent.status_code == 200, sent.text
    return str(sent.json()["task"]["id"])


async def test_registering_a_loopback_webhook_is_invalid_params(
    app_client: httpx.AsyncClient,
) -> None:
    task_id = await _completed_task(app_client)
    configs = f"{BASE}/tasks/{task_id}/pushNotificationConfigs"
    refused = await app_client.post(configs, json={"url": "http://127.0.0.1:6379/"}, headers=AUTH)
    assert refused.status_code == 400
    assert refused.json()["error"]["details"][0]["reason"] == "INVALID_PARAMS"
    assert (await app_client.get(configs, headers=AUTH)).json().get("configs", []) == []
    jsonrpc = await app_client.post(BASE, headers=AUTH, json={
        "jsonrpc": "2.0", "id": 3, "method": "CreateTaskPushNotificationConfig",
        "params": {"taskId": task_id, "url": "http://169.254.169.254/"}})
    assert jsonrpc.json()["error"]["code"] == -32602
    accepted = await app_client.post(configs, json={"url": PUBLIC_LITERAL}, headers=AUTH)
    assert accepted.status_code == 200, accepted.text


async def test_an_inline_loopback_webhook_refuses_the_send(app_client: httpx.AsyncClient) -> None:
    message = {"role": "ROLE_USER", "parts": [{"text": "x"}],
               "messageId": f"tck-complete-task-{uuid.uuid4()}"}
    response = await app_client.post(f"{BASE}/message:send", headers=AUTH, json={
        "message": message,
        "configuration": {"taskPushNotificationConfig": {"url": "http://localhost:9/hook"}}})
    assert response.status_code == 400
    listed = await app_client.get(f"{BASE}/tasks", headers=AUTH)
    assert listed.json()["tasks"] == []  # refused before any task was created


async def test_the_allowlist_setting_reaches_the_app() -> None:
    settings = make_settings(push_url_allowlist=["127.0.0.0/8"])
    async with running_app(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            task_id = await _completed_task(http)
            created = await http.post(f"{BASE}/tasks/{task_id}/pushNotificationConfigs",
                                      json={"url": "http://127.0.0.1:9/hook"}, headers=AUTH)
    assert created.status_code == 200, created.text


@pytest.mark.parametrize("config", [
    {"url": PUBLIC_LITERAL, "token": "abc\r\nX-Evil: 1"},
    {"url": PUBLIC_LITERAL, "authentication": {"scheme": "Bearer", "credentials": "x\ny"}},
    {"url": PUBLIC_LITERAL, "authentication": {"scheme": "Bearer\r", "credentials": "x"}},
    {"url": PUBLIC_LITERAL, "token": "nul\u0000byte"},
])
async def test_control_characters_in_token_or_credentials_are_refused_at_registration(
    app_client: httpx.AsyncClient, config: dict[str, object]
) -> None:
    task_id = await _completed_task(app_client)
    configs = f"{BASE}/tasks/{task_id}/pushNotificationConfigs"
    refused = await app_client.post(configs, json=config, headers=AUTH)
    assert refused.status_code == 400, refused.text
    assert "control characters" in refused.json()["error"]["message"]
    jsonrpc = await app_client.post(BASE, headers=AUTH, json={
        "jsonrpc": "2.0", "id": 3, "method": "CreateTaskPushNotificationConfig",
        "params": {"taskId": task_id, **config}})
    assert jsonrpc.json()["error"]["code"] == -32602
    message = {"role": "ROLE_USER", "parts": [{"text": "x"}],
               "messageId": f"tck-complete-task-{uuid.uuid4()}"}
    inline = await app_client.post(f"{BASE}/message:send", headers=AUTH, json={
        "message": message, "configuration": {"taskPushNotificationConfig": config}})
    assert inline.status_code == 400, inline.text
    assert (await app_client.get(configs, headers=AUTH)).json().get("configs", []) == []
