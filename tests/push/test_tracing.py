"""A client's trace continues from ``message:send`` through the push outbox into the webhook
request a real receiver process gets; each delivery attempt is a CLIENT span."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from a2a_server.app import create_app
from a2a_server.settings import Settings
from tests.push.conftest import AUTH, CHUNKED, FAST, Receiver, send, state_of, with_webhook

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


def _provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def test_a_client_trace_continues_into_the_webhook_request(
        backend: str, settings_for: Callable[..., Settings], receiver: Receiver) -> None:
    provider, exporter = _provider()
    app = create_app(settings_for(backend, **FAST), tracer_provider=provider)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            task = await send(http, with_webhook(CHUNKED, receiver.url), headers={
                **AUTH, "traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01",
                "tracestate": "vendor=opaque"})
            got = await receiver.until(lambda r: any(
                state_of(x.json) == "TASK_STATE_COMPLETED" for x in r))
    mine = [r for r in got if r.delivery_id.startswith(f"{task['id']}:")]
    assert len(mine) == 5
    spans = exporter.get_finished_spans()
    deliveries = {s.attributes["a2a.push.delivery_id"]: s for s in spans
                  if s.name == "push delivery" and s.attributes is not None}
    server = next(s for s in spans if s.kind is SpanKind.SERVER
                  and f"{s.context.trace_id:032x}" == TRACE_ID)
    for received in mine:
        version, trace_id, parent_id, flags = received.headers["traceparent"].split("-")
        assert (version, trace_id, flags) == ("00", TRACE_ID, "01")
        assert received.headers["tracestate"] == "vendor=opaque"
        # The webhook's parent is the delivery span of that very notification...
        span = deliveries[received.delivery_id]
        assert f"{span.context.span_id:016x}" == parent_id
        assert f"{span.context.trace_id:032x}" == TRACE_ID
        assert span.kind is SpanKind.CLIENT
        assert span.attributes is not None
        assert span.attributes["http.response.status_code"] == 200
        assert span.attributes["a2a.task_id"] == task["id"]
        assert span.attributes["a2a.push.config_id"] == "hook"
        assert span.attributes["server.address"] == "127.0.0.1"
        # ... whose parent is the request that committed it (the client's server span).
        assert span.parent is not None and span.parent.span_id == server.context.span_id


async def test_a_failed_attempt_is_an_error_span_and_the_retry_a_new_one(
        backend: str, settings_for: Callable[..., Settings], receiver: Receiver) -> None:
    provider, exporter = _provider()
    receiver.script({"status": 503})  # the first request answered 503, then 200s
    app = create_app(settings_for(backend, **FAST), tracer_provider=provider)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            task = await send(http, with_webhook(CHUNKED, receiver.url), headers={
                **AUTH, "traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"})
            got = await receiver.until(lambda r: any(
                state_of(x.json) == "TASK_STATE_COMPLETED" and x.answered == 200 for x in r))
    first = next(r for r in got if r.delivery_id.startswith(f"{task['id']}:"))
    assert first.answered == 503
    attempts = [s for s in exporter.get_finished_spans() if s.name == "push delivery"
                and s.attributes is not None
                and s.attributes["a2a.push.delivery_id"] == first.delivery_id]
    assert [s.attributes["http.response.status_code"] for s in attempts  # type: ignore[index]
            ] == [503, 200]
    assert attempts[0].status.status_code is StatusCode.ERROR
    assert attempts[1].status.status_code is not StatusCode.ERROR
    assert {f"{s.context.trace_id:032x}" for s in attempts} == {TRACE_ID}
    assert attempts[0].context.span_id != attempts[1].context.span_id


async def test_without_tracing_no_trace_context_is_stored_or_sent(
        backend: str, settings_for: Callable[..., Settings], receiver: Receiver) -> None:
    app = create_app(settings_for(backend, **FAST))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            await send(http, with_webhook(CHUNKED, receiver.url), headers={
                **AUTH, "traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"})
            got = await receiver.until(lambda r: any(
                state_of(x.json) == "TASK_STATE_COMPLETED" for x in r))
    assert all("traceparent" not in r.headers for r in got)


async def test_an_unreachable_webhook_is_an_error_span_naming_the_failure(
        backend: str, settings_for: Callable[..., Settings], receiver: Receiver) -> None:
    provider, exporter = _provider()
    receiver.stop()  # nothing listens: every attempt fails to connect
    app = create_app(settings_for(backend, **FAST), tracer_provider=provider)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            await send(http, with_webhook(CHUNKED, receiver.url), headers={
                **AUTH, "traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"})
            for _ in range(200):
                spans = [s for s in exporter.get_finished_spans() if s.name == "push delivery"]
                if spans:
                    break
                await asyncio.sleep(0.05)
    span = spans[0]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None and span.attributes["error.type"] == "ClientConnectorError"
    assert "http.response.status_code" not in span.attributes
    assert f"{span.context.trace_id:032x}" == TRACE_ID
