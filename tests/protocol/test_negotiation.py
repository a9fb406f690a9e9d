"""Answers that follow the request: the 1.0 card for 1.0 clients, the media type asked for."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import DEMO, V1, user_message_v1

CARD = "/agents/conformance/v1/.well-known/agent-card.json"
_V03_ONLY = {"url", "protocolVersion", "preferredTransport", "security",
             "supportsAuthenticatedExtendedCard"}


async def test_a_10_client_gets_the_pure_10_card(http: httpx.AsyncClient) -> None:
    pure = await http.get(CARD, headers={**DEMO, **V1})
    both = await http.get(CARD, headers=DEMO)
    assert pure.status_code == both.status_code == 200
    assert not _V03_ONLY & pure.json().keys()
    assert {"url", "protocolVersion", "preferredTransport"} <= both.json().keys()
    assert pure.json()["supportedInterfaces"] == both.json()["supportedInterfaces"]
    assert pure.headers["etag"] != both.headers["etag"]
    assert "A2A-Version" in pure.headers["vary"]
    by_query = await http.get(CARD, params={"A2A-Version": "1.0"}, headers=DEMO)
    assert by_query.json() == pure.json()
    for scheme in pure.json()["securitySchemes"].values():  # no 0.3 keys (type, in, ...)
        assert not {"type", "in"} & scheme.keys()


@pytest.mark.parametrize(("sent", "answered"), [
    ("application/json", "application/json"),
    ("application/a2a+json", "application/a2a+json"),
])
async def test_the_answer_has_the_requests_media_type(http: httpx.AsyncClient, sent: str,
                                                       answered: str) -> None:
    headers = {**DEMO, **V1, "Content-Type": sent}
    sent_task = await http.post("/agents/echo/v1/message:send", headers=headers,
                                content=httpx.Request("POST", "/", json=user_message_v1("x")).content)
    assert sent_task.status_code == 200, sent_task.text
    assert sent_task.headers["content-type"] == answered
    task_id = sent_task.json()["task"]["id"]
    got = await http.get(f"/agents/echo/v1/tasks/{task_id}", headers={**DEMO, **V1, "Accept": sent})
    assert got.status_code == 200
    listed = await http.get("/agents/echo/v1/tasks", headers={**DEMO, **V1, "Accept": sent})
    assert listed.headers["content-type"] == answered


async def test_no_hint_keeps_the_a2a_media_type(http: httpx.AsyncClient) -> None:
    listed = await http.get("/agents/echo/v1/tasks", headers={**DEMO, **V1})
    assert listed.headers["content-type"] == "application/a2a+json"


async def test_a_jsonrpc_body_not_declared_as_json(http: httpx.AsyncClient) -> None:
    answer = await http.post("/agents/echo/v1", content=b"{'jsonrpc': '2.0'}",
                             headers={**DEMO, **V1, "Content-Type": "text/plain"})
    assert answer.status_code == 415
    assert answer.json()["error"]["code"] == -32005  # ContentTypeNotSupportedError
