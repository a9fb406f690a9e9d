"""ProtoJSON of A2A objects: ``MessageToDict``'s output, from a plan computed once per type.

``google.protobuf.json_format.MessageToDict`` decides, for every field of every
message it prints, what kind of field it is and how to print it: 22 us for a
one-message task, 76 us for one with ten. ``to_dict`` makes those decisions
once per message type (a converter per field, enum names in a dict) and keeps
only the per-value work, for the same output: the same fields (those
``ListFields()`` reports), the same names, enums, int64 strings, base64 bytes
and well-known types. What is rare or subtle (``Any``, wrappers, floats,
non-finite numbers in a ``Value``) is handed to protobuf's own printer.
A test compares both on generated instances of every A2A message type.
"""

from __future__ import annotations

import base64
import functools
import math
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

_PRINTER = json_format._Printer()
_INT64 = frozenset({FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64})
_AS_STRING = frozenset({"google.protobuf.Timestamp", "google.protobuf.Duration",
                        "google.protobuf.FieldMask"})

Convert = Callable[[Any], Any]


def to_dict(message: Message) -> Any:
    """``MessageToDict(message)`` with the default options."""
    return _message_converter(message.DESCRIPTOR)(message)


@functools.cache
def _message_converter(descriptor: Descriptor) -> Convert:
    name = descriptor.full_name
    if name in _AS_STRING:
        return _to_json_string
    if name == "google.protobuf.Struct":
        return _struct
    if name == "google.protobuf.Value":
        return _value
    if name == "google.protobuf.ListValue":
        return _list_value
    if name == "google.protobuf.Any" or descriptor.file.name == "google/protobuf/wrappers.proto":
        return _PRINTER._MessageToJsonObject
    plan: dict[str, tuple[str, Convert]] = {}  # field name -> (JSON name, converter)

    def convert(message: Message) -> dict[str, Any]:
        if not plan:  # built on first use: message types may refer to each other
            plan.update(_plan(descriptor))
        out = {}
        for field, value in message.ListFields():
            if field.is_extension:  # not in any A2A type: protobuf's printer knows them
                return _PRINTER._MessageToJsonObject(message)
            json_name, field_converter = plan[field.name]
            out[json_name] = field_converter(value)
        return out

    return convert


def _plan(descriptor: Descriptor) -> dict[str, tuple[str, Convert]]:
    plan: dict[str, tuple[str, Convert]] = {}
    for field in descriptor.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            plan[field.name] = (field.json_name, _map_converter(field))
        elif field.is_repeated:
            plan[field.name] = (field.json_name, _list_converter(_value_converter(field)))
        else:
            plan[field.name] = (field.json_name, _value_converter(field))
    return plan


def _list_converter(item: Convert) -> Convert:
    return lambda values: [item(value) for value in values]


def _map_converter(field: FieldDescriptor) -> Convert:
    value_field = field.message_type.fields_by_name["value"]
    item = _value_converter(value_field)

    def convert(mapping: Any) -> dict[str, Any]:
        return {_map_key(key): item(mapping[key]) for key in mapping}

    return convert


def _map_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _value_converter(field: FieldDescriptor) -> Convert:
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_MESSAGE:
        return _message_converter(field.message_type)
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        if field.enum_type.full_name == "google.protobuf.NullValue":
            return lambda value: None
        names = {number: _PRINTER._FieldToJsonObject(field, number)
                 for number in field.enum_type.values_by_number}
        return lambda value: names[value] if value in names else (
            _PRINTER._FieldToJsonObject(field, value))
    if field.type == FieldDescriptor.TYPE_BYTES:
        return lambda value: base64.b64encode(value).decode("utf-8")
    if cpp == FieldDescriptor.CPPTYPE_STRING:
        return str
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return bool
    if cpp in _INT64:
        return str
    if cpp in (FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE):
        return lambda value: _PRINTER._FieldToJsonObject(field, value)
    return lambda value: value  # 32-bit integers


def _to_json_string(message: Any) -> str:
    return str(message.ToJsonString())


def _struct(message: Any) -> dict[str, Any]:
    fields = message.fields
    return {key: _value(fields[key]) for key in fields}


def _list_value(message: Any) -> list[Any]:
    return [_value(value) for value in message.values]


def _value(message: Any) -> Any:
    kind = message.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "string_value":
        return message.string_value
    if kind == "bool_value":
        return message.bool_value
    if kind == "struct_value":
        return _struct(message.struct_value)
    if kind == "list_value":
        return _list_value(message.list_value)
    number = message.number_value
    if math.isinf(number) or math.isnan(number):
        return _PRINTER._ValueMessageToJsonObject(message)
    return number
