"""Agent card validation against A2A 1.0.

A2A 1.0 is defined by ``a2a.proto`` (the JSON form is its ProtoJSON mapping);
the SDK ships the compiled schema. A card is valid when:

- it parses into the proto ``AgentCard`` with NO unknown field (after setting
  aside the A2A 0.3 compatibility fields that SDK servers add on purpose:
  ``url``, ``preferredTransport``, ``protocolVersion``, ...);
- every field the proto marks ``REQUIRED`` (``google.api.field_behavior``) is
  present and non-empty, at every depth;
- its references hold: interface URLs are absolute http(s) URLs, every
  security requirement names a declared scheme, OAuth2 token URLs are absolute.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlparse

from a2a.types.a2a_pb2 import AgentCard
from google.api.field_behavior_pb2 import FieldBehavior, field_behavior
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import ParseDict, ParseError
from google.protobuf.message import Message

KNOWN_BINDINGS = ("JSONRPC", "HTTP+JSON", "GRPC")
# A2A 0.3 fields an SDK server merges into a 1.0 card for older clients.
V03_TOP_LEVEL = ("url", "preferredTransport", "protocolVersion", "additionalInterfaces",
                 "security", "supportsAuthenticatedExtendedCard")
V03_CAPABILITIES = ("stateTransitionHistory",)
SCHEME_ONEOF = ("apiKeySecurityScheme", "httpAuthSecurityScheme", "oauth2SecurityScheme",
                "openIdConnectSecurityScheme", "mtlsSecurityScheme")


def _is_repeated(field: FieldDescriptor) -> bool:
    is_repeated = getattr(field, "is_repeated", None)  # protobuf >= 6.31; 7 dropped `label`
    if is_repeated is not None:
        return bool(is_repeated)
    return getattr(field, "label", None) == FieldDescriptor.LABEL_REPEATED


def _missing(msg: Message, field: FieldDescriptor) -> bool:
    value = getattr(msg, field.name)
    if _is_repeated(field):
        return not value
    if field.type == FieldDescriptor.TYPE_MESSAGE or field.has_presence:
        return not msg.HasField(field.name)
    return bool(value == field.default_value)


def _children(msg: Message, field: FieldDescriptor) -> list[tuple[str, Message]]:
    if field.type != FieldDescriptor.TYPE_MESSAGE:
        return []
    value = getattr(msg, field.name)
    if field.message_type.GetOptions().map_entry:
        return [(f"{field.json_name}.{k}", v) for k, v in value.items() if isinstance(v, Message)]
    if _is_repeated(field):
        return [(f"{field.json_name}[{i}]", v) for i, v in enumerate(value)]
    return [(field.json_name, value)] if msg.HasField(field.name) else []


def missing_required(msg: Message, prefix: str = "") -> list[str]:
    """JSON paths of REQUIRED fields that are absent or empty, at every depth."""
    missing: list[str] = []
    for field in msg.DESCRIPTOR.fields:
        behaviors = field.GetOptions().Extensions[field_behavior]
        if FieldBehavior.REQUIRED in behaviors and _missing(msg, field):
            missing.append(f"{prefix}{field.json_name}")
        for path, child in _children(msg, field):
            missing.extend(missing_required(child, f"{prefix}{path}."))
    return missing


def split_v03_fields(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The card without its 0.3 compatibility fields, and the names of those set aside."""
    card = copy.deepcopy(raw)
    aside = [key for key in V03_TOP_LEVEL if card.pop(key, None) is not None]
    capabilities = card.get("capabilities")
    if isinstance(capabilities, dict):
        aside += [f"capabilities.{k}" for k in V03_CAPABILITIES
                  if capabilities.pop(k, None) is not None]
    schemes = card.get("securitySchemes")
    if isinstance(schemes, dict):
        for name, scheme in schemes.items():
            if isinstance(scheme, dict) and any(k in scheme for k in SCHEME_ONEOF):
                extra = [k for k in scheme if k not in SCHEME_ONEOF]
                for key in extra:
                    del scheme[key]
                aside += [f"securitySchemes.{name}.{k}" for k in extra]
    return card, aside


def _absolute_http(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def reference_problems(card: AgentCard) -> list[str]:
    """Broken references and URLs in a parsed card."""
    problems = []
    for i, interface in enumerate(card.supported_interfaces):
        if interface.url and not _absolute_http(interface.url):
            problems.append(f"supportedInterfaces[{i}].url '{interface.url}' is not an "
                            "absolute http(s) URL")
    for i, requirement in enumerate(card.security_requirements):
        for scheme in requirement.schemes:
            if scheme not in card.security_schemes:
                problems.append(f"securityRequirements[{i}] names scheme '{scheme}', which "
                                "securitySchemes does not declare")
    for name, scheme in card.security_schemes.items():
        if scheme.HasField("oauth2_security_scheme"):
            flows = scheme.oauth2_security_scheme.flows
            if flows.HasField("client_credentials") and \
                    not _absolute_http(flows.client_credentials.token_url):
                problems.append(f"securitySchemes.{name}: clientCredentials.tokenUrl is not an "
                                "absolute http(s) URL")
    return problems


def validate_card(raw: Any) -> tuple[AgentCard | None, list[str], list[str]]:
    """Validate a fetched card.

    Returns:
        The parsed card (None if it does not parse), the problems (empty when
        valid), and notes (0.3 compatibility fields set aside, unknown bindings).
    """
    if not isinstance(raw, dict):
        return None, ["the agent card is not a JSON object"], []
    stripped, aside = split_v03_fields(raw)
    notes = [f"A2A 0.3 compatibility fields present: {', '.join(aside)}"] if aside else []
    card = AgentCard()
    try:
        ParseDict(stripped, card, ignore_unknown_fields=False)
    except ParseError as exc:
        return None, [f"not an A2A 1.0 AgentCard: {exc}"], notes
    problems = [f"required field missing or empty: {path}" for path in missing_required(card)]
    problems += reference_problems(card)
    for interface in card.supported_interfaces:
        if interface.protocol_binding and interface.protocol_binding not in KNOWN_BINDINGS:
            notes.append(f"custom binding '{interface.protocol_binding}' at {interface.url}")
    return card, problems, notes
