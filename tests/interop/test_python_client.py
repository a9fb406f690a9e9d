"""The official Python ``a2a-sdk`` client, unmodified, against a live server.

Everything is discovered from the agent card: the interfaces (URL, binding,
tenant), the security schemes (the API-key header name, the OAuth2 token URL).
Each operation runs over each binding the card declares.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.client.auth.credentials import CredentialService
from a2a.client.auth.interceptor import AuthInterceptor
from a2a.client.card_resolver import A2ACardResolver, parse_agent_card
from a2a.client.client import Client, ClientCallContext
from a2a.types.a2a_pb2 import (
    AgentCard,
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskState,
)
from a2a.utils.errors import TaskNotFoundError

pytestmark = pytest.mark.interop

BINDINGS = ["JSONRPC", "HTTP+JSON"]


class CardCredentials(CredentialService):
    """Credentials per security-scheme name: an API key, or an OAuth2 token it fetches itself."""

    def __init__(self, card: AgentCard, *, api_key: str | None = None,
                 client_id: str | None = None, client_secret: str | None = None) -> None:
        self._card = card
        self._api_key = api_key
        self._client = (client_id, client_secret)
        self._token: str | None = None
        self.token_url: str | None = None

    async def get_credentials(self, security_scheme_name: str,
                              context: ClientCallContext | None) -> str | None:
        del context
        scheme = self._card.security_schemes[security_scheme_name]
        if scheme.HasField("api_key_security_scheme"):
            return self._api_key
        if scheme.HasField("oauth2_security_scheme") and self._client[0]:
            if self._token is None:
                self.token_url = scheme.oauth2_security_scheme.flows.client_credentials.token_url
                async with httpx.AsyncClient() as http:
                    answer = await http.post(self.token_url, data={
                        "grant_type": "client_credentials", "client_id": self._client[0],
                        "client_secret": self._client[1], "scope": "openid"})
                answer.raise_for_status()
                self._token = answer.json()["access_token"]
            return self._token
        return None


def _message(text: str, **fields: Any) -> SendMessageRequest:
    return SendMessageRequest(message=Message(
        message_id=uuid.uuid4().hex, role=Role.ROLE_USER, parts=[Part(text=text)], **fields))


@pytest.fixture
async def discovered(backend: str, live_server_factory: Callable[..., Any]) -> AsyncIterator[
        tuple[str, AgentCard, httpx.AsyncClient]]:
    """A live server and the echo card as an anonymous client sees it (Tenant-Name: demo)."""
    server = live_server_factory(backend)
    async with httpx.AsyncClient(timeout=30) as http:
        resolver = A2ACardResolver(http, f"{server.url}/agents/echo/v1")
        card = await resolver.get_agent_card(http_kwargs={"headers": {"Tenant-Name": "demo"}})
        yield server.url, card, http


def _client(card: AgentCard, http: httpx.AsyncClient, binding: str, *, streaming: bool,
            credentials: CredentialService) -> Client:
    config = ClientConfig(httpx_client=http, supported_protocol_bindings=[binding],
                          use_client_preference=True, streaming=streaming)
    return ClientFactory(config).create(card, interceptors=[AuthInterceptor(credentials)])


async def _collect(client: Client, request: SendMessageRequest) -> list[StreamResponse]:
    return [event async for event in client.send_message(request)]


def _artifact_text(task: Task) -> str:
    return "".join(part.text for artifact in task.artifacts for part in artifact.parts)


async def test_card_discovery(discovered: tuple[str, AgentCard, httpx.AsyncClient]) -> None:
    url, card, _ = discovered
    bindings = sorted(i.protocol_binding for i in card.supported_interfaces)
    assert bindings == sorted(BINDINGS)
    assert {i.tenant for i in card.supported_interfaces} == {"demo"}
    assert {i.url for i in card.supported_interfaces} == {f"{url}/agents/echo/v1"}
    assert card.security_schemes["apiKey"].api_key_security_scheme.name == "X-API-Key"
    flows = card.security_schemes["oauth2"].oauth2_security_scheme.flows
    assert flows.client_credentials.token_url == f"{url}/realms/demo/protocol/openid-connect/token"


@pytest.mark.parametrize("binding", BINDINGS)
async def test_send_then_get_with_history_length(
        binding: str, discovered: tuple[str, AgentCard, httpx.AsyncClient]) -> None:
    _, card, http = discovered
    client = _client(card, http, binding, streaming=False,
                     credentials=CardCredentials(card, api_key="demo-key"))
    # "slow" makes the agent post a progress message first, so the history has two entries.
    events = await _collect(client, _message("slow hello"))
    assert len(events) == 1 and events[0].HasField("task")
    task = events[0].task
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert _artifact_text(task) == "echo: slow hello"

    full = await client.get_task(GetTaskRequest(id=task.id))
    assert full.id == task.id
    assert [m.role for m in full.history] == [Role.ROLE_USER, Role.ROLE_AGENT]
    last = await client.get_task(GetTaskRequest(id=task.id, history_length=1))
    assert list(last.history) == [full.history[-1]]
    none = await client.get_task(GetTaskRequest(id=task.id, history_length=0))
    assert list(none.history) == []
    assert _artifact_text(none) == "echo: slow hello"
    again = await client.get_task(GetTaskRequest(id=task.id))
    assert list(again.history) == list(full.history)  # trimming never changes what is stored


@pytest.mark.parametrize("binding", BINDINGS)
async def test_stream(binding: str, discovered: tuple[str, AgentCard, httpx.AsyncClient]) -> None:
    _, card, http = discovered
    assert card.capabilities.streaming
    client = _client(card, http, binding, streaming=True,
                     credentials=CardCredentials(card, api_key="demo-key"))
    events = await _collect(client, _message("stream me"))
    kinds = [event.WhichOneof("payload") for event in events]
    assert kinds[0] == "task"
    assert "artifact_update" in kinds
    final = events[-1]
    assert final.WhichOneof("payload") == "status_update"
    assert final.status_update.status.state == TaskState.TASK_STATE_COMPLETED
    artifact = next(e.artifact_update for e in events if e.HasField("artifact_update"))
    assert artifact.artifact.parts[0].text == "echo: stream me"
    stored = await client.get_task(GetTaskRequest(id=events[0].task.id))
    assert stored.status.state == TaskState.TASK_STATE_COMPLETED


@pytest.mark.parametrize("binding", BINDINGS)
async def test_cancel(binding: str, discovered: tuple[str, AgentCard, httpx.AsyncClient]) -> None:
    _, card, http = discovered
    client = _client(card, http, binding, streaming=True,
                     credentials=CardCredentials(card, api_key="demo-key"))
    task_id = None
    async for event in client.send_message(_message("slow one")):
        if event.HasField("task"):
            task_id = event.task.id
            break
    assert task_id
    canceled = await client.cancel_task(CancelTaskRequest(id=task_id))
    assert canceled.status.state == TaskState.TASK_STATE_CANCELED
    stored = await client.get_task(GetTaskRequest(id=task_id))
    assert stored.status.state == TaskState.TASK_STATE_CANCELED


@pytest.mark.parametrize("binding", BINDINGS)
async def test_oauth2_from_card(
        binding: str, discovered: tuple[str, AgentCard, httpx.AsyncClient]) -> None:
    """The token URL comes from the card; the client's Bearer token is accepted."""
    url, card, http = discovered
    credentials = CardCredentials(card, client_id="demo-client", client_secret="demo-secret")
    client = _client(card, http, binding, streaming=False, credentials=credentials)
    events = await _collect(client, _message("with a token"))
    assert credentials.token_url == f"{url}/realms/demo/protocol/openid-connect/token"
    assert _artifact_text(events[0].task) == "echo: with a token"


@pytest.mark.parametrize("binding", BINDINGS)
async def test_other_tenant_cannot_read(
        binding: str, discovered: tuple[str, AgentCard, httpx.AsyncClient]) -> None:
    """A task made by tenant demo is not found for tenant acme's key (same card, same client)."""
    url, card, http = discovered
    demo = _client(card, http, binding, streaming=False,
                   credentials=CardCredentials(card, api_key="demo-key"))
    task = (await _collect(demo, _message("private")))[0].task
    async with httpx.AsyncClient(timeout=30) as acme_http:
        resolver = A2ACardResolver(acme_http, f"{url}/agents/echo/v1")
        acme_card = await resolver.get_agent_card(
            http_kwargs={"headers": {"X-API-Key": "acme-key"}})
        assert {i.tenant for i in acme_card.supported_interfaces} == {"acme"}
        acme = _client(acme_card, acme_http, binding, streaming=False,
                       credentials=CardCredentials(acme_card, api_key="acme-key"))
        with pytest.raises(TaskNotFoundError):
            await acme.get_task(GetTaskRequest(id=task.id))


@pytest.mark.parametrize("binding", BINDINGS)
async def test_card_without_tenant(binding: str, backend: str,
                                   live_server_factory: Callable[..., Any]) -> None:
    """Fetched with no credentials and no Tenant-Name: no tenant in the interfaces; the API key
    alone selects the tenant."""
    server = live_server_factory(backend)
    async with httpx.AsyncClient(timeout=30) as http:
        card = await A2ACardResolver(http, f"{server.url}/agents/echo/v1").get_agent_card()
        assert {i.tenant for i in card.supported_interfaces} == {""}
        assert "oauth2" not in card.security_schemes  # no tenant, so no token URL to name
        client = _client(card, http, binding, streaming=True,
                         credentials=CardCredentials(card, api_key="demo-key"))
        events = await _collect(client, _message("no tenant"))
        task_id = events[0].task.id
        assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
        assert (await client.get_task(GetTaskRequest(id=task_id))).id == task_id


@pytest.mark.parametrize("binding", BINDINGS)
async def test_corti_v2_card(binding: str, backend: str,
                             live_server_factory: Callable[..., Any]) -> None:
    """Discovered from the Corti v2 card: the client talks to /agentic/agents/{id}/a2a."""
    server = live_server_factory(backend)
    async with httpx.AsyncClient(timeout=30) as http:
        resolver = A2ACardResolver(http, f"{server.url}/agentic/agents/echo")
        card = await resolver.get_agent_card(http_kwargs={"headers": {"Tenant-Name": "demo"}})
        assert {i.url for i in card.supported_interfaces} == {
            f"{server.url}/agentic/agents/echo/a2a"}
        client = _client(card, http, binding, streaming=False,
                         credentials=CardCredentials(card, api_key="demo-key"))
        task = (await _collect(client, _message("via v2")))[0].task
        assert _artifact_text(task) == "echo: via v2"
        got = await client.get_task(GetTaskRequest(id=task.id, history_length=0))
        assert got.id == task.id and list(got.history) == []


async def test_a2a_03_view_of_the_card(backend: str,
                                       live_server_factory: Callable[..., Any]) -> None:
    """A client that reads only the card's 0.3 fields (url, protocolVersion, preferredTransport)
    gets the SDK's 0.3 JSON-RPC transport, and send, stream, get and cancel work over it."""
    server = live_server_factory(backend)
    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": "demo-key"}) as http:
        raw = (await http.get(f"{server.url}/agents/echo/agent-card.json")).json()
        legacy = {k: v for k, v in raw.items()
                  if k not in ("supportedInterfaces", "securityRequirements")}
        card = parse_agent_card(legacy)
        assert [(i.url, i.protocol_binding, i.protocol_version)
                for i in card.supported_interfaces] == [
            (f"{server.url}/agents/echo/v1", "JSONRPC", "0.3")]
        sender = ClientFactory(ClientConfig(httpx_client=http, streaming=False)).create(card)
        assert type(sender._transport).__name__ == "CompatJsonRpcTransport"
        task = (await _collect(sender, _message("old client")))[0].task
        assert _artifact_text(task) == "echo: old client"
        got = await sender.get_task(GetTaskRequest(id=task.id))
        assert got.status.state == TaskState.TASK_STATE_COMPLETED

        streamer = ClientFactory(ClientConfig(httpx_client=http, streaming=True)).create(card)
        events = await _collect(streamer, _message("old stream"))
        assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
        async for event in streamer.send_message(_message("slow old cancel")):
            task_id = event.task.id
            break
        canceled = await streamer.cancel_task(CancelTaskRequest(id=task_id))
        assert canceled.status.state == TaskState.TASK_STATE_CANCELED
