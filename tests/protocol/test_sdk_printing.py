"""``sdk_printing`` puts ``message_to_dict`` in every SDK module that prints for clients."""

from __future__ import annotations

import importlib

from a2a.types.a2a_pb2 import Part, Task
from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct

from a2a_server.protocol import sdk_printing
from a2a_server.protocol.protojson import message_to_dict
from tests.conftest import REPO


def test_every_printing_module_of_the_sdk_is_rebound() -> None:
    sdk_printing.install()
    for name in sdk_printing.MODULES:
        assert importlib.import_module(name).MessageToDict is message_to_dict, name


def _task() -> Task:
    task = Task(id="t", context_id="c")
    task.metadata.update({"count": 42, "ratio": 0.5, "ids": [1, 2.5]})
    part = task.history.add(message_id="m").parts.add()
    part.data.struct_value.update({"n": 7})
    return task


def test_it_is_protobufs_printer_with_integral_numbers_as_integers() -> None:
    task = _task()
    for options in ({}, {"always_print_fields_with_no_presence": True},
                    {"preserving_proto_field_name": True}):
        printed = message_to_dict(task, **options)
        expected = json_format.MessageToDict(task, **options)
        expected["metadata"] = {"count": 42, "ratio": 0.5, "ids": [1, 2.5]}
        expected["history"][0]["parts"][0]["data"] = {"n": 7}
        assert printed == expected, options
        assert type(printed["metadata"]["count"]) is int


def test_a_bare_struct_and_a_value() -> None:
    struct = Struct()
    struct.update({"a": 3, "b": {"c": [4, 4.5]}})
    assert message_to_dict(struct) == {"a": 3, "b": {"c": [4, 4.5]}}
    assert type(message_to_dict(struct)["a"]) is int
    assert message_to_dict(Part(text="x")) == {"text": "x"}


def test_importing_the_package_patches_nothing() -> None:
    """Only create_app installs it: a process that imports our modules (the bench's SDK
    reference server imports our echo agent) keeps the SDK's own printer."""
    import subprocess
    import sys

    code = ("import a2a_server.agents.echo, a2a_server.protocol.shapes, bench.sdk_reference\n"
            "import a2a.server.routes.rest_dispatcher as r\n"
            "from google.protobuf import json_format\n"
            "assert r.MessageToDict is json_format.MessageToDict, r.MessageToDict\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
