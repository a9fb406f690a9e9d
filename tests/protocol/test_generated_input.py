"""Generated A2A requests, valid and malformed, on every binding (REST and JSON-RPC, 0.3 and 1.0).

For each: no 5xx, an error in the binding's own format, and afterwards the
tenant's task list, the task and its context (both versions) still answer 200.
The number of examples comes from the hypothesis profile (tests/conftest.py):
``ci`` by default, ``HYPOTHESIS_PROFILE=long`` for a long run (docs/hardening.md).
"""

from __future__ import annotations

import string
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import DEMO, V1, LiveServer
from tests.protocol.bindings import (
    AGENT,
    BINDINGS,
    check_answer,
    check_reads_sync,
    check_task_reads,
    encode,
    send_args,
    sent_task,
)

SCALARS = (st.none() | st.booleans() | st.integers(-(2**63), 2**64)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
KEYS = st.text(string.ascii_letters + "_-. ", max_size=8)


def json_depth(depth: int) -> st.SearchStrategy[Any]:
    """JSON values nested at most ``depth`` levels (st.recursive bounds size, not depth)."""
    if depth == 0:
        return SCALARS
    kids = json_depth(depth - 1)
    return SCALARS | st.lists(kids, max_size=3) | st.dictionaries(KEYS, kids, max_size=3)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@st.composite
def mostly(draw: st.DrawFn, usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any],
           one_in: int = 5) -> Any:
    """``usual``, and ``odd`` once in ``one_in`` draws (``a | b`` flattens unions: a union of
    many scalar kinds would otherwise outweigh the one well-formed branch)."""
    return draw(odd) if draw(st.integers(1, one_in)) == 1 else draw(usual)


JSON = mostly(json_depth(3), st.integers(15, 60).map(nested))
OBJECTS = mostly(st.dictionaries(KEYS, JSON, max_size=3), st.integers(15, 60).map(nested))


def parts(v1: bool) -> st.SearchStrategy[Any]:
    kind = (lambda k: {}) if v1 else (lambda k: {"kind": k})
    text = st.builds(lambda t: {**kind("text"), "text": t},
                     mostly(st.text(min_size=1, max_size=8), st.just("")))
    data = st.builds(lambda d: {**kind("data"), "data": d}, JSON)
    b64 = st.sampled_from(["aGk=", "!!!", "aGk", "", "====", "\u00e9t\u00e9"])
    if v1:
        file = st.builds(lambda b: {"raw": b, "mediaType": "text/plain"}, b64) | st.builds(
            lambda u: {"url": u}, st.text(max_size=12))
    else:
        file = st.builds(lambda b: {"kind": "file", "file": {"bytes": b, "mimeType": "a/b"}}, b64)
    junk = st.dictionaries(KEYS, SCALARS, max_size=2) | st.just({}) | SCALARS
    return mostly(st.one_of(text, data, file), junk)


def messages(v1: bool) -> st.SearchStrategy[Any]:
    roles = st.sampled_from(["ROLE_USER", "ROLE_USER", "ROLE_AGENT", "ROLE_UNSPECIFIED", "user", 1, 7]
                            if v1 else ["user", "user", "agent", "ROLE_USER", 3])
    fields = st.fixed_dictionaries(
        {"role": mostly(roles, SCALARS), "messageId": st.text(string.hexdigits, min_size=1, max_size=8),
         "parts": mostly(st.lists(parts(v1), min_size=1, max_size=3), st.just([]))},
        optional={"metadata": mostly(OBJECTS, SCALARS), "contextId": st.text(max_size=6),
                  "extensions": st.lists(st.text(max_size=4), max_size=2)},
    )
    if not v1:
        fields = fields.map(lambda m: {"kind": "message", **m})
    return mostly(fields, JSON)


def send_params(v1: bool) -> st.SearchStrategy[Any]:
    configuration = st.fixed_dictionaries({}, optional={
        "historyLength": mostly(st.integers(-(2**40), 2**40), SCALARS),
        "blocking": mostly(st.booleans(), SCALARS),
        "acceptedOutputModes": st.lists(st.text(max_size=6), max_size=2),
    })
    return mostly(st.fixed_dictionaries({"message": messages(v1)},
                                        optional={"configuration": mostly(configuration, SCALARS),
                                                  "metadata": mostly(OBJECTS, SCALARS)}), JSON)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, Any]:
    binding = draw(st.sampled_from(BINDINGS))
    return binding, draw(send_params(binding.endswith("1.0")))


RPC_METHODS = ["SendMessage", "GetTask", "ListTasks", "CancelTask", "SubscribeToTask",
               "CreateTaskPushNotificationConfig", "GetExtendedAgentCard", "message/send",
               "tasks/get", "tasks/cancel", "tasks/pushNotificationConfig/set", "nope"]


@pytest.fixture
def live(backend: str, live_server_factory: Any) -> LiveServer:
    return live_server_factory(backend)  # type: ignore[no-any-return]


@pytest.mark.timeout(600)  # a failure is shrunk against the live server
def test_generated_sends_never_poison_a_read(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as http:

        @settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(requests())
        def one(request: tuple[str, Any]) -> None:
            binding, params = request
            response = http.post(**send_args(binding, params))
            if check_answer(response, binding) and (task := sent_task(response, binding)):
                check_task_reads(http, task["id"], task["contextId"])

        one()
        assert check_reads_sync(http) > 0  # the generator makes valid sends too


@pytest.mark.timeout(600)
def test_generated_jsonrpc_requests_get_jsonrpc_answers(live: LiveServer) -> None:
    envelope = st.fixed_dictionaries(
        {"jsonrpc": st.sampled_from(["2.0", "2.0", "1.0"]) | SCALARS,
         "method": st.sampled_from(RPC_METHODS) | SCALARS},
        optional={"id": st.integers(-5, 5) | st.text(max_size=4) | SCALARS,
                  "params": st.dictionaries(st.sampled_from(["id", "historyLength", "message",
                                                             "tenant", "pageSize", "status"]),
                                            JSON, max_size=3) | JSON},
    )

    with httpx.Client(base_url=live.url, timeout=30) as http:

        @settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(envelope, st.booleans())
        def one(body: dict[str, Any], v1: bool) -> None:
            headers = {**DEMO, **(V1 if v1 else {}), "Content-Type": "application/json"}
            response = http.post(AGENT, content=encode(body), headers=headers)
            assert response.status_code < 500, response.text
            answer = response.json()
            assert answer["jsonrpc"] == "2.0"
            if "error" in answer:
                assert answer["error"]["code"] != -32603, answer

        one()
        check_reads_sync(http)


@pytest.mark.timeout(600)
def test_generated_query_parameters_never_5xx(live: LiveServer) -> None:
    values = st.text(max_size=6) | st.integers(-(2**40), 2**40).map(str) | st.sampled_from(
        ["+1", "1e3", "\u0661", " 1", "0x10", "1.0", "-0", "", "NaN"])
    names = st.sampled_from(["historyLength", "pageSize", "status", "includeArtifacts", "limit",
                             "offset", "pageToken", "tenant", "contextId"])
    with httpx.Client(base_url=live.url, timeout=30) as http:
        created = http.post(f"{AGENT}/message:send", headers=DEMO, json={"message": {
            "kind": "message", "role": "user", "messageId": "q1", "parts": [{"kind": "text", "text": "x"}]}})
        task = created.json()["task"]
        paths = [f"{AGENT}/tasks", f"{AGENT}/tasks/{task['id']}", f"{AGENT}/contexts/{task['contextId']}"]

        @settings(suppress_health_check=[HealthCheck.too_slow])
        @given(st.sampled_from(paths), st.dictionaries(names, values, max_size=3), st.booleans())
        def one(path: str, query: dict[str, str], v1: bool) -> None:
            response = http.get(path, params=query, headers={**DEMO, **(V1 if v1 else {})})
            assert response.status_code < 500, response.text
            if response.status_code >= 400:
                error = response.json()["error"]
                assert error["code"] == response.status_code and error["message"]

        one()
