"""A2A 1.0 over gRPC: one ``grpc.aio`` server for every agent of every tenant.

A gRPC service has no URL path to name the agent, so the router reads what
A2A 1.0 gives every request: the interface's ``tenant`` value, which a client
copies from the card into each request. Cards declare it as
``{tenant}/{agent}`` (``{agent}`` on a card rendered for no tenant); a request
whose ``tenant`` is empty may name the agent in the ``x-agent-id`` metadata.
Credentials come from metadata (``authorization``, ``x-api-key``,
``tenant-name``) and go through the same gate as HTTP (``gate.admit_call``):
401/403 become UNAUTHENTICATED/PERMISSION_DENIED, an unknown or disabled agent
NOT_FOUND, a store outage UNAVAILABLE; another tenant's task is NOT_FOUND like
a missing one. An ``a2a-version`` other than 1.x is UNIMPLEMENTED
(VersionNotSupportedError); none means 1.0 (this is the 1.0 service).

The call is then served by the SDK's ``GrpcHandler`` over the agent's own
``ServerRequestHandler``, the one HTTP uses: sends go to the agent's task
runner, reads, cancels, resubscriptions and push configs to the same SDK
handler on the same stores.

Agents a tenant created (``POST /agents``) are served like the others: a call
that names one (with valid credentials) first loads it through the same
``TenantAgents.ensure_for`` as HTTP (``before_agent``), so it is reachable on any
replica as soon as it is stored; a deleted one takes no sends (NOT_FOUND), its
finished tasks stay readable; another tenant's is NOT_FOUND like a missing one.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc
import grpc.aio
from a2a.server.context import ServerCallContext
from a2a.server.request_handlers.grpc_handler import (
    DefaultGrpcServerCallContextBuilder,
    GrpcHandler,
)
from a2a.types import a2a_pb2, a2a_pb2_grpc
from a2a.utils.errors import A2A_ERROR_REASONS, VersionNotSupportedError
from a2a.utils.grpc_status import status_to_grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from a2a_server.errors import NotFound, QuotaExceeded, StoreUnavailable
from a2a_server.protocol.gate import VERSION_HEADER, AgentNotFound, ServerState, admit_call
from a2a_server.protocol.quotas import Holds
from a2a_server.protocol.runtime import PRINCIPAL_KEY, AgentRuntime, PrincipalUser
from a2a_server.settings import Settings
from a2a_server.stores.base import SCOPE_KEY, Scope
from a2a_server.tenancy.auth import AuthError, Principal

logger = logging.getLogger(__name__)

AGENT_METADATA = "x-agent-id"
SERVICE = a2a_pb2.DESCRIPTOR.services_by_name["A2AService"]

# TenantAgents.ensure_for: (agent id, call metadata, the call's marks: a count made ahead)
BeforeAgent = Callable[[str, Mapping[str, str], dict[str, Any]], Awaitable[None]]
_admitted: contextvars.ContextVar[tuple[Principal, Scope, dict[str, str]] | None] = (
    contextvars.ContextVar("a2a_server_grpc_admitted", default=None)
)
_AUTH_CODES = {401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED}
_SENDS = frozenset({"SendMessage", "SendStreamingMessage"})  # a deleted agent takes none


def parse_tenant(value: str, metadata: dict[str, str]) -> tuple[str | None, str]:
    """(tenant named, agent) from a request's ``tenant`` value or the metadata."""
    if not value:
        return None, metadata.get(AGENT_METADATA, "")
    tenant, _, agent = value.rpartition("/")  # see cards.grpc_interface_tenant
    return tenant or None, agent


def _metadata(context: grpc.aio.ServicerContext[Any, Any]) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if not key.endswith("-bin"):
            metadata[key.lower()] = value if isinstance(value, str) else value.decode()
    return metadata


class _AdmittedContextBuilder(DefaultGrpcServerCallContextBuilder):
    """The SDK call context from what the router admitted (never from the body)."""

    def build(self, context: grpc.aio.ServicerContext[Any, Any]) -> ServerCallContext:
        """The principal and scope of this call, as HTTP's ``build_call_context`` has them."""
        call = super().build(context)
        admitted = _admitted.get()
        assert admitted is not None, "the router admits every call before the SDK builds it"
        principal, scope, metadata = admitted
        call.user = PrincipalUser(principal)
        call.state.update({"headers": metadata, SCOPE_KEY: scope, PRINCIPAL_KEY: principal})
        return call


class GrpcRouter(a2a_pb2_grpc.A2AServiceServicer):
    """The one ``A2AService`` servicer: admits each call, then hands it to its agent's handler."""

    def __init__(self, server: ServerState, before_agent: BeforeAgent | None = None) -> None:
        self._server = server
        self._before_agent = before_agent
        self._builder = _AdmittedContextBuilder()
        self._handlers = {agent_id: GrpcHandler(runtime.handler, self._builder)
                          for agent_id, runtime in server.runtimes.items()}

    def _handler_of(self, agent_id: str, runtime: AgentRuntime) -> GrpcHandler:
        """The SDK gRPC handler over ``runtime``'s handler: the operator's agents' are built
        once; a created agent's runtime comes and goes (loaded, updated, evicted), so its
        wrapper (two attributes) is made per call rather than kept."""
        handler = self._handlers.get(agent_id)
        if handler is not None and handler.request_handler is runtime.handler:
            return handler
        return GrpcHandler(runtime.handler, self._builder)

    async def limit(self, method: str, context: grpc.aio.ServicerContext[Any, Any],
                    marks: dict[str, Any]) -> Holds | None:
        """The tenant's limits for this call, as HTTP's (protocol/quotas.py); over one: abort
        RESOURCE_EXHAUSTED with the Retry-After and RateLimit fields as trailing metadata."""
        admitted, quotas = _admitted.get(), self._server.quotas
        assert admitted is not None
        tenant = self._server.tenants.get(admitted[0].tenant)
        if quotas is None or tenant is None or tenant.limits is None:
            return None
        try:
            return await quotas.admit_call(tenant, admitted[0], method, admitted[1].agent, marks)
        except QuotaExceeded as exc:
            await _abort_quota(context, exc)
        return None  # not reached: abort raises

    async def admit(self, request: Any, context: grpc.aio.ServicerContext[Any, Any],
                    method: str = "") -> tuple[GrpcHandler, dict[str, Any]]:
        """Authenticate and resolve the agent, or abort the call with the matching status;
        the handler, and the call's marks for ``limit``."""
        metadata = _metadata(context)
        tenant, agent_id = parse_tenant(getattr(request, "tenant", ""), metadata)
        marks: dict[str, Any] = {}
        if self._before_agent is not None:
            # A tenant-created agent is loaded on first use, as on HTTP (routing.py); a call
            # without valid credentials is refused below with no store read, one over its
            # tenant's requests_per_minute with the count made before the read (no read).
            await self._before_agent(agent_id, metadata, marks)
        try:
            runtime, principal, _, scope = admit_call(self._server, metadata, agent_id, (tenant,),
                                                      send=method in _SENDS)
        except AuthError as exc:
            await context.abort(_AUTH_CODES.get(exc.status, grpc.StatusCode.UNAUTHENTICATED),
                                exc.message)
        except AgentNotFound as exc:  # counted as any call, so over the limit it is the 429's
            await self._count_not_found(exc, context, marks)
            await context.abort(grpc.StatusCode.NOT_FOUND, exc.message)
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, exc.message)
        except StoreUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, exc.message)
        version = metadata.get(VERSION_HEADER, "").strip()
        if version and version.split(".")[0] != "1":
            await _abort_version(context, version)
        _admitted.set((principal, scope, metadata))
        return self._handler_of(agent_id, runtime), marks

    async def _count_not_found(self, missing: AgentNotFound,
                               context: grpc.aio.ServicerContext[Any, Any],
                               marks: dict[str, Any]) -> None:
        quotas = self._server.quotas
        if quotas is None or missing.tenant.limits is None:
            return
        try:
            await quotas.check_request(missing.tenant, missing.principal, None, marks)
        except QuotaExceeded as exc:
            await _abort_quota(context, exc)


async def _abort_quota(context: grpc.aio.ServicerContext[Any, Any], exc: QuotaExceeded) -> None:
    context.set_trailing_metadata(tuple((k.lower(), v) for k, v in exc.headers.items()))
    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, exc.message)


async def _abort_version(context: grpc.aio.ServicerContext[Any, Any], version: str) -> None:
    """VersionNotSupportedError as A2A 1.0 maps it for gRPC (5.4): UNIMPLEMENTED + ErrorInfo.

    (The SDK's gRPC handler maps it to FAILED_PRECONDITION.)
    """
    message = f"A2A version '{version}' is not supported on gRPC; use 1.0"
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(
        reason=A2A_ERROR_REASONS.get(VersionNotSupportedError, "VERSION_NOT_SUPPORTED"),
        domain="a2a-protocol.org",
    ))
    status = status_pb2.Status(code=grpc.StatusCode.UNIMPLEMENTED.value[0], message=message,
                               details=[info])
    rich = status_to_grpc(status)
    context.set_trailing_metadata(tuple(rich.trailing_metadata))
    await context.abort(rich.code, rich.details)


async def _unexpected(context: grpc.aio.ServicerContext[Any, Any], server: ServerState,
                      exc: Exception) -> None:
    if isinstance(exc, StoreUnavailable):  # an outage, or TaskLost: its own message
        await context.abort(grpc.StatusCode.UNAVAILABLE, exc.message)
    if not server.stores.available:
        await context.abort(grpc.StatusCode.UNAVAILABLE, StoreUnavailable().message)
    logger.exception("gRPC call failed")
    await context.abort(grpc.StatusCode.INTERNAL, "internal error")


def _forward(name: str, streaming: bool) -> Callable[..., Any]:
    """A router method that admits the call and delegates to the SDK handler's ``name``."""

    async def unary(self: GrpcRouter, request: Any,
                    context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        handler, marks = await self.admit(request, context, name)
        holds = await self.limit(name, context, marks)
        method: Callable[..., Awaitable[Any]] = getattr(handler, name)
        try:
            return await method(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - the one boundary that renders errors
            await _unexpected(context, self._server, exc)
        finally:
            if holds is not None:
                await holds.settle()

    async def stream(self: GrpcRouter, request: Any,
                     context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        handler, marks = await self.admit(request, context, name)
        holds = await self.limit(name, context, marks)
        try:
            async for item in getattr(handler, name)(request, context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - the one boundary that renders errors
            await _unexpected(context, self._server, exc)
        finally:
            if holds is not None:
                await holds.settle()

    chosen = stream if streaming else unary
    chosen.__name__ = name
    chosen.__doc__ = f"``{name}``, admitted, on the agent's own handler."
    return chosen


for _method in SERVICE.methods:
    setattr(GrpcRouter, _method.name, _forward(_method.name, _method.server_streaming))


def grpc_address(settings: Settings) -> str:
    """Where the gRPC server listens: ``host:port``."""
    return f"{settings.grpc_host or settings.host}:{settings.grpc_port}"


def build_grpc_server(settings: Settings, server: ServerState,
                      before_agent: BeforeAgent | None = None,
                      ) -> grpc.aio.Server:
    """A ``grpc.aio`` server with the router registered and its port bound (not started).

    ``before_agent`` is called with the agent id and metadata of every call
    (``TenantAgents.ensure_for``: loads a tenant-created agent for valid credentials).

    Raises:
        RuntimeError: the port could not be bound.
    """
    grpc_server = grpc.aio.server(options=[
        ("grpc.max_receive_message_length", settings.max_body_bytes),
    ])
    a2a_pb2_grpc.add_A2AServiceServicer_to_server(  # type: ignore[no-untyped-call]
        GrpcRouter(server, before_agent), grpc_server
    )
    address = grpc_address(settings)
    if settings.grpc_tls_cert_file and settings.grpc_tls_key_file:
        credentials = grpc.ssl_server_credentials([(
            settings.grpc_tls_key_file.read_bytes(), settings.grpc_tls_cert_file.read_bytes()
        )])
        bound = grpc_server.add_secure_port(address, credentials)
    else:
        bound = grpc_server.add_insecure_port(address)
    if not bound:
        raise RuntimeError(f"could not bind the gRPC port {address}")
    return grpc_server
