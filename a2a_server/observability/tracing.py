"""OpenTelemetry tracing (off by default): spans for requests, runs, store calls, pushes, outbound HTTP.

With ``tracing`` off nothing here is built and the hot paths test one ``None``.
With it on, ``Tracing.from_settings`` builds a ``TracerProvider`` exporting over
OTLP/HTTP (``opentelemetry-exporter-otlp-proto-http``; endpoint, headers and
resource come from the standard ``OTEL_*`` environment variables), unless a test
hands in its own provider. W3C trace context (``traceparent``/``tracestate``) is
read from incoming requests and written on outbound calls: httpx clients get the
OpenTelemetry httpx instrumentation (``instrument_httpx``); any other client with
httpx-style request hooks (httpx2, used by openai and mcp) can add
``inject_trace_headers`` as a request event hook.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Tracer, TracerProvider
from opentelemetry.util.types import AttributeValue

from a2a_server.settings import Settings

_SERVICE = "a2a-server"

# The tracer of the run executing in this context (set by the ``agent run`` span, so an
# agent's outbound calls need no plumbing); None when tracing is off.
_RUN_TRACER: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar(
    "a2a_server_run_tracer", default=None)


class Tracing:
    """A tracer for this replica, and the helpers its hot paths call."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer("a2a_server")

    @classmethod
    def from_settings(cls, settings: Settings, provider: TracerProvider | None = None) -> Tracing | None:
        """``provider`` if given; else an OTLP-exporting SDK provider when ``settings.tracing``."""
        if provider is not None:
            return cls(provider)
        if not settings.tracing:
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        sdk = SdkTracerProvider(resource=Resource.create({SERVICE_NAME: _SERVICE}))
        sdk.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        return cls(sdk)

    def start_span(self, name: str, kind: SpanKind = SpanKind.INTERNAL,
                   context: Context | None = None) -> Span:
        """A span that is a child of the current one (or of ``context``)."""
        return self.tracer.start_span(name, context=context, kind=kind)

    def server_span(self, name: str, headers: Iterable[tuple[bytes, bytes]]) -> Span:
        """The span of an incoming request, continuing the caller's W3C trace context."""
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers
                   if k in (b"traceparent", b"tracestate")}
        parent = propagate.extract(carrier) if carrier else None
        return self.tracer.start_span(name, context=parent, kind=SpanKind.SERVER)

    def instrument_httpx(self, client: Any) -> None:
        """Spans and ``traceparent`` on every request of an ``httpx`` client."""
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=self.provider)

    def shutdown(self) -> None:
        """Flush and stop the exporter (SDK providers only)."""
        shutdown = getattr(self.provider, "shutdown", None)
        if shutdown is not None:
            shutdown()


def inject_trace_headers(request: Any) -> None:
    """An httpx/httpx2 request event hook writing the current W3C trace context.

    ``client = httpx2.AsyncClient(event_hooks={"request": [inject_trace_headers]})``:
    the receiving service continues the trace of the run that called it. Async clients
    accept the sync hook too (``async_inject_trace_headers`` for those that require it).
    """
    headers: dict[str, str] = {}
    propagate.inject(headers)
    for name, value in headers.items():
        request.headers[name] = value


async def async_inject_trace_headers(request: Any) -> None:
    """``inject_trace_headers`` for async clients' event hooks."""
    inject_trace_headers(request)


def stored_trace_context() -> str:
    """The current W3C trace context as the push outbox stores it with an entry.

    ``traceparent``, or ``traceparent`` + "\\n" + ``tracestate`` when there is one; "" outside
    any span. Installed as ``PushOutbox.trace_context`` only when tracing is on.
    """
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    parent = carrier.get("traceparent")
    if not parent:
        return ""
    state = carrier.get("tracestate")
    return f"{parent}\n{state}" if state else parent


def stored_context(stored: str) -> Context | None:
    """The trace context ``stored_trace_context`` wrote (None for "": an entry written with
    tracing off, or before trace contexts were stored)."""
    if not stored:
        return None
    parent, _, state = stored.partition("\n")
    carrier = {"traceparent": parent}
    if state:
        carrier["tracestate"] = state
    return propagate.extract(carrier)


def inject_into(headers: dict[str, str], span: Span) -> None:
    """Write ``span``'s W3C trace context into ``headers`` (an outbound request's)."""
    propagate.inject(headers, context=trace.set_span_in_context(span))


def set_run_tracer(tracer: Tracer | None) -> contextvars.Token[Tracer | None]:
    """Make ``tracer`` the one ``outbound_span`` uses in this context (the run's)."""
    return _RUN_TRACER.set(tracer)


def reset_run_tracer(token: contextvars.Token[Tracer | None]) -> None:
    """Undo ``set_run_tracer``."""
    _RUN_TRACER.reset(token)


@contextlib.contextmanager
def outbound_span(name: str, attributes: Mapping[str, AttributeValue]) -> Iterator[Span | None]:
    """A CLIENT span around one outbound call of a run (an LLM provider, an MCP tool, a remote
    agent), current inside the block; ``None`` (and nothing built) when tracing is off.

    An exception leaving the block is recorded on the span, which is marked as an error with
    ``error.type`` the exception's class name.
    """
    tracer = _RUN_TRACER.get()
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes) as span:
        try:
            yield span
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__qualname__)
            raise


def current_span() -> Span:
    """The span the calling code runs in (a no-op span when tracing is off)."""
    return trace.get_current_span()
