"""GET /metrics after known traffic: every counter moved exactly as the traffic says."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from a2a_server.observability.metrics import Metrics, bind_metrics, record_llm_usage
from a2a_server.settings import Settings
from tests.conftest import ACME, DEMO, V1, LiveServer, running_app, user_message_v03, user_message_v1
from tests.observability.metrics_text import scrape, value
from tests.protocol.sse import read_events_sync
from tests.test_replicas import agents_with_slow

SEND = "/agents/{agent_id}/v1/message:send"
RPC = "/agents/{agent_id}/v1"


@pytest.fixture
async def app_and_http(backend: str, settings_for: Callable[..., Settings]
                       ) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    async with running_app(settings_for(backend)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, http


async def test_requests_tasks_and_auth_failures_are_counted_exactly(
    app_and_http: tuple[Any, httpx.AsyncClient], backend: str
) -> None:
    _, http = app_and_http
    for text in ("one", "two"):
        sent = await http.post("/agents/echo/v1/message:send", json=user_message_v03(text),
                               headers=DEMO)
        assert sent.status_code == 200, sent.text
    task_id = sent.json()["task"]["id"]
    assert (await http.get(f"/agents/echo/v1/tasks/{task_id}", headers={**DEMO, **V1})).status_code == 200
    rpc = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
           "params": {"message": user_message_v1("three")["message"]}}
    assert (await http.post("/agents/echo/v1", json=rpc, headers={**DEMO, **V1})).status_code == 200
    assert (await http.get(f"/agents/echo/v1/tasks/{task_id}",
                           headers={"X-API-Key": "wrong"})).status_code == 401
    assert (await http.get(f"/agents/echo/v1/tasks/{task_id}")).status_code == 401
    assert (await http.get(f"/agents/echo/v1/tasks/{task_id}", headers=ACME)).status_code == 404
    assert (await http.get("/agents/nobody/v1/tasks/x", headers=DEMO)).status_code == 404

    text = await scrape(http)
    req = "a2a_http_requests_total"
    assert value(text, req, route=SEND, method="POST", status="2xx", binding="http+json",
                 version="0.3", agent="echo") == 2
    assert value(text, req, route="/agents/{agent_id}/v1/tasks/{id}", method="GET", status="2xx",
                 version="1.0", agent="echo") == 1
    assert value(text, req, route=RPC, method="POST", status="2xx", binding="jsonrpc",
                 version="1.0", agent="echo") == 1
    assert value(text, req, route="/agents/{agent_id}/v1/tasks/{id}", status="4xx",
                 agent="echo") == 3
    assert value(text, req, status="4xx", agent="") == 1  # an unknown agent id is not a label
    assert value(text, "a2a_http_request_duration_seconds_count", route=SEND) == 2
    assert value(text, "a2a_tasks_finished_total", agent="echo", state="completed") == 3
    assert value(text, "a2a_tasks_running", agent="echo") == 0
    assert value(text, "a2a_auth_failures_total", reason="invalid_api_key") == 1
    assert value(text, "a2a_auth_failures_total", reason="missing") == 1
    assert value(text, "a2a_auth_failures_total") == 2
    # One commit per send on Redis; the in-memory store has no round trips to time.
    assert value(text, "a2a_store_call_duration_seconds_count", store=backend,
                 call="tasks.commit") == (3 if backend == "redis" else 0)
    assert value(text, "a2a_store_call_errors_total") == 0
    assert value(text, "a2a_store_available", store=backend) == 1
    assert 'tenant="' not in text  # off by default: no per-tenant series

    again = await scrape(http)  # a scrape is counted like any other request
    assert value(again, req, route="/metrics", method="GET", status="2xx", binding="http") == 1


async def test_tokens_issued_and_tenant_label_when_enabled(
    backend: str, settings_for: Callable[..., Settings]
) -> None:
    async with running_app(settings_for(backend, metrics_tenant_label=True)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            basic = base64.b64encode(b"demo-client:demo-secret").decode()
            for _ in range(2):
                got = await http.post("/realms/demo/protocol/openid-connect/token",
                                      content="grant_type=client_credentials",
                                      headers={"Authorization": f"Basic {basic}",
                                               "Content-Type": "application/x-www-form-urlencoded"})
                assert got.status_code == 200, got.text
            token = got.json()["access_token"]
            sent = await http.post("/agents/echo/v1/message:send", json=user_message_v03("hi"),
                                   headers={"Authorization": f"Bearer {token}"})
            assert sent.status_code == 200, sent.text
            bad = await http.get("/agents/echo/v1/tasks/x",
                                 headers={"Authorization": "Bearer a.b.c"})
            assert bad.status_code == 401
            text = await scrape(http)
    assert value(text, "a2a_tokens_issued_total", tenant="demo") == 2
    assert value(text, "a2a_http_requests_total", route=SEND, tenant="demo", status="2xx") == 1
    assert value(text, "a2a_tasks_finished_total", tenant="demo", state="completed") == 1
    assert value(text, "a2a_auth_failures_total", reason="invalid_token") == 1
    assert value(text, "a2a_http_requests_total", route="/realms/{tenant}/protocol/openid-connect/token",
                 method="POST", status="2xx", binding="http") == 2


async def test_metrics_token_guards_the_scrape(settings_for: Callable[..., Settings]) -> None:
    secret = "scrape-secret-0123456789"
    async with running_app(settings_for("memory", metrics_token=secret)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            refused = await http.get("/metrics")
            wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
            allowed = await http.get("/metrics", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status_code == wrong.status_code == 401
    assert secret not in refused.text
    assert allowed.status_code == 200 and "a2a_http_requests_total" in allowed.text


async def test_metrics_off_means_no_endpoint(settings_for: Callable[..., Settings]) -> None:
    async with running_app(settings_for("memory", metrics=False)) as app:
        assert app.observer is None  # the fast path runs uninstrumented
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/metrics")).status_code == 404


def test_record_llm_usage_counts_tokens_and_cost_on_the_bound_replica() -> None:
    metrics = Metrics()
    record_llm_usage(agent="a", provider="openai", model="m", input_tokens=5, output_tokens=7)
    assert metrics.llm_tokens.labels("a", "openai", "m", "input")._value.get() == 0  # unbound
    bind_metrics(metrics)
    record_llm_usage(agent="a", provider="openai", model="m", input_tokens=5, output_tokens=7,
                     cost_usd=0.25)
    record_llm_usage(agent="a", provider="openai", model="m", input_tokens=1, output_tokens=0)
    from prometheus_client import generate_latest

    text = generate_latest(metrics.registry).decode()
    assert value(text, "a2a_llm_tokens_total", agent="a", model="m", kind="input") == 6
    assert value(text, "a2a_llm_tokens_total", agent="a", model="m", kind="output") == 7
    assert value(text, "a2a_llm_cost_usd_total", agent="a", provider="openai", model="m") == 0.25


async def _until(check: Callable[[], Any], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


class _Hook:
    """A webhook receiver on a free port answering every POST with ``status``."""

    def __init__(self, status: int) -> None:
        import http.server
        import threading

        self.bodies: list[bytes] = []
        bodies = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(self.rfile.read(int(self.headers.get("content-length", 0))))
                self.send_response(status)
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


async def test_push_deliveries_by_outcome(
    backend: str, settings_for: Callable[..., Settings], tmp_path: Any
) -> None:
    import shutil

    from tests.conftest import REPO

    agents = tmp_path / "agents"
    agents.mkdir()
    for name in ("echo.json", "echo.binding.yaml", "conformance.json"):
        shutil.copy(REPO / "agent_cards" / name, agents / name)
    (agents / "conformance.binding.yaml").write_text(
        "executor: conformance\noptions:\n  resubscribe_seconds: 1\n")
    good, bad = _Hook(200), _Hook(500)
    settings = settings_for(backend, agents_dir=agents, push_url_allowlist="127.0.0.0/8")
    base = "/agents/conformance/v1"
    headers = {**DEMO, **V1}
    try:
        async with running_app(settings) as app:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                body = user_message_v1("push please")
                body["message"]["messageId"] = "test-resubscribe-message-id-1"
                body["configuration"] = {"returnImmediately": True}
                sent = await http.post(f"{base}/message:send", json=body, headers=headers)
                assert sent.status_code == 200, sent.text
                task_id = sent.json()["task"]["id"]
                for n, url in enumerate((good.url, bad.url, "http://no-such-host.invalid/hook")):
                    config = await http.post(f"{base}/tasks/{task_id}/pushNotificationConfigs",
                                             json={"url": url, "id": f"c{n}"}, headers=headers)
                    assert config.status_code == 200, config.text

                async def settled() -> bool:
                    text = await scrape(http)
                    counts = {o: value(text, "a2a_push_deliveries_total", agent="conformance",
                                       outcome=o) for o in ("delivered", "retrying", "refused")}
                    done = any(b"TASK_STATE_COMPLETED" in x for x in good.bodies)
                    # Every attempt counts once, as its receiver saw it: each 2xx as delivered,
                    # each 500 as retrying (tried again later); the unresolvable host is
                    # refused by the URL policy at delivery time (and retried).
                    return (done and counts["delivered"] == len(good.bodies)
                            and counts["retrying"] == len(bad.bodies) >= 1
                            and counts["refused"] >= 1)

                await _until(settled)
    finally:
        good.close()
        bad.close()


def test_the_fast_path_counts_open_streams_refused_bodies_and_failed_versions(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    """Metrics alone time the fast path without a send wrapper: an event stream still counts
    as open while it is written, and a status the endpoint never renders (the body limit's
    413, an unsupported A2A-Version) is still the status counted."""
    server = live_server_factory("memory", agents_dir=agents_with_slow(tmp_path / "agents", 1.5),
                                 max_body_bytes=4096)
    assert server.app.observer.fast
    stream = "/agents/{agent_id}/v1/message:stream"
    with httpx.Client(base_url=server.url, timeout=30) as http, \
            httpx.Client(base_url=server.url, timeout=30) as other:
        def metrics() -> str:
            got = other.get("/metrics")
            assert got.status_code == 200
            return got.text

        with http.stream("POST", "/agents/echo/v1/message:stream", headers={**DEMO, **V1},
                         json=user_message_v1("slow, counted while open")) as response:
            assert response.status_code == 200
            events = read_events_sync(response)
            next(events)
            assert value(metrics(), "a2a_http_open_streams") == 1
            assert value(metrics(), "a2a_http_requests_total", route=stream) == 0  # not yet
            for _ in events:
                pass
        deadline = time.monotonic() + 10  # the server ends the response after the last event
        while value(text := metrics(), "a2a_http_open_streams") != 0:
            assert time.monotonic() < deadline, "the ended stream still counts as open"
            time.sleep(0.05)
        assert value(text, "a2a_http_requests_total", route=stream, method="POST", status="2xx",
                     binding="http+json", version="1.0", agent="echo") == 1
        big = http.post("/agents/echo/v1/message:send", content=b"x" * 5000,
                        headers={**DEMO, "Content-Type": "application/json"})
        assert big.status_code == 413
        odd = http.get("/agents/echo/v1/tasks/x", headers={**DEMO, "A2A-Version": "7.0"})
        assert odd.status_code == 400
        text = metrics()
    assert value(text, "a2a_http_requests_total", route=SEND, method="POST", status="4xx",
                 version="0.3", agent="echo") == 1
    assert value(text, "a2a_http_requests_total", route="/agents/{agent_id}/v1/tasks/{id}",
                 status="4xx", version="other", agent="echo") == 1
    assert value(text, "a2a_http_requests_total", status="5xx") == 0
