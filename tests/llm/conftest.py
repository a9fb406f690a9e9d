"""Fixtures for agent tests: the OpenAI-compatible provider stand-in, agents bound to it."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import DEMO, REPO, V1, free_port, running_app


class Provider:
    """A running ``provider_standin`` process and its control API."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.llm.provider_standin", "--port", str(self.port)],
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


ASSISTANT_CARD = {
    "name": "Assistant",
    "description": "An LLM agent (the provider stand-in in tests).",
    "version": "1.0.0",
    "capabilities": {"streaming": True},
    "defaultInputModes": ["text/plain", "application/json"],
    "defaultOutputModes": ["text/plain", "application/json"],
    "skills": [{"id": "chat", "name": "Chat", "description": "Answers.", "tags": ["llm"]}],
}


def write_agent(directory: Path, agent_id: str, options: dict[str, Any],
                executor: str = "llm") -> None:
    """An agent card and its binding in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    card = {**ASSISTANT_CARD, "name": agent_id.title()}
    (directory / f"{agent_id}.json").write_text(json.dumps(card))
    (directory / f"{agent_id}.binding.yaml").write_text(
        yaml.safe_dump({"executor": executor, "options": options}))


def llm_options(provider: Provider, **options: Any) -> dict[str, Any]:
    """Options of an LLM agent bound to the stand-in (priced, so costs show)."""
    base: dict[str, Any] = {
        "base_url": provider.url, "model": "standin-1", "provider": "standin",
        "api_key_env": "STANDIN_API_KEY", "timeout_seconds": 10, "retries": 2,
        "prices": {"standin-1": {"input": 1.0, "output": 2.0}},
    }
    base.update(options)
    return base


@pytest.fixture
def agents_dir(tmp_path: Path, provider: Provider, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The echo agent plus ``assistant``, an LLM agent on the stand-in."""
    monkeypatch.setenv("STANDIN_API_KEY", "sk-standin")
    directory = tmp_path / "agents"
    directory.mkdir()
    shutil.copy(REPO / "agent_cards" / "echo.json", directory / "echo.json")
    shutil.copy(REPO / "agent_cards" / "echo.binding.yaml", directory / "echo.binding.yaml")
    write_agent(directory, "assistant", llm_options(provider, system_prompt="Be brief."))
    return directory


@contextlib.asynccontextmanager
async def app_client(settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of a fresh app (lifespan entered)."""
    async with running_app(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     timeout=30) as http:
            yield http


def agent_url(agent: str, path: str) -> str:
    """A 1.0 REST path of ``agent``."""
    return f"/agents/{agent}/v1{path}"


async def send(http: httpx.AsyncClient, agent: str, body: dict[str, Any],
               base: str = "") -> dict[str, Any]:
    """message:send (1.0, demo tenant); the task."""
    sent = await http.post(base + agent_url(agent, "/message:send"), json=body,
                           headers={**DEMO, **V1})
    assert sent.status_code == 200, sent.text
    task: dict[str, Any] = sent.json()["task"]
    return task


def data_parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The DataParts' objects of a 1.0 message."""
    return [p["data"] for p in message.get("parts", []) if "data" in p]
