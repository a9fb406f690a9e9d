"""ProtoJSON of A2A objects: ``MessageToDict``'s output, from a plan computed once per type.

``google.protobuf.json_format.MessageToDict`` decides, for every field of every
message it prints, what kind of field it is and how to print it: 22 us for a
one-message task, 76 us for one with ten. ``to_dict`` makes those decisions
once per message type (a converter per field, enum names in a dict) and keeps
only the per-value work, for the same output: the same fields (those
``ListFields()`` reports), the same names, enums, int64 strings, base64 bytes
and well-known types. What is rare or subtle (``Any``, wrappers, floats,
non-finite numbers in a ``Value``) is handed to protobuf's own printer.
A test compares both on generated instances of every A2A message type. One
difference on purpose: an integral number in a ``Struct``/``Value``
(``metadata``, data parts) is printed as an integer (``42``, not ``42.0``).

``to_jsonable`` is the same for printing with orjson, except that A2A
``Message``s come out as ``orjson.Fragment``s of their JSON, kept in a bounded
cache keyed by their serialized bytes: a message does not change once sent and
is printed again and again (the last messages of a task, in every answer about
it); serializing it takes 0.2 us, printing it 3.5 us. Fragments are bytes, not
containers, so the cache adds nothing to the garbage collector's work.
"""

from __future__ import annotations

import base64
import functools
import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
from a2a.types import a2a_pb2
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

_PRINTER = json_format._Printer()
_INT64 = frozenset({FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64})
_AS_STRING = frozenset({"google.protobuf.Timestamp", "google.protobuf.Duration",
                        "google.protobuf.FieldMask"})
_CACHED = frozenset({a2a_pb2.Message.DESCRIPTOR.full_name})
_CACHE_ENTRIES = 16_384
_CACHE_MAX_BYTES = 4_096  # larger messages are printed every time
_FRAGMENT_CACHES: list[OrderedDict[bytes, orjson.Fragment]] = []
_EXACT = 2.0**53  # doubles beyond this are not exact integers: print them as they are

Convert = Callable[[Any], Any]


def to_dict(message: Message) -> Any:
    """``MessageToDict(message)`` with the default options."""
    return _message_converter(message.DESCRIPTOR, False)(message)


def to_jsonable(message: Message) -> Any:
    """What ``to_dict`` returns, for ``orjson.dumps`` (messages as cached fragments)."""
    return _message_converter(message.DESCRIPTOR, True)(message)


_DEFAULTS: tuple[dict[str, Any], ...] = ({}, {"preserving_proto_field_name": False})
_STRUCTS = frozenset({"google.protobuf.Struct", "google.protobuf.Value",
                      "google.protobuf.ListValue"})


def message_to_dict(message: Message, **options: Any) -> Any:
    """``MessageToDict(message, **options)``, integral numbers in Structs as integers.

    The drop-in for protobuf's printer wherever an A2A object is printed for a client
    (``sdk_printing`` puts it in the SDK's handlers). With the default options it is
    ``to_dict``; with others, protobuf's output with its integral floats made integers,
    which is exact for a type whose only floating-point field is ``Value``'s number.
    """
    descriptor = message.DESCRIPTOR
    if options in _DEFAULTS and (descriptor.file is a2a_pb2.DESCRIPTOR
                                 or descriptor.full_name in _STRUCTS):
        return to_dict(message)
    printed = json_format.MessageToDict(message, **options)
    return integral_numbers(printed) if _doubles_only_in_values(descriptor) else printed


def integral_numbers(value: Any) -> Any:
    """``value`` (printed JSON) with every integral float an integer (``integral``)."""
    if isinstance(value, float):
        return integral(value)
    if isinstance(value, dict):
        return {key: integral_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [integral_numbers(item) for item in value]
    return value


_FLOATING = frozenset({FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT})


@functools.cache
def _doubles_only_in_values(descriptor: Descriptor) -> bool:
    """Whether every floating-point field reachable from ``descriptor`` is ``Value``'s."""
    seen: set[str] = set()
    pending = [descriptor]
    while pending:
        current = pending.pop()
        if current.full_name in seen or current.full_name in _STRUCTS:
            continue
        seen.add(current.full_name)
        for field in current.fields:
            if field.type in _FLOATING:
                return False
            if field.message_type is not None:
                pending.append(field.message_type)
    return True


@functools.cache
def _message_converter(descriptor: Descriptor, fragments: bool) -> Convert:
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
    if fragments and name in _CACHED:
        return _fragment(_regular(descriptor, fragments))
    return _regular(descriptor, fragments)


def cached_prints() -> int:
    """How many prints are remembered now."""
    return sum(len(printed) for printed in _FRAGMENT_CACHES)


def clear_caches() -> None:
    """Forget every remembered print (an idle replica gives the memory back)."""
    for printed in _FRAGMENT_CACHES:
        printed.clear()


def _fragment(convert: Convert) -> Convert:
    """``convert`` as JSON bytes, remembered per serialized value (LRU)."""
    printed: OrderedDict[bytes, orjson.Fragment] = OrderedDict()
    _FRAGMENT_CACHES.append(printed)

    def cached(message: Message) -> orjson.Fragment:
        key = message.SerializeToString()
        hit = printed.get(key)
        if hit is not None:
            printed.move_to_end(key)
            return hit
        out = orjson.Fragment(orjson.dumps(convert(message)))
        if len(key) <= _CACHE_MAX_BYTES:
            printed[key] = out
            if len(printed) > _CACHE_ENTRIES:
                printed.popitem(last=False)
        return out

    return cached


def _regular(descriptor: Descriptor, fragments: bool) -> Convert:
    plan: dict[FieldDescriptor, tuple[str, Convert]] = {}  # field -> (JSON name, converter)

    def convert(message: Message) -> dict[str, Any]:
        if not plan:  # built on first use: message types may refer to each other
            plan.update(_plan(descriptor, fragments))
        out = {}
        try:
            for field, value in message.ListFields():
                json_name, field_converter = plan[field]
                out[json_name] = field_converter(value)
        except KeyError:  # an extension (no A2A type has one): protobuf's printer knows them
            return _PRINTER._MessageToJsonObject(message)
        return out

    return convert


def _plan(descriptor: Descriptor, fragments: bool) -> dict[FieldDescriptor, tuple[str, Convert]]:
    plan: dict[FieldDescriptor, tuple[str, Convert]] = {}
    for field in descriptor.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            plan[field] = (field.json_name, _map_converter(field, fragments))
        elif field.is_repeated:
            plan[field] = (field.json_name,
                           _list_converter(_value_converter(field, fragments)))
        else:
            plan[field] = (field.json_name, _value_converter(field, fragments))
    return plan


def _list_converter(item: Convert) -> Convert:
    return lambda values: [item(value) for value in values]


def _map_converter(field: FieldDescriptor, fragments: bool) -> Convert:
    value_field = field.message_type.fields_by_name["value"]
    item = _value_converter(value_field, fragments)

    def convert(mapping: Any) -> dict[str, Any]:
        return {_map_key(key): item(mapping[key]) for key in mapping}

    return convert


def _map_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _value_converter(field: FieldDescriptor, fragments: bool) -> Convert:
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_MESSAGE:
        return _message_converter(field.message_type, fragments)
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
    return integral(message.number_value, message)


def integral(number: float, message: Any = None) -> Any:
    """A ``Value``'s number as JSON clients expect it: ``42``, not ``42.0``.

    ``Struct`` has only doubles, so every integer a client put in ``metadata`` or
    a data part comes back as a float; one that is integral (and exact as a
    double) is printed as the integer it was. Non-finite numbers go to
    protobuf's printer (which refuses them) when ``message`` is given.
    """
    if number.is_integer():
        return int(number) if -_EXACT <= number <= _EXACT else number
    if message is not None and (math.isinf(number) or math.isnan(number)):
        return _PRINTER._ValueMessageToJsonObject(message)
    return number
