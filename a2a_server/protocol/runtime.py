"""One runtime per agent: its SDK handler and dispatchers, bound to the shared stores."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from a2a.auth.user import User
from a2a.server.context import ServerCallContext
from a2a.server.routes.common import ServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import (  # type: ignore[attr-defined] # SDK import order
    JSONRPC03Adapter,
    JsonRpcDispatcher,
)
from a2a.server.routes.rest_dispatcher import RestDispatcher
from a2a.types.a2a_pb2 import AgentCard
from pydantic import create_model
from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request
from starlette.responses import JSONResponse

from a2a_server.agents.cards import render_card
from a2a_server.agents.registry import AgentDefinition
from a2a_server.agents.services import AgentServices
from a2a_server.observability.metrics import Metrics
from a2a_server.observability.runs import RunObserver, TracedExecutor
from a2a_server.observability.tracing import Tracing
from a2a_server.protocol.compat import GuardedRequestHandler03
from a2a_server.protocol.handler import ServerRequestHandler
from a2a_server.push_policy import PushUrlPolicy
from a2a_server.stores.base import SCOPE_KEY, Scope, Stores, scope_of
from a2a_server.tenancy.auth import PRINCIPAL_KEY as PRINCIPAL_KEY  # re-exported (gate, gRPC)
from a2a_server.tenancy.auth import Principal

if TYPE_CHECKING:
    from a2a_server.tenancy.tokens import TokenIssuer

logger = logging.getLogger(__name__)


class PrincipalUser(User):
    """The SDK's view of our authenticated caller."""

    def __init__(self, principal: Principal) -> None:
        self._principal = principal

    @property
    def is_authenticated(self) -> bool:
        """Always: unauthenticated requests never reach the SDK."""
        return True

    @property
    def user_name(self) -> str:
        """``tenant/subject``."""
        return self._principal.display_name


def build_call_context(request: Request) -> ServerCallContext:
    """A ServerCallContext carrying the principal and scope set by the protocol layer."""
    principal: Principal = request.scope[PRINCIPAL_KEY]
    scope: Scope = request.scope[SCOPE_KEY]
    return ServerCallContext(
        user=PrincipalUser(principal),
        state={"headers": dict(request.headers), SCOPE_KEY: scope, PRINCIPAL_KEY: principal},
    )


class PrincipalContextBuilder(ServerCallContextBuilder):
    """Builds the SDK call context from the authenticated principal, never from the body."""

    def build(self, request: Request) -> ServerCallContext:
        """See ``build_call_context``."""
        return build_call_context(request)


def _null_id_model(model: Any) -> Any:
    return create_model(model.__name__, __base__=model, id=(str | int | None, None))


class NullIdJsonRpc03Adapter(JSONRPC03Adapter):
    """The SDK's 0.3 JSON-RPC adapter, accepting ``"id": null`` as JSON-RPC 2.0 does.

    The SDK's 0.3 request models require a string or integer id (its 1.0 path
    accepts null), and its 0.3 answers leave a null id out (``exclude_none``);
    clients such as fasta2a send null and expect it back.
    """

    METHOD_TO_MODEL = {
        method: _null_id_model(model) for method, model in JSONRPC03Adapter.METHOD_TO_MODEL.items()
    }

    async def handle_request(self, request_id: str | int | None, method: str, body: dict[str, Any],
                             request: Request) -> Any:
        """See ``JSONRPC03Adapter.handle_request``; a null id is echoed as null."""
        response = await super().handle_request(request_id, method, body, request)
        if request_id is not None:
            return response
        if isinstance(response, EventSourceResponse):
            response.body_iterator = _with_null_ids(response.body_iterator)
        elif isinstance(response, JSONResponse):
            answer = orjson.loads(bytes(response.body))
            if isinstance(answer, dict) and "id" not in answer:
                response = JSONResponse({**answer, "id": None}, status_code=response.status_code)
        return response


async def _with_null_ids(events: Any) -> AsyncIterator[Any]:
    async for event in events:
        if isinstance(event, dict) and isinstance(event.get("data"), str):
            answer = orjson.loads(event["data"])
            if isinstance(answer, dict) and "id" not in answer:
                event = {**event, "data": orjson.dumps({**answer, "id": None}).decode()}
        yield event


def _jsonrpc_dispatcher(handler: ServerRequestHandler,
                        builder: ServerCallContextBuilder) -> JsonRpcDispatcher:
    dispatcher = JsonRpcDispatcher(handler, builder, enable_v0_3_compat=True)
    dispatcher._v03_adapter = NullIdJsonRpc03Adapter(
        http_handler=handler, context_builder=builder
    )
    return dispatcher


class AgentRuntime:
    """The SDK machinery serving one agent for every tenant."""

    def __init__(
        self,
        agent: AgentDefinition,
        stores: Stores,
        base_url: str,
        tokens: TokenIssuer,
        http_client: httpx.AsyncClient,
        push_policy: PushUrlPolicy | None = None,
        services: AgentServices | None = None,
        grpc_url: str | None = None,
        *,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.agent = agent
        self.base_url = base_url
        self.grpc_url = grpc_url
        self.card_last_modified = datetime.now(UTC)  # the card is rendered from here on
        self._tokens = tokens
        card = self.card_for(None)
        push = agent.card.capabilities.push_notifications
        policy = push_policy or PushUrlPolicy()
        executor = agent.make_executor()
        bind = getattr(executor, "bind", None)
        if services is not None and callable(bind):  # executors that reach stores or agents
            bind(services, agent.agent_id)
        if tracing is not None:
            executor = TracedExecutor(executor, agent.agent_id, tracing)
        self.handler = ServerRequestHandler(
            agent_executor=executor,
            task_store=stores.tasks,
            agent_card=card,
            push_config_store=stores.push_configs if push else None,
            push_sender=None,  # the store's outbox and a2a_server.push deliver notifications
            push_url_validator=policy.for_registration,
            event_stream=stores.events,
            extended_agent_card=card if agent.card.capabilities.extended_agent_card else None,
            extended_card_modifier=self._extended_card,
            stores=stores,
        )
        self.handler.runner.observer = RunObserver(agent.agent_id, metrics)
        builder = PrincipalContextBuilder()
        self.jsonrpc = _jsonrpc_dispatcher(self.handler, builder)
        # The dispatcher has no hook for its 0.3 handler: give its adapter one whose
        # conversions answer a value protobuf cannot hold as InvalidParams (not -32603).
        assert self.jsonrpc._v03_adapter is not None
        self.jsonrpc._v03_adapter.handler = GuardedRequestHandler03(self.handler)
        self.rest = RestDispatcher(self.handler, builder)

    def card_for(self, tenant: str | None) -> AgentCard:
        """The agent's card as served to ``tenant`` (None: the tenant-less template)."""
        return render_card(
            self.agent.card,
            agent_id=self.agent.agent_id,
            base_url=self.base_url,
            tenant=tenant,
            token_url=self._tokens.token_url(tenant) if tenant else None,
            grpc_url=self.grpc_url,
        )

    async def _extended_card(self, card: AgentCard, context: ServerCallContext) -> AgentCard:
        extended = self.card_for(scope_of(context).tenant)
        extended.description = f"{card.description} (extended card for tenant {scope_of(context).tenant})"
        return extended

    async def aclose(self) -> None:
        """Stop the runs of this agent on this replica."""
        await self.handler.runner.aclose()
        await self.handler.aclose()
