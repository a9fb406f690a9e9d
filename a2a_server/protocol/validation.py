"""Required-field checks of A2A requests: the SDK's rules, planned once per message type.

``a2a.utils.proto_utils.validate_proto_required_fields`` reads every field's
options (``GetOptions().Extensions[field_behavior]``) on every call: 60 us for a
one-message send, a tenth of the whole request. ``validate_required`` applies
the same rules, in the same order, with the same error details, from a plan
computed once per message type: which fields are REQUIRED, and which hold
messages to descend into.

The same walk refuses JSON values (``google.protobuf.Struct`` / ``Value``: metadata,
data parts) that would be stored and then fail every later read: numbers that are
not finite (JSON has no NaN; the ProtoJSON printer refuses them) and nesting deeper
than ``MAX_JSON_DEPTH`` (the protobuf decoder stops at 100 message levels, and one
JSON level is three of them, so a task holding a message of depth 32 cannot be read
back). ``validate_send`` adds the SDK's own rules for a user message, which it
otherwise raises as a ValueError deep in an agent (a 500).
"""

from __future__ import annotations

import functools
import math
from typing import Any

from a2a.types.a2a_pb2 import Role, SendMessageRequest
from a2a.utils.errors import InvalidParamsError
from a2a.utils.proto_utils import ValidationDetail
from google.api.field_behavior_pb2 import FieldBehavior, field_behavior
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message as ProtoMessage

_SCALAR, _MESSAGE, _MESSAGES, _MAP, _JSON = range(5)
_JSON_TYPES = frozenset({"google.protobuf.Struct", "google.protobuf.Value",
                         "google.protobuf.ListValue"})
MAX_JSON_DEPTH = 20
"""Deepest nesting of objects/arrays accepted in a JSON value (metadata, a data part)."""


@functools.cache
def _plan(descriptor: Descriptor) -> tuple[tuple[FieldDescriptor, bool, int], ...]:
    """(field, required, kind) for every field that needs a check or a descent."""
    plan = []
    for field in descriptor.fields:
        required = FieldBehavior.REQUIRED in field.GetOptions().Extensions[field_behavior]
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            kind = _SCALAR
        elif field.message_type.full_name in _JSON_TYPES and not field.is_repeated:
            kind = _JSON
        elif not field.is_repeated:
            kind = _MESSAGE
        elif field.message_type.GetOptions().map_entry:
            kind = _MAP
        else:
            kind = _MESSAGES
        if required or kind != _SCALAR:
            plan.append((field, required, kind))
    return tuple(plan)


def _violation(msg: ProtoMessage, field: FieldDescriptor) -> ValidationDetail | None:
    value = getattr(msg, field.name)
    if field.is_repeated:
        if not value:
            return ValidationDetail(field=field.name,
                                    message="Field must contain at least one element.")
    elif field.has_presence:
        if not msg.HasField(field.name):
            return ValidationDetail(field=field.name, message="Field is required.")
    elif value == field.default_value:
        return ValidationDetail(field=field.name, message="Field is required.")
    return None


def _nested(errors: list[ValidationDetail], prefix: str, sub: list[ValidationDetail]) -> None:
    for detail in sub:
        name = detail["field"]
        errors.append(ValidationDetail(field=f"{prefix}.{name}" if name else prefix,
                                       message=detail["message"]))


def _json_problem(value: Any, depth: int) -> tuple[str, str] | None:
    """(path below ``value``, what is wrong) for the first value no reader could hold."""
    if depth > MAX_JSON_DEPTH:
        return "", f"nested deeper than {MAX_JSON_DEPTH} levels"
    name = value.DESCRIPTOR.name
    if name == "Struct":
        fields = value.fields
        for key in fields:
            if (problem := _json_problem(fields[key], depth + 1)) is not None:
                return f".{key}{problem[0]}", problem[1]
        return None
    if name == "ListValue":
        for i, item in enumerate(value.values):
            if (problem := _json_problem(item, depth + 1)) is not None:
                return f"[{i}]{problem[0]}", problem[1]
        return None
    kind = value.WhichOneof("kind")
    if kind == "number_value" and not math.isfinite(value.number_value):
        return "", "is not a finite number (NaN and Infinity are not JSON)"
    if kind == "struct_value":
        return _json_problem(value.struct_value, depth)
    if kind == "list_value":
        return _json_problem(value.list_value, depth)
    return None


def required_field_errors(msg: ProtoMessage) -> list[ValidationDetail]:
    """Every REQUIRED field of ``msg`` (and of the messages it holds) that is missing.

    Also every JSON value (Struct, Value) that is not finite or nested too deep.
    """
    errors: list[ValidationDetail] = []
    for field, required, kind in _plan(msg.DESCRIPTOR):
        if required and (violation := _violation(msg, field)) is not None:
            errors.append(violation)
        if kind == _JSON:
            if msg.HasField(field.name):
                problem = _json_problem(getattr(msg, field.name), 0)
                if problem is not None:
                    errors.append(ValidationDetail(field=f"{field.name}{problem[0]}",
                                                   message=problem[1]))
        elif kind == _MESSAGE:
            if msg.HasField(field.name):
                _nested(errors, field.name, required_field_errors(getattr(msg, field.name)))
        elif kind == _MESSAGES:
            for i, item in enumerate(getattr(msg, field.name)):
                _nested(errors, f"{field.name}[{i}]", required_field_errors(item))
        elif kind == _MAP:
            value: Any = getattr(msg, field.name)
            for key, item in value.items():
                if isinstance(item, ProtoMessage):
                    _nested(errors, f"{field.name}[{key}]", required_field_errors(item))
    return errors


def validate_required(msg: ProtoMessage) -> None:
    """Raise what the SDK raises when a REQUIRED field is missing.

    Raises:
        InvalidParamsError: ``data={"errors": [...]}`` names each missing field.
    """
    errors = required_field_errors(msg)
    if errors:
        raise InvalidParamsError(message="Validation failed", data={"errors": errors})


def _message_errors(params: SendMessageRequest) -> list[ValidationDetail]:
    """The SDK's rules for a user message (``new_task_from_user_message``), as details."""
    errors: list[ValidationDetail] = []
    message = params.message
    if message.role not in (Role.ROLE_USER, Role.ROLE_UNSPECIFIED):  # unset: already required
        errors.append(ValidationDetail(field="message.role",
                                       message="A message sent to an agent must be from the user."))
    for i, part in enumerate(message.parts):
        content = part.WhichOneof("content")
        if content is None:
            errors.append(ValidationDetail(field=f"message.parts[{i}]",
                                           message="A part needs text, raw, url or data."))
        elif content == "text" and not part.text:
            errors.append(ValidationDetail(field=f"message.parts[{i}].text",
                                           message="Text must not be empty."))
    return errors


def validate_send(params: SendMessageRequest) -> None:
    """``validate_required``, plus what a user message must be to be stored and read back.

    Raises:
        InvalidParamsError: ``data={"errors": [...]}`` names each field that is wrong.
    """
    errors = required_field_errors(params)
    if params.HasField("message"):
        errors.extend(_message_errors(params))
    if errors:
        raise InvalidParamsError(message="Validation failed", data={"errors": errors})
