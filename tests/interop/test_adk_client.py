"""Google ADK's ``RemoteA2aAgent``, unmodified, driving an agent of this server.

ADK brings its own dependency tree (google-genai, ...), so it runs in a venv of
its own built once under the pytest cache, as a subprocess (``adk_client.py``):
an ADK ``Runner`` whose root agent is the remote A2A agent (no model), two turns
of one session.
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

GOOGLE_ADK = "google-adk[a2a]==2.13.0"
CLIENT = Path(__file__).with_name("adk_client.py")


@pytest.fixture(scope="session")
def python_adk(request: pytest.FixtureRequest) -> Path:
    """A python with Google ADK (a venv in the pytest cache)."""
    return cached_venv(request.config, "google-adk-2.13.0", GOOGLE_ADK)


@pytest.mark.timeout(1200)  # the first run builds the venv
@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_adk_remote_a2a_agent(python_adk: Path, backend: str,
                              live_server_factory: Callable[..., Any]) -> None:
    server = live_server_factory(backend)
    done = subprocess.run([str(python_adk), str(CLIENT), server.url, "echo", "demo-key"],
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["errors"] == []
    assert "echo: hello from adk" in seen["texts"]
    assert "echo: second turn" in seen["texts"]
