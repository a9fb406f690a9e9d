"""The planned required-field check gives exactly the SDK's answer."""

from __future__ import annotations

import pytest
from a2a.types.a2a_pb2 import (
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    TaskPushNotificationConfig,
)
from a2a.utils.errors import InvalidParamsError
from a2a.utils.proto_utils import _validate_proto_required_fields_internal
from google.protobuf.struct_pb2 import Struct

from a2a_server.protocol.validation import required_field_errors, validate_required


def _requests() -> list[SendMessageRequest]:
    full = Message(message_id="m", role=Role.ROLE_USER, parts=[Part(text="hi")],
                   context_id="c", task_id="t", reference_task_ids=["r"])
    metadata = Struct()
    metadata.update({"a": {"b": [1, "x", {"c": None}]}, "d": True})
    full.metadata.CopyFrom(metadata)
    return [
        SendMessageRequest(message=full),
        SendMessageRequest(),  # no message at all
        SendMessageRequest(message=Message()),  # nothing set inside
        SendMessageRequest(message=Message(message_id="m", role=Role.ROLE_USER)),  # no parts
        SendMessageRequest(message=Message(role=Role.ROLE_USER, parts=[Part()])),
        SendMessageRequest(message=full, metadata=metadata,
                           configuration=SendMessageConfiguration(
                               history_length=3,
                               task_push_notification_config=TaskPushNotificationConfig())),
        SendMessageRequest(message=full, configuration=SendMessageConfiguration(
            task_push_notification_config=TaskPushNotificationConfig(url="https://x/y"))),
    ]


@pytest.mark.parametrize("request_", _requests())
def test_the_same_errors_as_the_sdk(request_: SendMessageRequest) -> None:
    assert required_field_errors(request_) == _validate_proto_required_fields_internal(request_)


def test_a_missing_field_is_invalid_params_naming_it() -> None:
    with pytest.raises(InvalidParamsError) as caught:
        validate_required(SendMessageRequest(message=Message(role=Role.ROLE_USER)))
    fields = {e["field"] for e in caught.value.data["errors"]}
    assert "message.message_id" in fields and "message.parts" in fields
    validate_required(_requests()[0])  # a complete request passes
