"""With tracing on, every provider call and every MCP tool call of an LLM run is a CLIENT span
in the client's trace: GenAI semantic-convention attributes, token counts, errors; the MCP
server gets the span's trace context in the call's ``_meta``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from a2a_server.app import create_app
from a2a_server.settings import Settings
from tests.conftest import DEMO, V1, user_message_v1
from tests.llm.conftest import Provider, agent_url, llm_options, write_agent
from tests.mcp_process import TOKEN, McpServerProcess

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[McpServerProcess]:
    server = McpServerProcess()
    yield server
    server.stop()


async def _traced_send(settings: Settings, agent: str, text: str
                       ) -> tuple[dict[str, object], list[ReadableSpan]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(settings, tracer_provider=provider)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     timeout=30) as http:
            sent = await http.post(agent_url(agent, "/message:send"),
                                   json=user_message_v1(text),
                                   headers={**DEMO, **V1, "traceparent": TRACEPARENT})
    assert sent.status_code == 200, sent.text
    spans = [s for s in exporter.get_finished_spans()
             if f"{s.context.trace_id:032x}" == TRACE_ID]
    return sent.json()["task"], spans


def _run_span(spans: list[ReadableSpan], agent: str) -> ReadableSpan:
    return next(s for s in spans if s.name == f"agent run {agent}")


async def test_each_provider_call_is_a_genai_span_with_token_counts(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    provider.script(
        {"kind": "status", "status": 503},  # retried: a failed call, then a good one
        {"kind": "text", "text": "Paris.", "usage": {"prompt_tokens": 10, "completion_tokens": 5}})
    task, spans = await _traced_send(settings_for(backend, agents_dir=agents_dir),
                                     "assistant", "Capital of France?")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"  # type: ignore[index]
    failed, good = [s for s in spans if s.name == "chat standin-1"]
    run = _run_span(spans, "assistant")
    for span in (failed, good):
        assert span.kind is SpanKind.CLIENT
        assert span.parent is not None and span.parent.span_id == run.context.span_id
        assert span.attributes is not None
        assert span.attributes["gen_ai.operation.name"] == "chat"
        assert span.attributes["gen_ai.provider.name"] == "standin"
        assert span.attributes["gen_ai.request.model"] == "standin-1"
        assert span.attributes["server.address"] == "127.0.0.1"
        assert span.attributes["server.port"] == provider.port
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes is not None and failed.attributes["error.type"] == "InternalServerError"
    assert good.status.status_code is not StatusCode.ERROR
    assert good.attributes is not None
    assert good.attributes["gen_ai.response.model"] == "standin-1"
    assert good.attributes["gen_ai.usage.input_tokens"] == 10
    assert good.attributes["gen_ai.usage.output_tokens"] == 5
    assert good.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    # No prompt or completion text on any span.
    assert not any("Paris" in str(v) or "France" in str(v)
                   for s in spans for v in (s.attributes or {}).values())


async def test_an_mcp_tool_call_is_a_span_whose_context_reaches_the_mcp_server(
    settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
    mcp_server: McpServerProcess, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MCP_TOKEN", TOKEN)
    write_agent(agents_dir, "calc", llm_options(provider, mcp_servers=[
        {"name": "tools", "url": mcp_server.url, "transportType": "streamable_http",
         "authorizationType": "bearer", "token_env": "MCP_TOKEN", "timeout_seconds": 10}]))
    provider.script(
        {"kind": "tool_calls", "calls": [{"id": "t1", "name": "traceparent", "arguments": {}},
                                         {"id": "t2", "name": "fail",
                                          "arguments": {"reason": "on purpose"}}]},
        {"kind": "text", "text": "done"})
    task, spans = await _traced_send(settings_for("memory", agents_dir=agents_dir), "calc",
                                     "Which trace?")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"  # type: ignore[index]
    [request] = [r for r in provider.requests()
                 if any(m["role"] == "tool" for m in r["body"]["messages"])]
    seen = next(m["content"] for m in request["body"]["messages"]
                if m.get("tool_call_id") == "t1")
    call = next(s for s in spans if s.name == "tools/call traceparent")
    assert call.kind is SpanKind.CLIENT
    assert call.attributes is not None
    assert call.attributes["gen_ai.tool.name"] == "traceparent"
    assert call.attributes["mcp.method.name"] == "tools/call"
    assert seen.split("-")[1] == TRACE_ID
    # The MCP server's parent is our tool-call span (or the MCP client's span inside it).
    parent = int(seen.split("-")[2], 16)
    inside = {s.context.span_id for s in spans
              if s.parent is not None and s.parent.span_id == call.context.span_id}
    assert parent in {call.context.span_id} | inside
    failed = next(s for s in spans if s.name == "tools/call fail")
    assert failed.status.status_code is StatusCode.ERROR
    run = _run_span(spans, "calc")
    assert call.parent is not None and call.parent.span_id == run.context.span_id
