"""A trace a client starts continues through the server, its run and store calls, into the
server's outbound call (a remote agent), with W3C trace context on the wire."""

from __future__ import annotations

import http.server
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from a2a_server.app import create_app
from a2a_server.settings import Settings
from tests.conftest import DEMO, REPO, V1, user_message_v1
from tests.remote_agents import write_agent

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


class _Hook:
    """A stand-in remote agent recording the traceparent of every request (it serves no card)."""

    def __init__(self) -> None:
        self.traceparents: list[str | None] = []
        seen = self.traceparents

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.headers.get("traceparent"))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                del args

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/agent-card.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_client_trace_continues_through_the_server_into_a_remote_agent(
    backend: str, settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    hook = _Hook()
    agents = tmp_path / "agents"
    agents.mkdir()
    for name in ("echo.json", "echo.binding.yaml"):  # the demo tenants name echo
        shutil.copy(REPO / "agent_cards" / name, agents / name)
    write_agent(agents, "proxy", {"executor": "remote", "options": {"card_url": hook.url}})
    app = create_app(settings_for(backend, agents_dir=agents, push_url_allowlist="127.0.0.0/8"),
                     tracer_provider=provider)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                sent = await http.post(
                    "/agents/proxy/v1/message:send", json=user_message_v1("trace me"),
                    headers={**DEMO, **V1, "traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"})
    finally:
        hook.close()
    assert sent.status_code == 200, sent.text
    # The remote's card fetch carried the client's trace (the stand-in serves no card: the
    # task then fails, which is not what this test is about).
    [traceparent] = hook.traceparents
    assert traceparent is not None and traceparent.split("-")[1] == TRACE_ID
    spans = exporter.get_finished_spans()
    ours = [s for s in spans if f"{s.context.trace_id:032x}" == TRACE_ID]
    names = {s.name for s in ours}
    server = next(s for s in ours if s.kind is SpanKind.SERVER)
    assert server.name == "POST /agents/{agent_id}/v1/message:send"
    assert server.parent is not None and f"{server.parent.span_id:016x}" == CLIENT_SPAN
    assert server.attributes is not None and server.attributes["http.response.status_code"] == 200
    assert "agent run proxy" in names
    if backend == "redis":  # one span per round trip; the in-memory store makes none
        assert any(name.startswith("store tasks.") for name in names)
    # The remote's parent is the run's CLIENT span for the forwarded turn (an error: no card).
    call = next(s for s in ours if s.name == "a2a SendMessage")
    assert call.kind is SpanKind.CLIENT
    assert traceparent.split("-")[2] == f"{call.context.span_id:016x}"
    run = next(s for s in ours if s.name == "agent run proxy")
    assert call.parent is not None and call.parent.span_id == run.context.span_id
    assert call.attributes is not None and call.attributes["server.address"] == "127.0.0.1"
    assert call.status.status_code is StatusCode.ERROR


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
