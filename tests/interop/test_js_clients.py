"""Unmodified JavaScript clients against a live server: Corti's ``@corti/sdk`` and ``@a2a-js/sdk``.

The Node scripts live in ``tests/interop/js`` (versions pinned by its
package-lock.json); missing packages are installed with ``npm ci``. Each
script prints one JSON line per step; every expected step must be present
and succeed. Without Node.js these tests fail: they are part of the suite.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.interop, pytest.mark.timeout(300)]

JS_DIR = Path(__file__).resolve().parent / "js"
PACKAGES = ("@corti/sdk", "@a2a-js/sdk")


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is required for the interop tests (Node.js 20+ with npm; "
                    "apt-get install nodejs npm); it is not on PATH", pytrace=False)
    return path


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary, with the scripts' packages installed (``npm ci`` if missing)."""
    node_bin = _require("node")
    if not all((JS_DIR / "node_modules" / name / "package.json").exists() for name in PACKAGES):
        npm = _require("npm")
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR,
                              capture_output=True, text=True, timeout=280, check=False)
        if done.returncode != 0:
            pytest.fail(f"npm ci failed in {JS_DIR}:\n{done.stdout}\n{done.stderr}", pytrace=False)
    return node_bin


def _run(node: str, script: str, *args: str) -> list[dict[str, Any]]:
    done = subprocess.run([node, script, *args], cwd=JS_DIR, capture_output=True, text=True,
                          timeout=120, check=False)
    steps = []
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            steps.append(json.loads(line))
    failed = [s for s in steps if not s["ok"]]
    assert not failed and done.returncode == 0, (
        f"{script} exited {done.returncode}; failed steps: {json.dumps(failed, indent=1)}\n"
        f"stderr:\n{done.stderr[-3000:]}")
    return steps


def _names(steps: list[dict[str, Any]]) -> list[str]:
    return [s["step"] for s in steps]


def test_corti_sdk_client_credentials_end_to_end(
        node: str, backend: str, live_server_factory: Callable[..., Any]) -> None:
    """@corti/sdk with a custom environment: token, list, get, card, send, get task, context."""
    server = live_server_factory(backend)
    steps = _run(node, "corti_client.mjs", server.url, "demo", "demo-client", "demo-secret")
    assert _names(steps) == ["authenticate", "agents.list", "agents.get", "agents.getCard",
                             "agents.messageSend", "agents.getTask(historyLength=1)",
                             "agents.getTask", "agents.getContext"]
    by_name = {s["step"]: s["detail"] for s in steps}
    assert "echo" in by_name["agents.list"]["ids"]
    assert by_name["agents.getCard"]["url"] == f"{server.url}/agents/echo/v1"
    assert by_name["agents.getTask(historyLength=1)"]["history"] == 1
    assert by_name["agents.getTask"]["history"] == 2


def test_corti_sdk_agent_crud(node: str, backend: str, live_server_factory: Callable[..., Any],
                              tmp_path: Path) -> None:
    """@corti/sdk creates (with a reference and an inline expert with an MCP server), updates,
    lists, gets, reads the card of and deletes an agent; every answer passes its strict schema."""
    policy = tmp_path / "tenant-agents.yaml"
    policy.write_text("kinds: [llm]\nllm: {base_url: 'http://127.0.0.1:9/v1', model: m}\n")
    server = live_server_factory(backend, tenant_agents_file=policy)
    steps = _run(node, "corti_agents_crud.mjs", server.url, "demo", "demo-client", "demo-secret")
    assert _names(steps) == ["agents.create", "agents.update", "agents.list", "agents.get",
                             "agents.getCard", "agents.delete", "agents.get after delete: 404"]
    by_name = {s["step"]: s["detail"] for s in steps}
    assert by_name["agents.create"]["experts"] == ["reference", "expert"]
    assert by_name["agents.create"]["id"] in by_name["agents.list"]["ids"]


def test_corti_sdk_wrong_secret_is_refused(
        node: str, backend: str, live_server_factory: Callable[..., Any]) -> None:
    """The same client with a bad secret gets no token, and so no agents."""
    server = live_server_factory(backend)
    done = subprocess.run([node, "corti_client.mjs", server.url, "demo", "demo-client", "wrong"],
                          cwd=JS_DIR, capture_output=True, text=True, timeout=120, check=False)
    steps = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 1
    assert steps[0]["step"] == "authenticate" and not steps[0]["ok"]
    assert not any(s["ok"] for s in steps if s["step"].startswith("agents."))


# (card path, tenant named when fetching the card, credentials)
DISCOVERY = [
    pytest.param("/agents/echo/v1/.well-known/agent-card.json", "demo", "apikey:demo-key",
                 id="v1-card-apikey"),
    pytest.param("/agents/echo/agent-card.json", "demo", "oauth:demo-client:demo-secret",
                 id="corti-card-oauth2"),
    pytest.param("/agents/echo/v1/.well-known/agent-card.json", "-", "apikey:demo-key",
                 id="card-without-tenant-apikey"),
    pytest.param("/agentic/agents/echo/.well-known/agent-card.json", "demo", "apikey:demo-key",
                 id="v2-card-apikey"),
]


@pytest.mark.parametrize(("card_path", "tenant", "auth"), DISCOVERY)
@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
def test_a2a_js_client(node: str, backend: str, live_server_factory: Callable[..., Any],
                       binding: str, card_path: str, tenant: str, auth: str) -> None:
    """@a2a-js/sdk: discover from the card, send, get (historyLength), stream, cancel."""
    server = live_server_factory(backend)
    steps = _run(node, "a2a_js_client.mjs", f"{server.url}{card_path}", binding, tenant, auth)
    expected = ["discover", "send", "get (historyLength)", "stream", "cancel",
                "tenant carried as the A2A binding says"]
    if auth.startswith("oauth"):
        expected.insert(1, "oauth2 token (token URL from the card)")
    assert _names(steps) == expected
    interfaces = steps[0]["detail"]["interfaces"]
    prefix = "/agentic/agents/echo/a2a" if card_path.startswith("/agentic/") else "/agents/echo/v1"
    suffix = f"tenant={tenant}" if tenant != "-" else "tenant="
    assert f"{binding} {server.url}{prefix} {suffix}" in interfaces
