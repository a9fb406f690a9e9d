"""The SDK's handlers print A2A objects with ``protojson.message_to_dict``.

The SDK renders what its handlers answer (JSON-RPC results and stream events, the
1.0 REST routes it serves, the 0.3 conversions' metadata and data parts) with
protobuf's ``MessageToDict``, which prints every number in a ``Struct`` as a
float: a client's ``{"count": 42}`` came back as ``42.0``. Each of those modules
imports ``MessageToDict`` by name; ``install`` rebinds that name to
``message_to_dict`` (the same output, integral numbers as integers, and faster
with the default options). ``tests/protocol/test_sdk_printing.py`` pins the
modules: a release that stops importing the name fails there, not in a client.

Only ``create_app`` installs it: importing the package patches nothing, so a process that
merely imports ``a2a_server`` (the bench's SDK reference server imports our echo agent)
keeps the SDK as it ships.
"""

from __future__ import annotations

import importlib

from a2a_server.protocol.protojson import message_to_dict

MODULES = (
    "a2a.server.routes.jsonrpc_dispatcher",
    "a2a.server.routes.rest_dispatcher",
    "a2a.server.routes.common",
    "a2a.server.request_handlers.response_helpers",
    "a2a.server.tasks.base_push_notification_sender",
    "a2a.compat.v0_3.conversions",
)


def install() -> None:
    """Rebind ``MessageToDict`` in the SDK's printing modules (idempotent)."""
    for name in MODULES:
        module = importlib.import_module(name)
        if not hasattr(module, "MessageToDict"):
            raise RuntimeError(f"{name} no longer imports MessageToDict: see sdk_printing")
        module.MessageToDict = message_to_dict  # type: ignore[attr-defined]
