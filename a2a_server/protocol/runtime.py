"""One runtime per agent: its SDK handler and dispatchers, bound to the shared stores."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
from a2a.auth.user import User
from a2a.server.context import ServerCallContext
from a2a.server.routes.common import ServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.server.routes.rest_dispatcher import RestDispatcher
from a2a.types.a2a_pb2 import AgentCard
from starlette.requests import Request

from a2a_server.agents.cards import render_card
from a2a_server.agents.registry import AgentDefinition
from a2a_server.protocol.handler import ServerRequestHandler
from a2a_server.push_policy import PushUrlPolicy
from a2a_server.stores.base import SCOPE_KEY, Scope, Stores, scope_of
from a2a_server.tenancy.auth import Principal

if TYPE_CHECKING:
    from a2a_server.tenancy.tokens import TokenIssuer

logger = logging.getLogger(__name__)

PRINCIPAL_KEY = "a2a_server.principal"


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
    ) -> None:
        self.agent = agent
        self.base_url = base_url
        self.card_last_modified = datetime.now(UTC)  # the card is rendered from here on
        self._tokens = tokens
        card = self.card_for(None)
        push = agent.card.capabilities.push_notifications
        policy = push_policy or PushUrlPolicy()
        self.handler = ServerRequestHandler(
            agent_executor=agent.make_executor(),
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
        builder = PrincipalContextBuilder()
        self.jsonrpc = JsonRpcDispatcher(self.handler, builder, enable_v0_3_compat=True)
        self.rest = RestDispatcher(self.handler, builder)

    def card_for(self, tenant: str | None) -> AgentCard:
        """The agent's card as served to ``tenant`` (None: the tenant-less template)."""
        return render_card(
            self.agent.card,
            agent_id=self.agent.agent_id,
            base_url=self.base_url,
            tenant=tenant,
            token_url=self._tokens.token_url(tenant) if tenant else None,
        )

    async def _extended_card(self, card: AgentCard, context: ServerCallContext) -> AgentCard:
        extended = self.card_for(scope_of(context).tenant)
        extended.description = f"{card.description} (extended card for tenant {scope_of(context).tenant})"
        return extended

    async def aclose(self) -> None:
        """Stop the runs of this agent on this replica."""
        await self.handler.runner.aclose()
        await self.handler.aclose()
