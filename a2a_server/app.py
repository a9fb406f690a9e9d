"""The application factory: ``create_app(settings)`` builds one server replica."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import FastAPI
from opentelemetry.trace import TracerProvider
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

from a2a_server import outage_logs
from a2a_server.agents.api_defined import load_policy
from a2a_server.agents.registry import AgentDefinition, load_agents
from a2a_server.agents.services import AgentServices
from a2a_server.aio import stop
from a2a_server.console import console_routes
from a2a_server.errors import StoreUnavailable, json_response
from a2a_server.limits import BodySizeLimit
from a2a_server.memory import MemoryKeeper
from a2a_server.observability.auth import MeteredAuthenticator, MeteredTokenIssuer
from a2a_server.observability.http import RequestObserver
from a2a_server.observability.logs import install_redaction
from a2a_server.observability.metrics import Metrics
from a2a_server.observability.push import PushMetrics
from a2a_server.observability.stores import instrument_stores
from a2a_server.observability.tracing import Tracing
from a2a_server.openapi.routes import docs_routes
from a2a_server.protocol import agents_api, contexts, protojson, public, sdk_printing, shapes, usage
from a2a_server.protocol.gate import ServerState
from a2a_server.protocol.idempotency import Idempotency
from a2a_server.protocol.quotas import Quotas
from a2a_server.protocol.routing import V1, A2AServerApp, agent_routes
from a2a_server.protocol.runtime import AgentRuntime
from a2a_server.push import api as push_api
from a2a_server.push.deliverer import PushDeliverer, PushOptions
from a2a_server.push.signing import PushSigner, resolve_signer
from a2a_server.push_policy import PushUrlPolicy
from a2a_server.seeds import agentlin, shannon
from a2a_server.settings import Settings
from a2a_server.stores.base import Stores
from a2a_server.stores.quotas import create_quota_store
from a2a_server.tenancy import Authenticator, load_tenants
from a2a_server.tenancy.config import ConfigError, TenantRegistry
from a2a_server.tenancy.reload import TenantReloader
from a2a_server.tenancy.tokens import TokenIssuer

if TYPE_CHECKING:  # grpc is imported only when a gRPC port is set
    from a2a_server.protocol.grpc_binding import BeforeAgent

logger = logging.getLogger(__name__)

# Python's defaults: 700, 10, 10. A young collection walks every object allocated since the
# last one and still alive, ~5,000 here: a few milliseconds. At 50,000 (until 2026-12-03)
# each took 70-100 ms of CPU under streams, whose sse-starlette task groups leave ~110
# objects of cyclic garbage each (frames, tracebacks): the stream tails of
# docs/performance.md. The young passes are few anyway: what requests keep (the stores'
# records) is untracked (stores/_gc.py), and most of a request is freed by reference counting.
_GC_THRESHOLDS = (5_000, 10, 100)
_GRPC_GRACE_SECONDS = 1.0  # calls in flight get this long to finish at shutdown


def _routes() -> list[BaseRoute]:
    # Protocol routes first: Starlette matches in order, and these carry the traffic
    # (the fast path in ``routing`` resolves them without Starlette; these serve the rest).
    plain, tenant = agent_routes()
    routes: list[BaseRoute] = [
        *plain,
        Route(f"{V1}/contexts/{{context_id}}", contexts.get_context, methods=["GET"]),
        Route(f"{V1}/contexts/{{context_id}}", contexts.delete_context, methods=["DELETE"]),
        Route(f"{V1}/.well-known/agent-card.json", public.agent_card, methods=["GET"]),
        Route(f"{V1}/{{tenant}}/.well-known/agent-card.json", public.agent_card,
              methods=["GET"]),
        Route("/agents/{agent_id}/agent-card.json", public.agent_card, methods=["GET"]),
        Route("/agents/{agent_id}/.well-known/agent-card.json", public.agent_card,
              methods=["GET"]),
        Route("/agentic/agents/{agent_id}/.well-known/agent-card.json", public.agent_card,
              methods=["GET"]),
        Route("/agents", agents_api.list_agents, methods=["GET"]),
        Route("/agents", agents_api.create_agent, methods=["POST"]),
        Route("/agents/registry/experts", public.list_experts, methods=["GET"]),
        Route("/agents/{agent_id}/usage", usage.agent_usage, methods=["GET"]),
        Route("/agentic/agents/{agent_id}/usage", usage.agent_usage, methods=["GET"]),
        Route("/agents/{agent_id}", agents_api.get_agent, methods=["GET"]),
        Route("/agents/{agent_id}", agents_api.update_agent, methods=["PATCH"]),
        Route("/agents/{agent_id}", agents_api.delete_agent, methods=["DELETE"]),
        Route("/realms/{tenant}/protocol/openid-connect/token", public.token, methods=["POST"]),
        Route("/.well-known/jwks.json", push_api.jwks, methods=["GET"]),
        Route("/healthz", public.healthz, methods=["GET"]),
        Route("/readyz", public.readyz, methods=["GET"]),
        # A2A's multi-tenant REST variant: /{tenant}/... under the interface URL. After the
        # plain routes, so /v1/tasks/{id} is never read as a tenant called "tasks".
        *tenant,
        # Corti v2: contexts belong to the tenant, not to one agent.
        Route("/agentic/contexts/{context_id}", contexts.get_tenant_context, methods=["GET"]),
        # The seed pages' task APIs, views of the same tasks (a2a_server/seeds).
        Route("/api/v1/tasks", shannon.submit_task, methods=["POST"]),
        Route("/api/v1/tasks/{task_id}", shannon.get_task, methods=["GET"]),
        Route("/api/v1/tasks/{task_id}/cancel", shannon.cancel_task, methods=["POST"]),
        Route("/tasks/{task_id}", agentlin.get_task, methods=["GET"]),
        *console_routes(),
    ]
    return routes


def _create_stores(settings: Settings, tenant_ttl: Callable[[str], int | None]) -> Stores:
    if settings.redis_url:
        from a2a_server.stores.redis import create_redis_stores

        return create_redis_stores(settings, tenant_ttl)
    from a2a_server.stores.memory import InMemoryStores

    return InMemoryStores(tenant_ttl, settings.memory_max_finished_tasks,
                          finished_events_seconds=settings.finished_events_seconds)


async def _relay_cancels(stores: Stores, runtimes: dict[str, AgentRuntime]) -> None:
    async for scope, task_id in stores.leases.cancellations():
        runtime = runtimes.get(scope.agent)
        if runtime is not None and runtime.handler.runner.stop(scope, task_id):
            logger.info("stopped the run of task %s, cancelled on another replica", task_id)


def push_options(settings: Settings) -> PushOptions:
    """The deliverer's limits from the settings."""
    return PushOptions(
        max_age_s=settings.push_max_age_seconds,
        retry_base_s=settings.push_retry_base_seconds,
        retry_max_s=settings.push_retry_max_seconds,
        timeout_s=settings.push_timeout_seconds,
        max_body_bytes=settings.push_max_body_bytes,
        per_host=settings.push_per_host,
        per_tenant=settings.push_per_tenant,
        lease_s=settings.push_lease_seconds,
        poll_s=settings.push_poll_seconds,
        sweep_s=settings.push_sweep_seconds,
    )


def _replica_id(stores: Stores) -> str:
    leases = getattr(stores, "leases", None)
    replica = getattr(leases, "replica_id", None)
    return replica if isinstance(replica, str) else f"local:{os.getpid()}"


async def _start_grpc(settings: Settings, server: ServerState,
                      before_agent: BeforeAgent) -> Any:
    """The gRPC server for every agent, started, when ``grpc_port`` is set (else None)."""
    if settings.grpc_port is None:
        return None
    from a2a_server.protocol.grpc_binding import build_grpc_server, grpc_address

    grpc_server = build_grpc_server(settings, server, before_agent)
    await grpc_server.start()
    logger.info("A2A over gRPC on %s (%s)", grpc_address(settings),
                "TLS" if settings.grpc_tls_cert_file else "plaintext")
    return grpc_server


def _credentials(settings: Settings, tenants: TenantRegistry,
                 metrics: Metrics | None) -> tuple[TokenIssuer, Authenticator]:
    """The token issuer and the authenticator (counted in ``metrics`` when it is on)."""
    if metrics is None:
        tokens = TokenIssuer(settings.jwt_secret, settings.base_url, settings.token_ttl_seconds,
                             cache_size=settings.credential_cache_size)
        return tokens, Authenticator(tenants, tokens)
    tokens = MeteredTokenIssuer(settings.jwt_secret, settings.base_url,
                                settings.token_ttl_seconds, metrics,
                                cache_size=settings.credential_cache_size)
    return tokens, MeteredAuthenticator(tenants, tokens, metrics)


async def _share_dev_key(tokens: TokenIssuer, backend: Stores) -> None:
    """Dev mode: replicas on one store must verify each other's tokens (one key, stored)."""
    if not tokens.generated_key:
        return
    try:
        agreed = await backend.agree("token-dev-key", tokens.secret_for_sharing.encode())
        tokens.adopt_key(agreed.decode())
    except StoreUnavailable:
        logger.warning("dev mode: the store is down; this replica's tokens are its own")


async def _close_runtimes(server: ServerState) -> None:
    for runtime in server.runtimes.values():
        await runtime.aclose()
        closer = getattr(runtime.handler.agent_executor, "aclose", None)
        if callable(closer):  # executors holding connections (LLM providers)
            await closer()


def _configured_signer(settings: Settings, pushing: bool) -> PushSigner | None:
    """The push signing keys from files (None: none configured; dev mode generates one)."""
    if pushing and not settings.push_signing_keys and not settings.dev_mode:
        raise ConfigError("push_signing_keys are required outside dev mode when an agent "
                          "offers push notifications (A2A_SERVER_PUSH_SIGNING_KEYS)")
    try:  # a bad key file fails here, naming itself, not in the lifespan
        return (PushSigner.from_files(settings.push_signing_keys, settings.base_url)
                if settings.push_signing_keys else None)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"push_signing_keys: {exc}") from exc


async def _start_deliverer(settings: Settings, backend: Stores, policy: PushUrlPolicy,
                           configured: PushSigner | None,
                           metrics: Metrics | None, tracing: Tracing | None) -> PushDeliverer:
    """This replica's push deliverer, started (dev mode: the signing key the store agrees on)."""
    signer = configured or await resolve_signer(
        (), settings.dev_mode, settings.base_url, backend.agree)
    deliverer = PushDeliverer(backend, policy, signer, settings.replica_id or _replica_id(backend),
                              push_options(settings))
    if metrics is not None:
        deliverer.observers.append(PushMetrics(metrics))
    deliverer.tracing = tracing
    deliverer.start()
    return deliverer


def _task_cache(backend: Stores, settings: Settings) -> tuple[Callable[[], int], int] | None:
    """The task store's held bytes and budget, when it caches whole tasks (Redis)."""
    held = getattr(backend.tasks, "cache_bytes", None)
    if not callable(held):
        return None
    return held, 2 * settings.task_cache_mb * 1024 * 1024  # two caches, each within the setting


def _memory_keeper(app: A2AServerApp, settings: Settings, backend: Stores,
                   metrics: Metrics | None) -> MemoryKeeper:
    """The idle trim: the app's request count, the task cache, the caches it may empty."""
    shed_store = getattr(backend.tasks, "shed", None)
    return MemoryKeeper(settings.memory_trim_seconds, lambda: app.requests_started, metrics,
                        _task_cache(backend, settings),
                        (protojson.clear_caches, shapes.clear_render_cache,
                         *((shed_store,) if callable(shed_store) else ())))


def _tenant_runtime(settings: Settings, backend: Stores, tokens: TokenIssuer,
                    http_client: httpx.AsyncClient, push_policy: PushUrlPolicy,
                    services: AgentServices, idempotency: Idempotency, metrics: Metrics | None,
                    tracing: Tracing | None, agent: AgentDefinition) -> AgentRuntime:
    """The runtime of a tenant-created agent (its card declares gRPC when gRPC is served)."""
    runtime = AgentRuntime(agent, backend, settings.base_url, tokens, http_client, push_policy,
                           services=services, grpc_url=settings.grpc_url, metrics=metrics,
                           tracing=tracing)
    runtime.handler.idempotency = idempotency
    return runtime


def _tune_gc() -> None:
    # Everything built so far (modules, SDK and protobuf types, tenants, agents) lives as
    # long as the process: keep it out of the garbage collector's full passes, which
    # otherwise stall requests for tens of milliseconds (~130k objects). Then the
    # thresholds above: young passes short, rare enough not to promote many requests in
    # flight into the older generations.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)


def _allowed_methods(request: Request, first: str) -> str:
    """Every method some route serves at the request's path (Starlette's 405 names only the
    first route that matched the path: ``GET`` for ``/agents``, which ``POST`` serves too)."""
    methods = {m.strip() for m in first.split(",") if m.strip()}
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's 404 and 405 in the REST error format (a 405 with its full Allow header)."""
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    names = {404: "NOT_FOUND", 405: "UNIMPLEMENTED"}
    headers = dict(exc.headers or {})
    if status == 405:
        headers["Allow"] = _allowed_methods(request, headers.get("Allow", ""))
    return json_response({"error": {"code": status, "status": names.get(status, "UNKNOWN"),
                                    "message": str(exc.detail)}}, status=status, headers=headers)


def create_app(settings: Settings, *, stores: Stores | None = None,
               tracer_provider: TracerProvider | None = None,
               dev_warning: bool = True) -> A2AServerApp:
    """Build a replica: load and validate tenants and agents, wire stores and routes.

    ``tracer_provider`` traces this replica with that provider (tests); otherwise tracing
    follows ``settings.tracing``. ``dev_warning`` False leaves the dev-mode warning to
    whoever printed it already (``serve --workers N``: the supervisor, once, not each worker).

    Raises:
        ConfigError: a tenant or agent file is malformed (names file and field).
    """
    install_redaction()
    agents = load_agents(settings.agents_dir)
    policy = load_policy(settings.tenant_agents_file)
    tenants = load_tenants(settings.tenants_dir, agents.ids(), settings.credential_cache_size)
    outage_logs.install()
    sdk_printing.install()
    metrics = Metrics(tenant_label=settings.metrics_tenant_label) if settings.metrics else None
    tracing = Tracing.from_settings(settings, tracer_provider)
    tokens, auth = _credentials(settings, tenants, metrics)
    if tokens.generated_key and dev_warning:
        logger.warning(
            "dev mode: tokens are signed with a random key generated at start-up (%s); set "
            "A2A_SERVER_JWT_SECRET in production",
            "the replicas on this Redis agree on one: tokens stop working when the last stops"
            if settings.redis_url else "tokens stop working when this server stops")
    backend = stores or _create_stores(
        settings, lambda name: (t.retention_seconds if (t := tenants.get(name)) else None)
    )
    instrument_stores(backend, metrics, tracing)
    server = ServerState(settings, tenants, agents, tokens, auth, backend)
    http_client = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
    if tracing is not None:
        tracing.instrument_httpx(http_client)
    push_policy = PushUrlPolicy.from_allowlist(settings.push_url_allowlist)
    services = AgentServices(backend, server.runtimes, tenants, url_policy=push_policy,
                             ensure=lambda agent_id: created_agents.ensure(agent_id))
    quota_store = create_quota_store(backend)
    for agent in agents:
        server.runtimes[agent.agent_id] = AgentRuntime(
            agent, backend, settings.base_url, tokens, http_client, push_policy,
            services=services, grpc_url=settings.grpc_url,
            metrics=metrics, tracing=tracing,
        )
        server.runtimes[agent.agent_id].handler.idempotency = Idempotency(
            quota_store, backend, settings.idempotency_ttl_seconds)
    created_agents = agents_api.TenantAgents(server, policy, push_policy, functools.partial(
        _tenant_runtime, settings, backend, tokens, http_client, push_policy, services,
        Idempotency(quota_store, backend, settings.idempotency_ttl_seconds), metrics, tracing))

    pushing = any(agent.card.capabilities.push_notifications for agent in agents)
    configured = _configured_signer(settings, pushing)
    reloader = TenantReloader(tenants, settings.tenants_dir, agents.ids,
                              settings.tenants_reload_seconds, settings.credential_cache_size)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await backend.start()
        await _share_dev_key(tokens, backend)
        relay = asyncio.create_task(_relay_cancels(backend, server.runtimes))
        watcher = asyncio.create_task(created_agents.watch())
        deliverer = (await _start_deliverer(settings, backend, push_policy, configured, metrics,
                                            tracing)
                     if pushing else None)
        setattr(app.state, push_api.DELIVERER_KEY, deliverer)
        grpc_server = await _start_grpc(settings, server, created_agents.ensure_for)
        reloader.start()
        if settings.gc_tuning:
            _tune_gc()
        keeper.start()
        try:
            yield
        finally:
            await reloader.aclose()
            await keeper.aclose()
            if grpc_server is not None:
                await grpc_server.stop(_GRPC_GRACE_SECONDS)
            await stop(relay)
            await stop(watcher)
            await created_agents.aclose()
            if deliverer is not None:
                await deliverer.aclose()
            await _close_runtimes(server)
            await http_client.aclose()
            await backend.close()
            if tracing is not None and tracer_provider is None:
                tracing.shutdown()
            if metrics is not None:
                metrics.close()

    app = A2AServerApp(
        max_body_bytes=settings.max_body_bytes,
        title="a2a-server",
        description="Multi-tenant A2A agent server (Corti-style routing)",
        lifespan=lifespan,
        telemetry=None if settings.telemetry else
        {"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.server = app.server_state = server
    app.state.tenant_reloader = reloader
    app.state.tenant_agents = created_agents
    app.before_agent = created_agents.ensure_for_http
    app.state.metrics = metrics
    app.state.memory = keeper = _memory_keeper(app, settings, backend, metrics)
    app.worker_header = ((b"a2a-server-worker", str(os.getpid()).encode())
                         if settings.worker_header else None)
    llm_agents = frozenset(a.agent_id for a in agents if a.binding.executor == "llm")
    app.state.quotas = server.quotas = Quotas(quota_store, backend.usage, llm_agents)
    server.quotas.created_llm_agents = created_agents.llm_agent_ids
    app.router.routes.extend(_routes())
    if metrics is not None:
        app.router.routes.append(Route("/metrics", metrics.endpoint(settings.metrics_token),
                                       methods=["GET"]))
    app.router.routes.extend(docs_routes(title=app.title, version=app.version,
                                         token_url=f"{settings.base_url}/realms/{{tenant}}/protocol/"
                                         "openid-connect/token"))
    if metrics is not None or tracing is not None or settings.log_format == "json":
        app.observer = RequestObserver(metrics, frozenset(agents.ids()), app.router.routes,
                                       access_log=settings.log_format == "json", tracing=tracing)

    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
