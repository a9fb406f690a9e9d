"""JSON logs: one access line per request with its request id; no secret or body in any line."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable

import httpx
import pytest

from a2a_server.observability.logs import json_formatter
from a2a_server.settings import Settings
from tests.conftest import DEMO, V1, running_app, user_message_v03, user_message_v1

BODY_MARKER = "body-marker-4f1c9e"
PUSH_TOKEN = "push-token-secret-77aa"


def _access(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    formatter = json_formatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "a2a_server.access"]


async def test_request_id_is_accepted_returned_or_generated_and_logged(
    backend: str, settings_for: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="a2a_server.access")
    async with running_app(settings_for(backend, log_format="json")) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            sent = await http.post("/agents/echo/v1/message:send", json=user_message_v03("hi"),
                                   headers={**DEMO, "X-Request-ID": "client-req-1"})
            generated = await http.get("/healthz")
            hostile = await http.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert sent.headers["x-request-id"] == "client-req-1"
    assert len(generated.headers["x-request-id"]) == 16
    assert hostile.headers["x-request-id"] != "bad id\twith spaces"
    lines = _access(caplog)
    assert [line["request_id"] for line in lines] == [
        "client-req-1", generated.headers["x-request-id"], hostile.headers["x-request-id"]]
    send = lines[0]
    assert send["route"] == "/agents/{agent_id}/v1/message:send" and send["status"] == 200
    assert send["tenant"] == "demo" and send["agent"] == "echo"
    assert send["credential"] == "key:local"  # the key's name in the tenant file
    assert send["task_id"] == sent.json()["task"]["id"]
    assert isinstance(send["duration_ms"], float)
    assert lines[1]["route"] == "/healthz" and lines[1]["tenant"] == ""
    assert lines[1]["credential"] == ""



async def test_routes_outside_the_agent_protocol_name_the_tenant_and_credential_too(
    settings_for: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    # tenants.md's key rotation checks the access lines for the old key's name: a client that
    # only lists agents, reads usage or contexts must show up there as well
    caplog.set_level(logging.INFO, logger="a2a_server.access")
    async with running_app(settings_for("memory", log_format="json")) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            listed = await http.get("/agents", headers=DEMO)
            one = await http.get("/agents/echo", headers=DEMO)
            usage = await http.get("/agents/echo/usage", headers=DEMO)
            experts = await http.get("/agents/registry/experts", headers=DEMO)
            context = await http.get("/agents/echo/v1/contexts/nope", headers=DEMO)
            refused = await http.get("/agents", headers={"X-API-Key": "wrong"})
    assert [r.status_code for r in (listed, one, usage, experts, context, refused)] == [
        200, 200, 200, 200, 404, 401]
    lines = _access(caplog)
    assert len(lines) == 6
    for line in lines[:5]:
        assert line["tenant"] == "demo" and line["credential"] == "key:local", line
    assert lines[5]["tenant"] == "" and lines[5]["credential"] == ""


async def test_text_logs_by_default_send_no_request_id(settings_for: Callable[..., Settings]) -> None:
    async with running_app(settings_for("memory")) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            got = await http.get("/healthz", headers={"X-Request-ID": "x"})
    assert "x-request-id" not in got.headers


async def test_no_log_line_carries_a_secret_a_token_or_a_message_body(
    backend: str, settings_for: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = ["demo-key", "demo-secret", "acme-key", PUSH_TOKEN, BODY_MARKER]
    async with running_app(settings_for(backend, log_format="json")) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            basic = base64.b64encode(b"demo-client:demo-secret").decode()
            token = (await http.post(
                "/realms/demo/protocol/openid-connect/token", content="grant_type=client_credentials",
                headers={"Authorization": f"Basic {basic}",
                         "Content-Type": "application/x-www-form-urlencoded"})).json()["access_token"]
            secrets.append(token)
            bearer = {"Authorization": f"Bearer {token}", **V1}
            sent = await http.post("/agents/echo/v1/message:send", json=user_message_v1(BODY_MARKER),
                                   headers=bearer)
            task_id = sent.json()["task"]["id"]
            await http.post("/agents/echo/v1/message:send", json=user_message_v03(BODY_MARKER),
                            headers=DEMO)
            await http.post("/agents/echo/v1", headers={**DEMO, **V1}, json={
                "jsonrpc": "2.0", "id": 1, "method": "SendMessage",
                "params": {"message": user_message_v1(BODY_MARKER)["message"], "junk": BODY_MARKER}})
            await http.post("/agents/conformance/v1/tasks/x/pushNotificationConfigs",
                            json={"url": "http://10.0.0.1/hook", "token": PUSH_TOKEN}, headers=bearer)
            await http.get(f"/agents/echo/v1/tasks/{task_id}", headers={"X-API-Key": "acme-key"})
            await http.get(f"/agents/echo/v1/tasks/{task_id}", headers={"Authorization": "Basic demo-key"})
            await http.post("/agents/echo/v1/message:send", content=b'{"message": ' + BODY_MARKER.encode(),
                            headers={**DEMO, "Content-Type": "application/json"})
    formatter = json_formatter()
    text = "\n".join(formatter.format(record) for record in caplog.records)
    assert "a2a_server.access" in text  # the run was logged
    leaked = [secret for secret in secrets if secret in text]
    assert leaked == []


async def test_an_escaping_error_is_logged_with_its_traceback_on_the_access_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from a2a_server.observability.http import RequestObserver
    from a2a_server.observability.metrics import Metrics

    async def broken(scope: object, receive: object, send: object) -> None:
        raise RuntimeError("the handler broke")

    observer = RequestObserver(Metrics(), frozenset(), [], access_log=True)
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "path_params": {}}
    caplog.set_level(logging.INFO, logger="a2a_server.access")
    with pytest.raises(RuntimeError):
        await observer.observe(scope, None, None, broken, "/x", "http")  # type: ignore[arg-type]
    (line,) = _access(caplog)
    assert line["status"] == 500 and line["route"] == "/x"
    assert "Traceback" in str(line["exc_info"]) and "the handler broke" in str(line["exc_info"])
