"""Where an agent's A2A request goes: one table for FastAPI's routes and for the fast path.

Every agent interface is ``/agents/{agent_id}/v1`` (Corti v1) or
``/agentic/agents/{agent_id}/a2a`` (Corti v2), then an A2A suffix, optionally
after a ``/{tenant}`` segment (A2A's multi-tenant REST form). ``ROUTES`` lists
the suffixes; ``match`` resolves a request against them with string
operations instead of one regular expression per route, and
``A2AServerApp`` uses it to serve these requests before FastAPI's middleware
stack (exception, telemetry, body-limit and exit-stack layers), which costs
about 15 % of a GET and which these endpoints do not use: they render every
error themselves. Anything ``match`` does not resolve (wrong method, unknown
path, HEAD, everything else the app serves) goes through FastAPI as before,
so 404 and 405 answers are unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from a2a_server.limits import BodySizeLimit
from a2a_server.observability.http import STATUS_KEY, RequestObserver
from a2a_server.protocol import jsonrpc, rest

Endpoint = Callable[[Request], Awaitable[Response]]

V1 = "/agents/{agent_id}/v1"
V2 = "/agentic/agents/{agent_id}/a2a"
_FAMILIES = (("/agents/", "v1"), ("/agentic/agents/", "a2a"))

# (suffix, methods, endpoint), in Starlette's matching order.
REST_ROUTES: list[tuple[str, tuple[str, ...], Endpoint]] = [
    ("/message:send", ("POST",), rest.send_message),
    ("/message:stream", ("POST",), rest.stream_message),
    ("/tasks", ("GET",), rest.list_tasks),
    ("/tasks/{id}:cancel", ("POST",), rest.cancel_task),
    ("/tasks/{id}:subscribe", ("GET", "POST"), rest.subscribe_task),
    ("/tasks/{id}", ("GET",), rest.get_task),
    ("/tasks/{id}/pushNotificationConfigs", ("POST",), rest.set_push_config),
    ("/tasks/{id}/pushNotificationConfigs", ("GET",), rest.list_push_configs),
    ("/tasks/{id}/pushNotificationConfigs/{push_id}", ("GET",), rest.get_push_config),
    ("/tasks/{id}/pushNotificationConfigs/{push_id}", ("DELETE",), rest.delete_push_config),
    ("/tasks/{id}/pushNotificationConfigs/{push_id}/deliveries", ("GET",), rest.push_deliveries),
    ("/extendedAgentCard", ("GET",), rest.extended_card),
]

_STATIC: dict[tuple[str, str], Endpoint] = {
    (method, suffix): endpoint
    for suffix, methods, endpoint in REST_ROUTES if "{" not in suffix for method in methods
}
_PUSH = "pushNotificationConfigs"
# Response.__call__ sends the start message (its status_code) first, then the whole body.
_WRITTEN_AT_ONCE = Response.__call__


def _templates() -> dict[tuple[bool, bool, Endpoint], tuple[str, str]]:
    """(Route template, binding) by (Corti v2 family, ``/{tenant}`` form, endpoint), for
    metrics and logs."""
    templates: dict[tuple[bool, bool, Endpoint], tuple[str, str]] = {}
    for v2, prefix in ((False, V1), (True, V2)):
        for suffix, _, endpoint in REST_ROUTES:
            templates[(v2, False, endpoint)] = (f"{prefix}{suffix}", "http+json")
            templates[(v2, True, endpoint)] = (f"{prefix}/{{tenant}}{suffix}", "http+json")
        templates[(v2, False, jsonrpc.jsonrpc)] = (prefix, "jsonrpc")
    return templates


TEMPLATES = _templates()


def agent_routes() -> tuple[list[Route], list[Route]]:
    """FastAPI routes: (plain interface routes, ``/{tenant}`` variants), both families."""
    plain: list[Route] = []
    tenant: list[Route] = []
    for prefix in (V1, V2):
        for suffix, methods, endpoint in REST_ROUTES:
            plain.append(Route(f"{prefix}{suffix}", endpoint, methods=list(methods)))
            tenant.append(Route(f"{prefix}/{{tenant}}{suffix}", endpoint, methods=list(methods)))
        plain.append(Route(prefix, jsonrpc.jsonrpc, methods=["POST"]))
        plain.append(Route(f"{prefix}/", jsonrpc.jsonrpc, methods=["POST"]))
    return plain, tenant


def _task_route(method: str, tail: str, params: dict[str, str]) -> Endpoint | None:
    """``tail`` follows ``/tasks/``."""
    task_id, slash, sub = tail.partition("/")
    if not task_id:
        return None
    if slash:
        params["id"] = task_id
        if sub == _PUSH:
            return {"POST": rest.set_push_config, "GET": rest.list_push_configs}.get(method)
        kind, slash, push_id = sub.partition("/")
        if kind != _PUSH or not slash or not push_id:
            return None
        push_id, slash, leaf = push_id.partition("/")
        if slash:
            if leaf != "deliveries" or not push_id or method != "GET":
                return None
            params["push_id"] = push_id
            return rest.push_deliveries
        params["push_id"] = push_id
        return {"GET": rest.get_push_config, "DELETE": rest.delete_push_config}.get(method)
    for action, methods, endpoint in ((":cancel", ("POST",), rest.cancel_task),
                                      (":subscribe", ("GET", "POST"), rest.subscribe_task)):
        if tail.endswith(action) and len(tail) > len(action) and method in methods:
            params["id"] = tail[: -len(action)]
            return endpoint
    if method != "GET":
        return None
    params["id"] = tail
    return rest.get_task


def _suffix_route(method: str, suffix: str, params: dict[str, str]) -> Endpoint | None:
    found = _STATIC.get((method, suffix))
    if found is not None:
        return found
    if suffix.startswith("/tasks/"):
        return _task_route(method, suffix[7:], params)
    return None


def match(method: str, path: str) -> tuple[Endpoint, dict[str, str]] | None:
    """The endpoint and path parameters of an agent protocol request, or None."""
    if path.startswith("/agents/"):  # _FAMILIES, without a generator per request
        head, mark = _FAMILIES[0]
    elif path.startswith("/agentic/agents/"):
        head, mark = _FAMILIES[1]
    else:
        return None
    agent_id, slash, rest_of_path = path[len(head):].partition("/")
    if not agent_id or not slash or not rest_of_path.startswith(mark):
        return None
    suffix = rest_of_path[len(mark):]
    params = {"agent_id": agent_id}
    if suffix in ("", "/"):
        return (jsonrpc.jsonrpc, params) if method == "POST" else None
    if suffix[0] != "/":
        return None
    endpoint = _suffix_route(method, suffix, params)
    if endpoint is None:  # A2A's /{tenant}/... form
        tenant, slash, tail = suffix[1:].partition("/")
        if not tenant or not slash:
            return None
        params = {"agent_id": agent_id, "tenant": tenant}
        endpoint = _suffix_route(method, "/" + tail, params)
        if endpoint is None:
            return None
    return endpoint, params


def _with_header(send: Send, header: tuple[bytes, bytes]) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), header]
        await send(message)

    return sending


def _agent_segment(path: str) -> str | None:
    """The ``{agent_id}`` of an ``/agents/{id}...`` or ``/agentic/agents/{id}...`` path."""
    for head in ("/agents/", "/agentic/agents/"):
        if path.startswith(head):
            return path[len(head):].partition("/")[0] or None
    return None


class A2AServerApp(FastAPI):
    """FastAPI, with agent protocol requests dispatched before its middleware stack."""

    def __init__(self, *args: Any, max_body_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fast: ASGIApp = BodySizeLimit(self._dispatch, max_bytes=max_body_bytes)
        self._fast_metered: ASGIApp = BodySizeLimit(self._dispatch_metered, max_bytes=max_body_bytes)
        self.observer: RequestObserver | None = None  # set by create_app: metrics, access log
        # app.state.server, as a plain attribute (gate.state_of): Starlette's State answers
        # through a Python __getattr__, and a GET asked it three times
        self.server_state: Any = None
        self.worker_header: tuple[bytes, bytes] | None = None  # settings.worker_header
        self.requests_started = 0  # HTTP requests so far (the idle trim's notion of quiet)
        # Called with the agent id and ASGI scope of every /agents/{id}/... and
        # /agentic/agents/{id}/... request with a UUID-long id before it is served: loads a
        # tenant-created agent for a caller with valid credentials
        # (TenantAgents.ensure_for_http, protocol/agents_api.py).
        self.before_agent: Callable[[str, Scope], Awaitable[None]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The protocol fast path; FastAPI for everything else."""
        if scope["type"] == "http":
            self.requests_started += 1
            if self.worker_header is not None:
                send = _with_header(send, self.worker_header)
        observer = self.observer
        if scope["type"] == "http" and self.before_agent is not None:
            agent_id = _agent_segment(scope["path"])
            # Created agents' ids are UUIDs, and every route of one needs credentials: a
            # request without valid ones is refused by the gate as for any agent, and causes
            # no store read.
            if agent_id is not None and len(agent_id) == 36:
                await self.before_agent(agent_id, scope)
        if scope["type"] == "http" and not scope.get("root_path"):
            found = match(scope["method"], scope["path"])
            if found is not None:
                scope["app"] = self
                endpoint, params = found
                scope["path_params"], scope["a2a_server.endpoint"] = params, endpoint
                # a GET has no body to limit: straight to the endpoint, one frame less
                app = self._dispatch if scope["method"] == "GET" else self._fast
                if observer is None:
                    await app(scope, receive, send)
                    return
                route, binding = TEMPLATES[(scope["path"][7] == "c", "tenant" in params, endpoint)]
                if observer.fast:  # metrics alone: timed here, no send wrapper
                    metered = (self._dispatch_metered if scope["method"] == "GET"
                               else self._fast_metered)
                    started = perf_counter()
                    try:
                        await metered(scope, receive, send)
                    finally:
                        observer.record_fast(scope, route, binding, perf_counter() - started)
                    return
                await observer.observe(scope, receive, send, app, route, binding)
                return
            if observer is not None:
                await observer.observe(scope, receive, send, super().__call__, None, "http")
                return
        await super().__call__(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint: Endpoint = scope["a2a_server.endpoint"]
        response = await endpoint(Request(scope, receive, send))
        await response(scope, receive, send)

    async def _dispatch_metered(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``_dispatch``, leaving the status sent in the scope for ``RequestObserver.record_fast``."""
        endpoint: Endpoint = scope["a2a_server.endpoint"]
        response = await endpoint(Request(scope, receive, send))
        if type(response).__call__ is _WRITTEN_AT_ONCE:  # its status is the one it sends first
            scope[STATUS_KEY] = response.status_code
            await response(scope, receive, send)
            return
        assert self.observer is not None
        await self.observer.respond(scope, receive, send, response)  # an event stream
