"""JSON Schema (2020-12, as OpenAPI 3.1 uses it) for protobuf messages, by the proto3 JSON mapping.

No maintained converter handles protobuf 7 and ``google.protobuf.Struct``/``Value``
(AGENT-NOTES B.3c), so this walks the SDK's descriptors: keys are ``json_name``s,
enums are their names, 64-bit integers are integers or decimal strings, bytes are
base64, the well-known types map to their JSON forms, maps are
``additionalProperties``, a oneof allows at most one member, and
``google.api.field_behavior = REQUIRED`` fields are ``required``. Each message is
one component schema (``$ref``), so recursive messages (``Value``) are fine.
"""

from __future__ import annotations

from typing import Any

from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor

Schema = dict[str, Any]

_REF = "#/components/schemas/{}"
_INT64 = {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^-?[0-9]+$"}]}
_UINT64 = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^[0-9]+$"}]}
_BASE64 = r"^[A-Za-z0-9+/_-]*={0,2}$"
_SCALARS: dict[int, Schema] = {
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_DOUBLE: {"type": "number"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
    FieldDescriptor.TYPE_SFIXED32: {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
    FieldDescriptor.TYPE_FIXED32: {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
    FieldDescriptor.TYPE_INT64: _INT64,
    FieldDescriptor.TYPE_SINT64: _INT64,
    FieldDescriptor.TYPE_SFIXED64: _INT64,
    FieldDescriptor.TYPE_UINT64: _UINT64,
    FieldDescriptor.TYPE_FIXED64: _UINT64,
    FieldDescriptor.TYPE_BYTES: {"type": "string", "contentEncoding": "base64", "pattern": _BASE64},
}
_WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?s$"},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
}


def component_name(descriptor: Descriptor) -> str:
    """The component schema name of a message (``lf.a2a.v1.Task`` -> ``v1.Task``)."""
    return "v1." + descriptor.full_name.removeprefix("lf.a2a.v1.").replace(".", "_")


def message_schema(descriptor: Descriptor, components: dict[str, Schema]) -> Schema:
    """A ``$ref`` to ``descriptor``'s schema, adding it (and what it uses) to ``components``."""
    known = _WELL_KNOWN.get(descriptor.full_name)
    if known is not None:
        return dict(known)
    name = component_name(descriptor)
    if name not in components:
        components[name] = {}  # placeholder: recursion stops here
        components[name] = _object(descriptor, components)
    return {"$ref": _REF.format(name)}


def _object(descriptor: Descriptor, components: dict[str, Schema]) -> Schema:
    properties = {f.json_name: _field(f, components) for f in descriptor.fields}
    behavior = field_behavior_pb2.field_behavior
    required = [f.json_name for f in descriptor.fields
                if field_behavior_pb2.REQUIRED in f.GetOptions().Extensions[behavior]]
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    exclusive = [
        {"not": {"required": [a.json_name, b.json_name]}}
        for oneof in descriptor.oneofs if len(oneof.fields) > 1
        for i, a in enumerate(oneof.fields) for b in oneof.fields[i + 1:]
    ]
    if exclusive:
        schema["allOf"] = exclusive
    return schema


def _single(field: FieldDescriptor, components: dict[str, Schema]) -> Schema:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return message_schema(field.message_type, components)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
    return dict(_SCALARS[field.type])


def _field(field: FieldDescriptor, components: dict[str, Schema]) -> Schema:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        return {"type": "object",
                "additionalProperties": _single(message.fields_by_name["value"], components)}
    if field.is_repeated:
        return {"type": "array", "items": _single(field, components)}
    return _single(field, components)
