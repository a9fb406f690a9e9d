"""Integral numbers in metadata and data parts come back as integers from every route.

``Struct`` holds only doubles, and protobuf's printer (which the SDK's handlers use)
prints every number it holds as a float: a client's ``{"count": 42}`` came back as
``42.0``. Every answer that carries a task, a message or a stream event is checked here,
on every binding and version, for a float that is integral.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import DEMO, V1, user_message_v03, user_message_v1

ECHO = "/agents/echo/v1"
META = {"count": 42, "nested": {"ids": [1, 2]}}


def integral_floats(value: Any, path: str = "$") -> list[str]:
    """The paths of every float with an integral value in a decoded JSON document."""
    if isinstance(value, float):
        return [path] if value.is_integer() else []
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in integral_floats(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in integral_floats(item, f"{path}[{i}]")]
    return []


def _message(v1: bool, text: str) -> dict[str, Any]:
    body = user_message_v1(text, metadata=META) if v1 else user_message_v03(text, metadata=META)
    body["message"]["parts"].append({"data": {"n": 7}} if v1 else {"kind": "data", "data": {"n": 7}})
    return body


def _headers(v1: bool) -> dict[str, str]:
    return {**DEMO, **V1} if v1 else dict(DEMO)


async def _sse(http: httpx.AsyncClient, url: str, body: dict[str, Any] | None,
               headers: dict[str, str]) -> list[Any]:
    method = "POST" if body is not None else "GET"
    async with http.stream(method, url, json=body,
                           headers={**headers, "Accept": "text/event-stream"}) as stream:
        assert stream.status_code == 200
        return [orjson.loads(line[5:]) async for line in stream.aiter_lines()
                if line.startswith("data:")]


def _background(v1: bool) -> dict[str, bool]:
    """A send's configuration that answers at once, the task still working."""
    return {"returnImmediately": True} if v1 else {"blocking": False}


def _rpc(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


@pytest.mark.parametrize("v1", [False, True], ids=["0.3", "1.0"])
async def test_rest_answers(http: httpx.AsyncClient, v1: bool) -> None:
    headers = _headers(v1)
    sent = await http.post(f"{ECHO}/message:send", json=_message(v1, "hi"), headers=headers)
    task_id = sent.json()["task"]["id"]
    slow = await http.post(f"{ECHO}/message:send", headers=headers,
                           json={**_message(v1, "slow"), "configuration": _background(v1)})
    slow_id = slow.json()["task"]["id"]
    answers = {
        "send": sent.json(),
        "get": (await http.get(f"{ECHO}/tasks/{task_id}", headers=headers)).json(),
        "list": (await http.get(f"{ECHO}/tasks", headers=headers)).json(),
        "stream": await _sse(http, f"{ECHO}/message:stream", _message(v1, "hi"), headers),
        "cancel": (await http.post(f"{ECHO}/tasks/{slow_id}:cancel", headers=headers)).json(),
    }
    for route, answer in answers.items():
        assert "7" in orjson.dumps(answer).decode() or route == "list", (route, answer)
        assert integral_floats(answer) == [], (route, answer)


@pytest.mark.parametrize("v1", [False, True], ids=["0.3", "1.0"])
async def test_jsonrpc_answers(http: httpx.AsyncClient, v1: bool) -> None:
    headers = _headers(v1)
    names = ({"send": "SendMessage", "get": "GetTask", "list": "ListTasks", "cancel": "CancelTask",
              "stream": "SendStreamingMessage"} if v1 else
             {"send": "message/send", "get": "tasks/get", "cancel": "tasks/cancel",
              "stream": "message/stream"})
    sent = (await http.post(ECHO, json=_rpc(names["send"], _message(v1, "hi")),
                            headers=headers)).json()
    task = sent["result"]["task"] if v1 else sent["result"]
    slow_params = {**_message(v1, "slow"), "configuration": _background(v1)}
    slow = (await http.post(ECHO, json=_rpc(names["send"], slow_params), headers=headers)).json()
    slow_id = (slow["result"]["task"] if v1 else slow["result"])["id"]
    answers = {
        "send": sent,
        "get": (await http.post(ECHO, json=_rpc(names["get"], {"id": task["id"]}),
                                headers=headers)).json(),
        "cancel": (await http.post(ECHO, json=_rpc(names["cancel"], {"id": slow_id}),
                                   headers=headers)).json(),
        "stream": await _sse(http, ECHO, _rpc(names["stream"], _message(v1, "hi")), headers),
    }
    if v1:
        answers["list"] = (await http.post(ECHO, json=_rpc(names["list"], {}),
                                           headers=headers)).json()
    for route, answer in answers.items():
        assert "error" not in orjson.dumps(answer).decode()[:200], (route, answer)
        assert integral_floats(answer) == [], (route, answer)
