"""One runtime per agent: its SDK handler and dispatchers, bound to the shared stores."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from a2a.auth.user import User
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import Event, EventQueue
from a2a.server.routes.common import ServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.server.routes.rest_dispatcher import RestDispatcher
from a2a.server.tasks import BasePushNotificationSender
from a2a.types.a2a_pb2 import AgentCard, Task, TaskArtifactUpdateEvent, TaskStatusUpdateEvent
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


class RunningTasks:
    """Executor runs on this replica, so a cancel from another replica can stop them."""

    def __init__(self) -> None:
        self._runs: dict[tuple[Scope, str], asyncio.Task[object]] = {}

    def add(self, scope: Scope, task_id: str, run: asyncio.Task[object]) -> None:
        """Register the asyncio task running ``task_id``'s executor."""
        self._runs[(scope, task_id)] = run

    def remove(self, scope: Scope, task_id: str) -> None:
        """Forget a finished run."""
        self._runs.pop((scope, task_id), None)

    def cancel(self, task_id: str) -> bool:
        """Stop every local run of ``task_id``; whether there was one."""
        found = False
        for (_, running_id), run in list(self._runs.items()):
            if running_id == task_id:
                run.cancel()
                found = True
        return found


class _ReportingQueue(EventQueue):
    """The agent's event queue, reporting each task event to the lease before enqueuing it."""

    def __init__(self, inner: EventQueue, expect: Callable[[object], None]) -> None:
        self._inner = inner
        self._expect = expect

    async def enqueue_event(self, event: Event) -> None:
        """Report (task events only), then enqueue."""
        if isinstance(event, Task | TaskStatusUpdateEvent | TaskArtifactUpdateEvent):
            self._expect(event)
        await self._inner.enqueue_event(event)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class LeasedExecutor(AgentExecutor):
    """Wraps an agent's executor: holds the task's lease while it runs."""

    def __init__(self, inner: AgentExecutor, stores: Stores, running: RunningTasks) -> None:
        self._inner = inner
        self._stores = stores
        self._running = running

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Run the agent under a lease, registered for remote cancels."""
        scope = scope_of(context.call_context)
        task_id = context.task_id or ""
        current = asyncio.current_task()
        if current is not None:
            self._running.add(scope, task_id, current)
        try:
            async with self._stores.leases.hold(scope, task_id) as lease:
                # A lease that wants to know which events are still to be saved (Redis:
                # it is released only once the last one is) sees each one enqueued.
                expect = getattr(lease, "expect", None)
                queue = event_queue if expect is None else _ReportingQueue(event_queue, expect)
                await self._inner.execute(context, queue)
        finally:
            self._running.remove(scope, task_id)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Delegate to the agent."""
        await self._inner.cancel(context, event_queue)


class AgentRuntime:
    """The SDK machinery serving one agent for every tenant."""

    def __init__(
        self,
        agent: AgentDefinition,
        stores: Stores,
        running: RunningTasks,
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
            agent_executor=LeasedExecutor(agent.make_executor(), stores, running),
            task_store=stores.tasks,
            agent_card=card,
            push_config_store=stores.push_configs if push else None,
            push_sender=BasePushNotificationSender(
                http_client, stores.push_configs, push_url_validator=policy.for_delivery
            )
            if push
            else None,
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
        """Drain running tasks."""
        await self.handler.aclose()
