"""Fixtures for agent tests: the OpenAI-compatible provider stand-in, agents bound to it."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, free_port


class Provider:
    """A running ``provider_standin`` process and its control API."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.agents.provider_standin", "--port", str(self.port)],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError("the provider stand-in did not start")

    @property
    def url(self) -> str:
        """The OpenAI base URL (``.../v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def _post(self, path: str, body: dict[str, Any]) -> None:
        httpx.post(f"http://127.0.0.1:{self.port}{path}", json=body, timeout=5).raise_for_status()

    def script(self, *responses: dict[str, Any]) -> None:
        """Answer the next requests with ``responses``, in order."""
        self._post("/_script", {"responses": list(responses)})

    def rule(self, contains: str, response: dict[str, Any]) -> None:
        """Answer every request whose last user message contains ``contains`` with ``response``."""
        self._post("/_rules", {"contains": contains, "response": response})

    def requests(self) -> list[dict[str, Any]]:
        """Every completion request received since the last reset."""
        reply = httpx.get(f"http://127.0.0.1:{self.port}/_requests", timeout=5)
        reply.raise_for_status()
        result: list[dict[str, Any]] = reply.json()
        return result

    def reset(self) -> None:
        """Forget script, rules and requests."""
        self._post("/_reset", {})

    def stop(self) -> None:
        """Kill the process."""
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture(scope="session")
def provider_process() -> Iterator[Provider]:
    """One stand-in provider process for the session."""
    provider = Provider()
    yield provider
    provider.stop()


@pytest.fixture
def provider(provider_process: Provider) -> Provider:
    """The stand-in provider, with nothing scripted and no requests recorded."""
    provider_process.reset()
    return provider_process
