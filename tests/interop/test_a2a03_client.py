"""The A2A Python SDK's newest 0.3 line (still the most installed), unmodified, as a client.

``a2a-sdk`` 0.3 and 1.3 cannot share a virtualenv, so the fixture builds one
for 0.3.26 under the pytest cache (once; later runs reuse it) and the client
runs there as a subprocess (``a2a03_client.py``) against a live server.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.interop.venvs import cached_venv

pytestmark = pytest.mark.interop

A2A_SDK_03 = "a2a-sdk[http-server]==0.3.26"
CLIENT = Path(__file__).with_name("a2a03_client.py")


@pytest.fixture(scope="session")
def python03(request: pytest.FixtureRequest) -> Path:
    """A python whose ``a2a`` is a2a-sdk 0.3.26 (a venv in the pytest cache)."""
    return cached_venv(request.config, "a2a-sdk-0.3.26", A2A_SDK_03)


def _run(python: Path, base: str, agent: str = "echo") -> dict[str, Any]:
    done = subprocess.run([str(python), str(CLIENT), base, agent, "demo-key"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.timeout(900)  # the first run builds the venv
@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_a2a_sdk_03_client(python03: Path, backend: str,
                           live_server_factory: Callable[..., Any]) -> None:
    server = live_server_factory(backend)
    seen = _run(python03, server.url)
    card = seen["card"]
    assert card["url"] == f"{server.url}/agents/echo/v1"
    assert card["protocol_version"] == "0.3" and card["preferred_transport"] == "JSONRPC"
    assert card["skill_modes"] == [[["text/plain"], ["text/plain"]]]
    assert seen["send"] == {"state": "completed", "artifact": "echo: hello from 0.3"}
    assert seen["get"] == {"id_matches": True, "history": 1}
    assert "-32001" in seen["missing"]  # TaskNotFound, as 0.3 JSON-RPC codes it
    assert seen["stream"]["kinds"][0] == "Task"
    assert "TaskArtifactUpdateEvent" in seen["stream"]["kinds"]
    assert seen["stream"]["final"] == "completed"
    assert seen["cancel"] == "canceled"
