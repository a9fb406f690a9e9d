"""Apps serving gRPC on a free port, and SDK clients (the SDK's own gRPC transport) for them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import httpx
import pytest
from a2a.client import A2ACardResolver, Client, ClientCallContext, ClientConfig, ClientFactory
from a2a.client.interceptors import AfterArgs, BeforeArgs, ClientCallInterceptor
from a2a.types.a2a_pb2 import (
    AgentCard,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
)
from a2a.utils.constants import TransportProtocol

from a2a_server.settings import Settings
from tests.conftest import free_port, running_app
from tests.protocol.conftest import make_agents_dir

DEMO_KEY = {"x-api-key": "demo-key"}
ACME_KEY = {"x-api-key": "acme-key"}


def grpc_settings(settings_for: Callable[..., Settings], backend: str, **overrides: Any) -> Settings:
    """Settings of an app that also serves gRPC on a free loopback port."""
    port = free_port()
    overrides.setdefault("grpc_public_address", f"127.0.0.1:{port}")
    return settings_for(backend, grpc_port=port, **overrides)


@dataclass
class GrpcApp:
    """An app with its lifespan entered (gRPC served), and an HTTP client of it."""

    app: Any
    http: httpx.AsyncClient
    settings: Settings

    async def card(self, agent: str = "echo", key: str = "demo-key") -> AgentCard:
        """The agent's card as the SDK's resolver reads it, for the key's tenant."""
        self.http.headers.update({"X-API-Key": key})
        resolver = A2ACardResolver(self.http, "http://testserver",
                                   agent_card_path=f"/agents/{agent}/v1/.well-known/agent-card.json")
        return await resolver.get_agent_card()

    async def client(self, agent: str = "echo", key: str | None = "demo-key",
                     streaming: bool = False) -> Client:
        """An SDK client that picked the card's GRPC interface (sending ``key``, if any)."""
        config = ClientConfig(streaming=streaming, grpc_channel_factory=grpc.aio.insecure_channel,
                              supported_protocol_bindings=[TransportProtocol.GRPC])
        card = await self.card(agent, key or "demo-key")
        return ClientFactory(config).create(card, interceptors=[ApiKey(key)] if key else [])


class ApiKey(ClientCallInterceptor):
    """Sends an API key (as gRPC metadata) with every call."""

    def __init__(self, key: str) -> None:
        self.key = key

    async def before(self, args: BeforeArgs) -> None:
        """Add ``x-api-key`` unless the call brings its own credentials."""
        if args.context is None:
            args.context = ClientCallContext()
        parameters = dict(args.context.service_parameters or {})
        if "authorization" not in parameters:
            parameters.setdefault("x-api-key", self.key)
        args.context.service_parameters = parameters

    async def after(self, args: AfterArgs) -> None:
        """Nothing to do."""


@contextlib.asynccontextmanager
async def grpc_app(settings: Settings) -> AsyncIterator[GrpcApp]:
    """``running_app`` with gRPC, and an in-process HTTP client."""
    async with running_app(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GrpcApp(app, http, settings)


@pytest.fixture
async def served(backend: str, settings_for: Callable[..., Settings],
                 agents_dir: Path) -> AsyncIterator[GrpcApp]:
    """An app serving the shipped and test agents over gRPC, on each backend."""
    async with grpc_app(grpc_settings(settings_for, backend, agents_dir=agents_dir)) as app:
        yield app


@pytest.fixture
def agents_dir(tmp_path: Path) -> Path:
    """The shipped agents plus the test agents (chat, direct), as tests/protocol has them."""
    return make_agents_dir(tmp_path)


async def first_event(client: Client, request: SendMessageRequest) -> StreamResponse:
    """The first answer of a send (a blocking send has only one)."""
    events = [event async for event in client.send_message(request)]
    return events[0]


def user_message(text: str, **fields: Any) -> SendMessageRequest:
    """A SendMessageRequest with one text part."""
    message = Message(role=Role.ROLE_USER, message_id=os.urandom(8).hex(),
                      parts=[Part(text=text)], **fields)
    return SendMessageRequest(message=message)
