"""Per-request observation at the ASGI edge: metrics, request ids and the JSON access line.

``A2AServerApp`` hands every HTTP request to ``RequestObserver.observe`` with the
route template it resolved (the fast path) or ``None`` (FastAPI routes, whose
template Starlette leaves in ``scope["route"]``). The observer wraps ``send`` to
see the status (and whether the answer is an event stream), then, once the body
is written, counts the request on label children cached per label set: no label
dictionary is built per request.

With metrics alone (no JSON access line, no tracing, no tenant label: the default),
the fast path skips that wrapper, which is most of what metrics cost a GET: the app
times the request itself and calls ``record_fast``; its dispatcher leaves the status
of an answer written at once in ``scope[STATUS_KEY]``, and hands any other answer (an
event stream) to ``RequestObserver.respond``, which wraps ``send`` as before. The
series is then found by the raw (route, method, status, version, agent) in one
dictionary lookup.
"""

from __future__ import annotations

import logging
import os
import re
import time
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import StatusCode
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from a2a_server.observability.metrics import Metrics
from a2a_server.observability.requests import LibrarySeries, Series
from a2a_server.observability.tracing import Tracing
from a2a_server.stores.base import SCOPE_KEY
from a2a_server.tenancy.auth import PRINCIPAL_KEY

access_logger = logging.getLogger("a2a_server.access")

REQUEST_ID_HEADER = b"x-request-id"
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_VERSION_HEADER = b"a2a-version"
_STATUS_CLASS = ("1xx", "2xx", "3xx", "4xx", "5xx")
_EVENT_STREAM = b"text/event-stream"
UNMATCHED = "(unmatched)"
STATUS_KEY = "a2a_server.status"  # the status sent, where the fast path or the observer knows it
VERSION_KEY = "a2a_server.version"  # the raw A2A-Version header value gate.is_v1 read

# Fields a handler deeper down may add to the request's access line (the task id of a send).
_log_fields: ContextVar[dict[str, str] | None] = ContextVar("a2a_server_log_fields", default=None)


def note_task(task_id: str) -> None:
    """Put ``task_id`` on the current request's access line (no-op without JSON logs)."""
    fields = _log_fields.get()
    if fields is not None:
        fields["task_id"] = task_id


def current_request_id() -> str | None:
    """The id of the request being served (JSON logs on), for log lines and outbound calls."""
    fields = _log_fields.get()
    return None if fields is None else fields.get("request_id")


def a2a_version(scope: Scope) -> str:
    """The A2A version a request asks for, as a bounded label value.

    From the header value the gate's ``is_v1`` read, when it ran (no second scan of
    the headers), else from the first ``A2A-Version`` header; absent means 0.3.
    """
    read: str | None = scope.get(VERSION_KEY)
    if read is not None:
        return _LABELS.get(read) or _version_label(read.encode("latin-1"))
    for name, value in scope["headers"]:
        if name == _VERSION_HEADER:
            return _version_label(value)
    return "0.3"


def _version_label(value: bytes) -> str:
    raw = value.strip()
    if raw in (b"", b"0.3", b"0.3.0"):
        return "0.3"
    return "1.0" if raw.split(b".")[0] == b"1" else "other"


# _version_label of the usual values (the header as Starlette decodes it: latin-1)
_LABELS = {value: _version_label(value.encode()) for value in ("", "0.3", "0.3.0", "1.0", "1")}


def _is_event_stream(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-type":
            return value.startswith(_EVENT_STREAM)
    return False


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            if _REQUEST_ID.match(value):
                return str(value.decode("ascii"))
            break
    return os.urandom(8).hex()


class RequestObserver:
    """Counts, times and (optionally) logs every HTTP request of one replica.

    Args:
        metrics: the replica's metrics, or None (metrics off).
        agents: the configured agent ids; any other ``agent_id`` is labelled ``""``.
        access_log: write one JSON access line per request and handle ``X-Request-ID``.
    """

    def __init__(self, metrics: Metrics | None, agents: frozenset[str], routes: list[BaseRoute], *,
                 access_log: bool, tracing: Tracing | None = None) -> None:
        self.metrics = metrics
        self.routes = routes
        self._by_endpoint: dict[Any, list[Any]] = {}
        self._by_endpoint_of: list[BaseRoute] = []
        self.agents = agents
        self.access_log = access_log
        self.tracing = tracing
        # Metrics alone: the fast path times its requests and calls record_fast (no send wrapper).
        self.fast = (metrics is not None and not metrics.tenant_label and not access_log
                     and tracing is None)
        self._fast_series: dict[tuple[Any, ...], Series | LibrarySeries] = {}
        if tracing is None:  # one coroutine frame less per request
            self.observe = self._observe  # type: ignore[method-assign]

    def route_of(self, scope: Scope) -> str:
        """The template of the route FastAPI served (Starlette routes leave only their endpoint)."""
        found = scope.get("route")
        if found is not None:
            return str(found.path)
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return UNMATCHED
        if len(self._by_endpoint_of) != len(self.routes):
            self._by_endpoint = {}
            for candidate in self.routes:
                key = getattr(candidate, "endpoint", None)
                self._by_endpoint.setdefault(key, []).append(candidate)
            self._by_endpoint_of = list(self.routes)
        candidates = self._by_endpoint.get(endpoint, ())
        if len(candidates) == 1:
            return str(candidates[0].path)
        for candidate in candidates:
            if candidate.matches(scope)[0] is Match.FULL:
                return str(candidate.path)
        return UNMATCHED

    async def observe(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp,
                      route: str | None, binding: str) -> None:
        """Serve the request through ``app``, then record it (in a SERVER span if tracing)."""
        assert self.tracing is not None  # without tracing, ``observe`` is ``_observe``
        span = self.tracing.server_span(f"{scope['method']} {route or scope['path']}", scope["headers"])
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            await self._observe(scope, receive, send, app, route, binding)
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(StatusCode.ERROR)
            raise
        finally:
            otel_context.detach(token)
            span.set_attribute("http.request.method", scope["method"])
            status = scope.get(STATUS_KEY, 500)
            span.set_attribute("http.response.status_code", status)
            if route is None:
                route = self.route_of(scope)
                span.update_name(f"{scope['method']} {route}")
            span.set_attribute("http.route", route)
            if status >= 500:
                span.set_status(StatusCode.ERROR)
            span.end()

    def record_fast(self, scope: Scope, route: str, binding: str, elapsed: float) -> None:
        """Count a fast-path request that took ``elapsed`` (``self.fast`` only).

        The status is ``scope[STATUS_KEY]``, left by the dispatcher or by ``respond``
        (500 if nothing was sent); the series is cached by the raw values, which are
        bounded: templates, methods the routes take, statuses the app sends, three
        versions and the configured agents.
        """
        agent = scope["path_params"]["agent_id"]
        if agent not in self.agents:
            agent = ""
        key = (route, scope["method"], scope.get(STATUS_KEY, 500), a2a_version(scope), agent)
        series = self._fast_series.get(key)
        if series is None:
            series = self._fast_series[key] = self._series_of(key, binding)
        series.record(elapsed)

    def _series_of(self, key: tuple[Any, ...], binding: str,
                   tenant: str | None = None) -> Series | LibrarySeries:
        """The series of raw (route, method, status, version, agent) values: the label key
        (status as its class, the binding, ``tenant`` last when given), for every request."""
        assert self.metrics is not None
        route, method, status, version, agent = key
        klass = _STATUS_CLASS[status // 100 - 1] if 100 <= status < 600 else "5xx"
        labels: tuple[str, ...] = (route, method, klass, binding, version, agent)
        if tenant is not None:
            labels = (*labels, tenant)
        return self.metrics.requests.series(labels)

    async def respond(self, scope: Scope, receive: Receive, send: Send, response: ASGIApp) -> None:
        """Write a fast-path answer that is not written at once (an event stream, ``self.fast``):
        its status into ``scope[STATUS_KEY]`` when sent, counted as an open stream meanwhile."""
        assert self.metrics is not None
        open_streams = self.metrics.open_streams
        stream = False

        async def observed_send(message: Message) -> None:
            nonlocal stream
            if message["type"] == "http.response.start":
                scope[STATUS_KEY] = message["status"]
                headers = message.get("headers")
                if headers is not None and _is_event_stream(headers):
                    stream = True
                    open_streams.inc()
            await send(message)

        try:
            await response(scope, receive, observed_send)
        finally:
            if stream:
                open_streams.dec()

    def _begin(self, scope: Scope) -> dict[str, str] | None:
        if not self.access_log:
            return None
        fields = {"request_id": _request_id(scope)}
        _log_fields.set(fields)
        return fields

    async def _observe(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp,
                       route: str | None, binding: str) -> None:
        started = time.perf_counter()
        status = 500
        stream = False
        metrics = self.metrics
        fields = self._begin(scope)
        request_id = fields["request_id"].encode() if fields is not None else None

        async def observed_send(message: Message) -> None:
            nonlocal status, stream
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers")
                if metrics is not None and headers is not None and _is_event_stream(headers):
                    stream = True
                    metrics.open_streams.inc()
                if request_id is not None:
                    message["headers"] = [*(headers or ()), (REQUEST_ID_HEADER, request_id)]
            await send(message)

        failed: BaseException | None = None
        try:
            await app(scope, receive, observed_send)
        except BaseException as exc:
            failed = exc
            raise
        finally:
            if stream and metrics is not None:
                metrics.open_streams.dec()
            elapsed = time.perf_counter() - started
            if route is None:
                route = self.route_of(scope)
            if self.tracing is not None:
                scope[STATUS_KEY] = status
            self._record(scope, route, binding, status, elapsed, fields, failed)

    def _record(self, scope: Scope, route: str, binding: str, status: int, elapsed: float,
                fields: dict[str, str] | None, failed: BaseException | None) -> None:
        bound = scope.get(SCOPE_KEY)
        principal = scope.get(PRINCIPAL_KEY)  # left by the gate or by authenticate_request
        tenant = (bound.tenant if bound is not None
                  else principal.tenant if principal is not None else "")
        agent = scope.get("path_params", {}).get("agent_id", "")
        if agent not in self.agents:
            agent = ""
        if self.metrics is not None:
            key = (route, scope["method"], status, a2a_version(scope), agent)
            self._series_of(key, binding, tenant if self.metrics.tenant_label else None
                            ).record(elapsed)
        if fields is not None:
            extra = {"route": route, "method": scope["method"], "status": status,
                     "duration_ms": round(elapsed * 1000, 3), "tenant": tenant, "agent": agent,
                     # the credential's name (key:<name> or the OAuth client id), never its value
                     "credential": principal.subject if principal is not None else "",
                     **fields}
            task_id = scope.get("path_params", {}).get("id")
            if task_id and "task_id" not in extra:
                extra["task_id"] = task_id
            if failed is not None and not isinstance(failed, Exception):
                failed = None  # a cancellation is not an error of the request
            access_logger.info("request", extra=extra,
                               exc_info=(type(failed), failed, failed.__traceback__)
                               if failed is not None else None)
