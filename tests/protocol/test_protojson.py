"""``to_dict`` prints exactly what ``MessageToDict`` prints, for every A2A message type."""

from __future__ import annotations

import random
import string
from typing import Any

import orjson
import pytest
from a2a.types import a2a_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from a2a_server.protocol.protojson import to_dict, to_jsonable

_TYPES = sorted(a2a_pb2.DESCRIPTOR.message_types_by_name)


def _scalar(field: FieldDescriptor, rng: random.Random) -> Any:
    cpp = field.cpp_type
    if field.type == FieldDescriptor.TYPE_BYTES:
        return rng.randbytes(rng.randint(0, 12))
    if cpp == FieldDescriptor.CPPTYPE_STRING:
        return "".join(rng.choice(string.printable + "éü✓") for _ in range(rng.randint(0, 10)))
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return rng.random() < 0.5
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        numbers = list(field.enum_type.values_by_number)
        return rng.choice([*numbers, 97]) if rng.random() < 0.9 else numbers[0]
    if cpp in (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64):
        return rng.randint(0, 2**40)
    if cpp in (FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE):
        return rng.choice([0.0, 1.5, -2.25, 1e-3, 3.4e12])
    return rng.randint(0, 2**20)


def _value(message: Any, rng: random.Random, depth: int) -> None:
    """A google.protobuf.Value of any kind (nested structs and lists, numbers, nulls)."""
    kind = rng.choice(["null", "number", "string", "bool", "struct", "list"] if depth < 3
                      else ["number", "string", "bool", "null"])
    if kind == "null":
        message.null_value = 0
    elif kind == "number":
        message.number_value = rng.choice([0, 42, -1.5, 1e21, 3.0])
    elif kind == "string":
        message.string_value = rng.choice(["", "x", "ünï"])
    elif kind == "bool":
        message.bool_value = rng.random() < 0.5
    elif kind == "struct":
        for i in range(rng.randint(0, 3)):
            _value(message.struct_value.fields[f"k{i}"], rng, depth + 1)
    else:
        for _ in range(rng.randint(0, 3)):
            _value(message.list_value.values.add(), rng, depth + 1)


_SPECIAL = {
    "google.protobuf.Struct": lambda m, rng, depth: [
        _value(m.fields[f"f{i}"], rng, depth) for i in range(rng.randint(0, 3))],
    "google.protobuf.Timestamp": lambda m, rng, depth: (
        setattr(m, "seconds", rng.randint(0, 4_000_000_000)),
        setattr(m, "nanos", rng.choice([0, 1_000_000, 123_456_000, 999_999_999]))),
    "google.protobuf.Value": lambda m, rng, depth: _value(m, rng, depth),
}


def _fill_field(message: Message, field: FieldDescriptor, rng: random.Random, depth: int) -> None:
    target = getattr(message, field.name)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        for i in range(rng.randint(0, 2)):
            if value_field.message_type is not None:
                _fill(target[f"key{i}"], rng, depth + 1)
            else:
                target[f"key{i}"] = _scalar(value_field, rng)
    elif field.is_repeated:
        for _ in range(rng.randint(0, 3)):
            if field.message_type is not None:
                _fill(target.add(), rng, depth + 1)
            else:
                target.append(_scalar(field, rng))
    elif field.message_type is not None:
        _fill(target, rng, depth + 1)
        target.SetInParent()
    else:
        setattr(message, field.name, _scalar(field, rng))


def _fill(message: Message, rng: random.Random, depth: int = 0) -> None:
    """Random values in a random subset of fields (a oneof keeps the last member set)."""
    descriptor: Descriptor = message.DESCRIPTOR
    special = _SPECIAL.get(descriptor.full_name)
    if special is not None:
        special(message, rng, depth)
        return
    for field in descriptor.fields:
        if field.containing_oneof is not None and rng.random() < 0.6:
            continue
        if rng.random() < 0.35 or depth > 4:
            continue
        _fill_field(message, field, rng, depth)


@pytest.mark.parametrize("type_name", _TYPES)
def test_the_same_json_as_message_to_dict(type_name: str) -> None:
    cls = getattr(a2a_pb2, type_name)
    rng = random.Random(type_name)
    for _ in range(60):
        message = cls()
        _fill(message, rng)
        assert to_dict(message) == MessageToDict(message), (type_name, message)
    assert to_dict(cls()) == MessageToDict(cls()) == {}


@pytest.mark.parametrize("type_name", ["Task", "Message", "StreamResponse", "SendMessageResponse"])
def test_the_jsonable_form_prints_the_same_json(type_name: str) -> None:
    """Messages inside come out as cached fragments: printed twice, the same bytes."""
    cls = getattr(a2a_pb2, type_name)
    rng = random.Random(f"jsonable-{type_name}")
    for _ in range(60):
        message = cls()
        _fill(message, rng)
        expected = orjson.loads(orjson.dumps(MessageToDict(message)))
        assert orjson.loads(orjson.dumps(to_jsonable(message))) == expected
        assert orjson.dumps(to_jsonable(message)) == orjson.dumps(to_jsonable(message))
