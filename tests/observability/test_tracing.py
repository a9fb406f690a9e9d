"""A trace a client starts continues through the server, its run and store calls, into the
server's outbound call (a push-notification webhook), with W3C trace context on the wire."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import Callable

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from a2a_server.app import create_app
from a2a_server.settings import Settings
from tests.conftest import DEMO, V1, user_message_v1

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


class _Hook:
    """A webhook receiver recording the traceparent of every POST."""

    def __init__(self) -> None:
        self.traceparents: list[str | None] = []
        seen = self.traceparents

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                seen.append(self.headers.get("traceparent"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                del args

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_client_trace_continues_through_the_server_into_an_outbound_call(
    backend: str, settings_for: Callable[..., Settings]
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    hook = _Hook()
    app = create_app(settings_for(backend, push_url_allowlist="127.0.0.0/8"), tracer_provider=provider)
    body = user_message_v1("trace me")
    body["configuration"] = {"taskPushNotificationConfig": {"url": hook.url}}
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                sent = await http.post(
                    "/agents/conformance/v1/message:send", json=body,
                    headers={**DEMO, **V1, "traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"})
                assert sent.status_code == 200, sent.text
                deadline = time.monotonic() + 20
                while not hook.traceparents:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.05)
    finally:
        hook.close()
    assert all(tp is not None and tp.split("-")[1] == TRACE_ID for tp in hook.traceparents)
    spans = exporter.get_finished_spans()
    ours = [s for s in spans if f"{s.context.trace_id:032x}" == TRACE_ID]
    names = {s.name for s in ours}
    server = next(s for s in ours if s.kind is SpanKind.SERVER)
    assert server.name == "POST /agents/{agent_id}/v1/message:send"
    assert server.parent is not None and f"{server.parent.span_id:016x}" == CLIENT_SPAN
    assert server.attributes is not None and server.attributes["http.response.status_code"] == 200
    assert "agent run conformance" in names
    assert "push delivery" in names
    if backend == "redis":  # one span per round trip; the in-memory store makes none
        assert any(name.startswith("store tasks.") for name in names)
    outbound = [s for s in ours if s.kind is SpanKind.CLIENT]
    assert outbound and all(s.name == "POST" for s in outbound)
    # The webhook saw the outbound span as its parent.
    assert {tp.split("-")[2] for tp in hook.traceparents if tp} <= {
        f"{s.context.span_id:016x}" for s in outbound}


async def test_tracing_is_off_by_default(settings_for: Callable[..., Settings]) -> None:
    app = create_app(settings_for("memory"))
    assert app.observer is not None and app.observer.tracing is None


async def test_the_event_hook_carries_the_current_trace_to_any_httpx_style_client() -> None:
    from a2a_server.observability.tracing import Tracing, async_inject_trace_headers

    provider = TracerProvider()
    tracing = Tracing(provider)
    seen: list[str] = []

    def remote_agent(request: httpx.Request) -> httpx.Response:  # a stand-in remote service
        seen.append(request.headers.get("traceparent", ""))
        return httpx.Response(200)

    client = httpx.AsyncClient(transport=httpx.MockTransport(remote_agent),
                               event_hooks={"request": [async_inject_trace_headers]})
    async with client:
        with tracing.tracer.start_as_current_span("agent run remote") as span:
            await client.get("http://remote.example/a2a")
        await client.get("http://remote.example/a2a")  # outside any span: nothing to carry
    trace_id = f"{span.get_span_context().trace_id:032x}"
    span_id = f"{span.get_span_context().span_id:016x}"
    assert seen[0].startswith(f"00-{trace_id}-{span_id}-")
    assert seen[1] == ""
