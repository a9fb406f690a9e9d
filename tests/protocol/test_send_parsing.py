"""A 1.0 send body is parsed as ParseDict parses it, the inline push config's shortcut included."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from a2a.types.a2a_pb2 import SendMessageRequest
from google.protobuf.json_format import ParseDict

from a2a_server.protocol.streaming import send_request_v1

_MESSAGE = {"role": "ROLE_USER", "parts": [{"text": "x"}], "messageId": "m"}
_CONFIGS: list[Any] = [
    None, {}, {"url": "http://a/b"}, {"url": "http://a/b", "id": "h", "token": "t"},
    {"url": "http://é.example/b"}, {"url": 5}, {"url": None}, {"url": "x", "taskId": "t"},
    {"url": "x", "authentication": {"scheme": "Bearer", "credentials": "c"}}, [], "x",
]
_OTHERS: list[dict[str, Any]] = [
    {}, {"historyLength": 3}, {"returnImmediately": True},
    {"task_push_notification_config": {"url": "y"}},
]


def _reference(raw: bytes) -> SendMessageRequest:
    params = SendMessageRequest()
    ParseDict(orjson.loads(raw), params, ignore_unknown_fields=True)
    return params


@pytest.mark.parametrize(("config", "others"), list(itertools.product(_CONFIGS, _OTHERS)))
def test_a_send_with_an_inline_push_config_parses_as_parsedict_does(
        config: Any, others: dict[str, Any]) -> None:
    configuration = dict(others)
    if config is not None:
        configuration["taskPushNotificationConfig"] = config
    raw = orjson.dumps({"message": _MESSAGE, "configuration": configuration})
    try:
        expected = _reference(raw)
    except Exception:  # noqa: BLE001 - a body ParseDict refuses is refused either way
        with pytest.raises(Exception):  # noqa: B017
            send_request_v1(raw)
        return
    got = send_request_v1(raw)
    assert got == expected
    assert got.configuration.HasField("task_push_notification_config") == (
        expected.configuration.HasField("task_push_notification_config"))
