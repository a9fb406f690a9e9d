"""Input a reader could not hold back is refused at the edge, on every binding, and stores nothing.

Each class from issue 10: non-finite numbers, integers beyond the protobuf field,
JSON nested beyond what a stored task can be decoded with, parts the 0.3 or 1.0
renderer cannot render, a message not from the user; and on JSON-RPC: a body
nested beyond the parser's limits, a number too long, a method of the other
version. Afterwards every read of the tenant still answers 200.
"""

from __future__ import annotations

import math
import os
from typing import Any

import httpx
import pytest

from a2a_server.protocol.validation import MAX_JSON_DEPTH
from tests.conftest import DEMO, V1
from tests.protocol.bindings import AGENT, check_answer, check_reads, send


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def message(v1: bool, *, parts: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    if v1:
        body = {"role": "ROLE_USER", "messageId": os.urandom(6).hex(),
                "parts": [{"text": "hi"}] if parts is None else parts}
    else:
        body = {"kind": "message", "role": "user", "messageId": os.urandom(6).hex(),
                "parts": [{"kind": "text", "text": "hi"}] if parts is None else parts}
    return {**body, **extra}


def data(v1: bool, value: Any) -> dict[str, Any]:
    return {"data": value} if v1 else {"kind": "data", "data": value}


def text(v1: bool, value: str) -> dict[str, Any]:
    return {"text": value} if v1 else {"kind": "text", "text": value}


# name -> params builder (v1) for the classes both versions share
CASES: dict[str, Any] = {
    "nan-in-metadata": lambda v1: {"message": message(v1, metadata={"x": math.nan})},
    "infinity-in-data": lambda v1: {"message": message(v1, parts=[data(v1, {"x": math.inf})])},
    "history-length-2^31": lambda v1: {"message": message(v1),
                                       "configuration": {"historyLength": 2**31}},
    "metadata-too-deep": lambda v1: {"message": message(v1, metadata=nested(MAX_JSON_DEPTH + 1))},
    "data-too-deep": lambda v1: {"message": message(v1, parts=[data(v1, nested(MAX_JSON_DEPTH + 1))])},
    "data-beyond-protobuf": lambda v1: {"message": message(v1, parts=[data(v1, nested(45))])},
    "request-metadata-too-deep": lambda v1: {"message": message(v1),
                                             "metadata": nested(MAX_JSON_DEPTH + 1)},
    "empty-text": lambda v1: {"message": message(v1, parts=[text(v1, "")])},
    "empty-part": lambda v1: {"message": message(v1, parts=[{}])},
    "unknown-part-kind": lambda v1: {"message": message(v1, parts=[{"kind": "video", "video": "x"}])},
    "role-agent": lambda v1: {"message": message(v1, role="ROLE_AGENT" if v1 else "agent")},
    "role-number": lambda v1: {"message": message(v1, role=5)},
    "role-list": lambda v1: {"message": message(v1, role=["user"])},
    "no-parts": lambda v1: {"message": message(v1, parts=[])},
    "bad-base64": lambda v1: {"message": message(v1, parts=[
        {"raw": "!!!"} if v1 else {"kind": "file", "file": {"bytes": "!!!", "mimeType": "a/b"}}])},
}
BINDINGS = ("rest-0.3", "rest-1.0", "jsonrpc-0.3", "jsonrpc-1.0")


@pytest.mark.parametrize("binding", BINDINGS)
@pytest.mark.parametrize("case", sorted(CASES))
async def test_refused_in_the_bindings_format_and_nothing_poisoned(
    http: httpx.AsyncClient, binding: str, case: str
) -> None:
    params = CASES[case](binding.endswith("1.0"))
    response = await send(http, binding, params)
    accepted = check_answer(response, binding)
    # Base64 that protobuf's ProtoJSON parser decodes leniently is the one case 1.0 may keep.
    assert not accepted or case == "bad-base64", response.text
    assert await check_reads(http) == (1 if accepted else 0)


async def test_depth_at_the_limit_is_stored_and_read_back(http: httpx.AsyncClient) -> None:
    for binding in BINDINGS:
        params = CASES["data-too-deep"](binding.endswith("1.0"))
        params["message"]["parts"] = [data(binding.endswith("1.0"), nested(MAX_JSON_DEPTH))]
        assert check_answer(await send(http, binding, params), binding), binding
    assert await check_reads(http) == len(BINDINGS)


def _rpc(body: bytes, v1: bool = True) -> dict[str, Any]:
    return {"content": body, "headers": {**DEMO, **(V1 if v1 else {}),
                                         "Content-Type": "application/json"}}


@pytest.mark.parametrize(("body", "code"), [
    (b'{"a":' * 3000 + b"1" + b"}" * 3000, -32700),  # beyond orjson's limit
    (b'{"jsonrpc":"2.0","id":1,"method":"GetTask","params":' + b"[" * 990 + b"]" * 990 + b"}",
     -32600),  # beyond json.loads' recursion limit, inside orjson's
    (b'{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x","historyLength":'
     + b"9" * 5000 + b"}}", -32700),
    (b'{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x","historyLength":NaN}}', -32700),
])
async def test_jsonrpc_bodies_beyond_the_parser(http: httpx.AsyncClient, body: bytes, code: int) -> None:
    response = await http.post(AGENT, **_rpc(body))
    assert response.status_code == 200, response.text
    assert response.json()["error"]["code"] == code, response.text


@pytest.mark.parametrize(("method", "v1"), [("message/send", True), ("SendMessage", False)])
async def test_a_method_of_the_other_version_is_a_version_error(
    http: httpx.AsyncClient, method: str, v1: bool
) -> None:
    params = {"message": message(not v1)}
    body = {"jsonrpc": "2.0", "id": 3, "method": method, "params": params}
    response = await http.post(AGENT, json=body, headers={**DEMO, **(V1 if v1 else {})})
    error = response.json()["error"]
    assert error["code"] != -32603 and "version" in error["message"].lower(), error
    assert await check_reads(http) == 0
