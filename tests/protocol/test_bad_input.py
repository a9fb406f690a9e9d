"""Bad input gets a clear error in the binding's own format, and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import DEMO, V1, user_message_v03

RPC = "/agents/echo/v1"
SEND = "/agents/echo/v1/message:send"


async def task_count(http: httpx.AsyncClient) -> int:
    listed = await http.get("/agents/echo/v1/tasks", headers={**DEMO, **V1})
    return len(listed.json()["tasks"])


def rest_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == status and error["status"] and error["message"]
    return error  # type: ignore[no-any-return]


def rpc_error(response: httpx.Response, code: int, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["jsonrpc"] == "2.0" and "result" not in body
    assert body["error"]["code"] == code, body
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", [{}, V1], ids=["v0.3", "v1.0"])
async def test_rest_malformed_json(http: httpx.AsyncClient, version: dict[str, str]) -> None:
    response = await http.post(SEND, content=b"{not json", headers={
        **DEMO, **version, "Content-Type": "application/json"})
    assert "JSON" in rest_error(response, 400)["message"]
    assert await task_count(http) == 0


@pytest.mark.parametrize("version", [{}, V1], ids=["v0.3", "v1.0"])
async def test_rest_wrong_content_type(http: httpx.AsyncClient, version: dict[str, str]) -> None:
    response = await http.post(SEND, content=b"hello", headers={
        **DEMO, **version, "Content-Type": "text/plain"})
    assert "Content-Type" in rest_error(response, 415)["message"]


@pytest.mark.parametrize("version", [{}, V1], ids=["v0.3", "v1.0"])
async def test_rest_missing_message(http: httpx.AsyncClient, version: dict[str, str]) -> None:
    response = await http.post(SEND, json={"configuration": {}}, headers={**DEMO, **version})
    assert "message" in str(rest_error(response, 400))
    assert await task_count(http) == 0


async def test_rest_message_with_wrong_types(http: httpx.AsyncClient) -> None:
    body = {"message": {"kind": "message", "role": "robot", "messageId": "m", "parts": "no"}}
    response = await http.post(SEND, json=body, headers=DEMO)
    assert "invalid message:send body" in rest_error(response, 400)["message"]


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "9999999999999"])
@pytest.mark.parametrize("version", [{}, V1], ids=["v0.3", "v1.0"])
async def test_history_length_must_be_a_non_negative_integer(
    http: httpx.AsyncClient, value: str, version: dict[str, str]
) -> None:
    task = (await http.post(SEND, json=user_message_v03("x"), headers=DEMO)).json()["task"]
    response = await http.get(f"/agents/echo/v1/tasks/{task['id']}",
                              params={"historyLength": value}, headers={**DEMO, **version})
    assert "historyLength" in rest_error(response, 400)["message"]


@pytest.mark.parametrize("value", [-1, "abc"])
async def test_jsonrpc_bad_history_length_is_invalid_params(http: httpx.AsyncClient, value: object) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x", "historyLength": value}}
    rpc_error(await http.post(RPC, json=body, headers={**DEMO, **V1}), -32602)


async def test_jsonrpc_malformed_json_is_parse_error(http: httpx.AsyncClient) -> None:
    response = await http.post(RPC, content=b"{oops", headers={**DEMO, "Content-Type": "application/json"})
    rpc_error(response, -32700)


async def test_jsonrpc_unknown_method_and_bad_envelope(http: httpx.AsyncClient) -> None:
    unknown = {"jsonrpc": "2.0", "id": 1, "method": "NoSuchMethod", "params": {}}
    rpc_error(await http.post(RPC, json=unknown, headers={**DEMO, **V1}), -32601)
    wrong_version = {"jsonrpc": "1.0", "id": 1, "method": "GetTask", "params": {}}
    rpc_error(await http.post(RPC, json=wrong_version, headers={**DEMO, **V1}), -32600)


async def test_jsonrpc_missing_message_is_invalid_params(http: httpx.AsyncClient) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {}}
    rpc_error(await http.post(RPC, json=body, headers={**DEMO, **V1}), -32602)
    assert await task_count(http) == 0


async def test_jsonrpc_wrong_content_type(http: httpx.AsyncClient) -> None:
    headers = {**DEMO, "Content-Type": "text/plain"}
    response = await http.post(RPC, content=b'{"jsonrpc":"2.0"}', headers=headers)
    rpc_error(response, -32005, status=415)  # ContentTypeNotSupportedError


async def test_oversize_body_is_413_in_each_binding(http: httpx.AsyncClient) -> None:
    big = b'{"message": "' + b"a" * 1_100_000 + b'"}'
    headers = {**DEMO, "Content-Type": "application/json"}
    assert "exceeds" in rest_error(await http.post(SEND, content=big, headers=headers), 413)["message"]
    rpc_error(await http.post(RPC, content=big, headers=headers), -32600, status=413)
    assert await task_count(http) == 0


@pytest.mark.parametrize("version", [{}, V1], ids=["v0.3", "v1.0"])
async def test_unknown_things_are_404(http: httpx.AsyncClient, version: dict[str, str]) -> None:
    headers = {**DEMO, **version}
    rest_error(await http.get("/agents/echo/v1/tasks/nope", headers=headers), 404)
    rest_error(await http.post("/agents/echo/v1/tasks/nope:cancel", headers=headers), 404)
    rest_error(await http.get("/agents/echo/v1/contexts/nope", headers=headers), 404)
    rest_error(await http.delete("/agents/echo/v1/contexts/nope", headers=headers), 404)
    rest_error(await http.get("/agents/ghost/v1/tasks/nope", headers=headers), 404)
    rest_error(await http.get("/agents/echo/v1/nothing/here/at/all", headers=headers), 404)


async def test_jsonrpc_unknown_task_is_task_not_found(http: httpx.AsyncClient) -> None:
    body = {"jsonrpc": "2.0", "id": "a", "method": "GetTask", "params": {"id": "nope"}}
    error = rpc_error(await http.post(RPC, json=body, headers={**DEMO, **V1}), -32001)
    assert error["message"]


async def test_unsupported_version_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.get("/agents/echo/v1/tasks/x", headers={**DEMO, "A2A-Version": "9.1"})
    assert "not supported" in rest_error(response, 400)["message"]


async def test_wrong_method_is_json_405(http: httpx.AsyncClient) -> None:
    rest_error(await http.put(SEND, json={}, headers=DEMO), 405)


GARBAGE: list[bytes] = [b"", b"null", b"[]", b"123", b'"s"', b"{}", b'{"message": null}',
                        b'{"message": {"parts": [{"kind": "file"}]}}', b"\xff\xfe", b'{"a":' * 50]


@pytest.mark.parametrize("body", GARBAGE)
@pytest.mark.parametrize(
    "path",
    [SEND, "/agents/echo/v1/message:stream", RPC, "/agents/echo/v1/tasks/x:cancel",
     "/agents/echo/v1/tasks/x/pushNotificationConfigs"],
)
@pytest.mark.parametrize("version", [{}, V1], ids=["v0.3", "v1.0"])
async def test_garbage_never_yields_a_500(
    http: httpx.AsyncClient, body: bytes, path: str, version: dict[str, str]
) -> None:
    response = await http.post(path, content=body, headers={
        **DEMO, **version, "Content-Type": "application/json"})
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    payload = response.json()
    assert "error" in payload, payload


@pytest.mark.parametrize(
    "query", ["status=BOGUS", "includeArtifacts=maybe", "pageSize=abc", "pageSize=0",
              "pageToken=zzz", "historyLength=-1", "statusTimestampAfter=yesterday"],
)
@pytest.mark.parametrize("version", [{}, V1], ids=["v0.3", "v1.0"])
async def test_list_tasks_refuses_bad_filters(http: httpx.AsyncClient, query: str,
                                              version: dict[str, str]) -> None:
    response = await http.get(f"/agents/echo/v1/tasks?{query}", headers={**DEMO, **version})
    rest_error(response, 400)


async def test_list_tasks_accepts_a_valid_status_filter(http: httpx.AsyncClient) -> None:
    await http.post(SEND, json=user_message_v03("x"), headers=DEMO)
    done = await http.get("/agents/echo/v1/tasks?status=TASK_STATE_COMPLETED", headers={**DEMO, **V1})
    working = await http.get("/agents/echo/v1/tasks?status=TASK_STATE_WORKING", headers={**DEMO, **V1})
    assert len(done.json()["tasks"]) == 1 and working.json()["tasks"] == []
