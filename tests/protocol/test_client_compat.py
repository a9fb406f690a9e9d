"""What widely installed clients trip on: null JSON-RPC ids, skill modes, 0.3 REST paths, 42.0."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import DEMO, V1, user_message_v03, user_message_v1

ECHO = "/agents/echo/v1"


async def _task_id(http: httpx.AsyncClient) -> str:
    sent = await http.post(f"{ECHO}/message:send", json=user_message_v03("hello"), headers=DEMO)
    assert sent.status_code == 200, sent.text
    return str(sent.json()["task"]["id"])


@pytest.mark.parametrize("method", ["tasks/get", "GetTask"])
async def test_a_null_jsonrpc_id_is_accepted_on_both_paths(http: httpx.AsyncClient,
                                                           method: str) -> None:
    task_id = await _task_id(http)
    headers = {**DEMO, **V1} if method == "GetTask" else DEMO
    body = {"jsonrpc": "2.0", "id": None, "method": method, "params": {"id": task_id}}
    answer = await http.post(ECHO, json=body, headers=headers)
    assert answer.status_code == 200
    reply = answer.json()
    assert "error" not in reply, reply
    assert reply["id"] is None
    assert reply["result"]["id"] == task_id


async def test_a_null_id_on_a_03_send_streams_and_answers(http: httpx.AsyncClient) -> None:
    body = {"jsonrpc": "2.0", "id": None, "method": "message/send",
            "params": user_message_v03("hi")}
    reply = (await http.post(ECHO, json=body, headers=DEMO)).json()
    assert reply["id"] is None and reply["result"]["kind"] == "task", reply


@pytest.mark.parametrize("headers", [{}, V1])
async def test_skills_without_modes_carry_the_agents_defaults(http: httpx.AsyncClient,
                                                              headers: dict[str, str]) -> None:
    card = (await http.get(f"{ECHO}/.well-known/agent-card.json",
                           headers={**DEMO, **headers})).json()
    assert card["skills"]
    for skill in card["skills"]:
        assert skill["inputModes"] == card["defaultInputModes"] == ["text/plain"]
        assert skill["outputModes"] == card["defaultOutputModes"] == ["text/plain"]


async def test_the_03_rest_path_form_gets_an_error_that_says_so(http: httpx.AsyncClient) -> None:
    answer = await http.post(f"{ECHO}/v1/message:send", json=user_message_v03("hi"), headers=DEMO)
    assert answer.status_code == 404
    message = answer.json()["error"]["message"]
    assert "0.3 HTTP+JSON" in message and "tenant" not in message
    # Another tenant named in that position is still the tenant mismatch it is.
    other = await http.post(f"{ECHO}/acme/message:send", json=user_message_v03("hi"), headers=DEMO)
    assert other.status_code == 403


def _meta() -> dict[str, Any]:
    return {"count": 42, "ratio": 0.5, "nested": {"ids": [1, 2, 3.25]}, "big": 2**60}


def _assert_integral(metadata: dict[str, Any], data: dict[str, Any]) -> None:
    """42 stays 42 (an int in JSON); 0.5 stays 0.5; 2**60 (not exact as a double) a float."""
    assert type(metadata["count"]) is int and metadata["count"] == 42
    assert [type(i) for i in metadata["nested"]["ids"]] == [int, int, float]
    assert metadata["ratio"] == 0.5 and type(metadata["big"]) is float
    assert type(data["n"]) is int and data["x"] == 1.5


@pytest.mark.parametrize("v1", [False, True])
async def test_integral_numbers_stay_integers(http: httpx.AsyncClient, v1: bool) -> None:
    body = user_message_v1("hi", metadata=_meta()) if v1 else user_message_v03(
        "hi", metadata=_meta())
    body["message"]["parts"].append({"data": {"n": 7, "x": 1.5}} if v1 else
                                    {"kind": "data", "data": {"n": 7, "x": 1.5}})
    headers = {**DEMO, **V1} if v1 else DEMO
    sent = await http.post(f"{ECHO}/message:send", json=body, headers=headers)
    assert sent.status_code == 200, sent.text
    task_id = sent.json()["task"]["id"]
    got = await http.get(f"{ECHO}/tasks/{task_id}", headers=headers)
    for answer in (sent.json()["task"], got.json()):
        user = answer["history"][0]
        _assert_integral(user["metadata"], user["parts"][1]["data"])


async def test_integral_numbers_in_a_03_stream(http: httpx.AsyncClient) -> None:
    body = user_message_v03("hi", metadata={"count": 42})
    async with http.stream("POST", f"{ECHO}/message:stream", json=body,
                           headers={**DEMO, "Accept": "text/event-stream"}) as stream:
        lines = [line async for line in stream.aiter_lines() if line.startswith("data:")]
    first = orjson.loads(lines[0][5:])
    assert first["kind"] == "task"
    assert type(first["history"][0]["metadata"]["count"]) is int


async def test_a_null_id_on_a_03_stream_is_echoed(http: httpx.AsyncClient) -> None:
    body = {"jsonrpc": "2.0", "id": None, "method": "message/stream",
            "params": user_message_v03("hi")}
    async with http.stream("POST", ECHO, json=body,
                           headers={**DEMO, "Accept": "text/event-stream"}) as stream:
        lines = [line async for line in stream.aiter_lines() if line.startswith("data:")]
    events = [orjson.loads(line[5:]) for line in lines]
    assert events and all(e["id"] is None and "result" in e for e in events), events
