"""Shannon's and agentlin's task views of an LLM agent's tasks: usage, model, provider, timeout."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from a2a_server.settings import Settings
from tests.conftest import REPO, LiveServer
from tests.llm.conftest import Provider, app_client, llm_options, write_agent
from tests.seeds.test_samples import python_sample

SHANNON = {"X-API-Key": "demo-key"}
AGENTLIN = {"Authorization": "Bearer demo-key"}
USAGE = {"prompt_tokens": 12, "completion_tokens": 8}


async def _submit_and_wait(http: httpx.AsyncClient, agent: str, query: str) -> dict[str, Any]:
    """Shannon's submit, then its status polled until the task is no longer queued or running."""
    sent = await http.post("/api/v1/tasks", json={"query": query, "session_id": "s-1"},
                           headers={**SHANNON, "X-Agent-ID": agent})
    assert sent.status_code == 200, sent.text
    task_id = sent.json()["task_id"]
    for _ in range(200):
        got = await http.get(f"/api/v1/tasks/{task_id}", headers=SHANNON)
        assert got.status_code == 200, got.text
        status: dict[str, Any] = got.json()
        if status["status"] not in ("TASK_STATUS_QUEUED", "TASK_STATUS_RUNNING"):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish: {status}")


async def test_an_llm_answer_carries_usage_model_and_provider_in_both_views(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    provider.script({"kind": "text", "text": '{"answer": 42}', "usage": USAGE})
    async with app_client(settings_for(backend, agents_dir=agents_dir)) as http:
        shannon = await _submit_and_wait(http, "assistant", "The answer, as JSON?")
        agentlin = (await http.get(f"/tasks/{shannon['task_id']}", headers=AGENTLIN)).json()
    assert shannon["status"] == "TASK_STATUS_COMPLETED"
    assert shannon["result"] == '{"answer": 42}'
    assert shannon["response"] == {"answer": 42}  # the text was JSON
    assert shannon["model_used"] == "standin-1" and shannon["provider"] == "standin"
    assert shannon["usage"] == {"total_tokens": 20, "input_tokens": 12, "output_tokens": 8,
                                "estimated_cost": pytest.approx(12e-6 + 8 * 2e-6)}
    assert shannon["session_id"] == "s-1" and shannon["query"] == "The answer, as JSON?"
    result = agentlin["result"]
    assert result["object"] == "task" and result["status"] == "completed"
    assert result["session_id"] == "s-1"
    assert result["usage"]["total_tokens"] == 20


async def test_a_run_stopped_by_its_timeout_is_timeout_and_expired(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    write_agent(agents_dir, "slowpoke", llm_options(provider, timeout_seconds=1))
    provider.script({"kind": "stall", "text": "Once upon a time", "chunk": 5, "seconds": 5})
    async with app_client(settings_for(backend, agents_dir=agents_dir)) as http:
        shannon = await _submit_and_wait(http, "slowpoke", "tell me a story")
        agentlin = (await http.get(f"/tasks/{shannon['task_id']}", headers=AGENTLIN)).json()
    assert shannon["status"] == "TASK_STATUS_TIMEOUT"
    assert "timeout" in shannon["error"]
    assert agentlin["result"]["status"] == "expired"


async def test_the_seed_pages_submit_and_wait_sample_with_an_llm_agent(
    backend: str, live_server_factory: Callable[..., LiveServer], agents_dir: Path,
    provider: Provider, tmp_path: Path,
) -> None:
    tenants = tmp_path / "tenants"
    shutil.copytree(REPO / "tenants", tenants)
    demo = tenants / "demo.yaml"
    demo.write_text(demo.read_text().replace("default_agent: echo", "default_agent: assistant"))
    provider.rule("What is Python?", {"kind": "text", "text": "A programming language.",
                                      "usage": USAGE})
    server = live_server_factory(backend, agents_dir=agents_dir, tenants_dir=tenants)
    done = python_sample("submit_and_wait.py", tmp_path, server.url)
    assert done.returncode == 0, done.stderr
    submitted, result = done.stdout.splitlines()
    assert result == "A programming language."
    async with httpx.AsyncClient(timeout=10) as http:
        got = await http.get(f"{server.url}/api/v1/tasks/{submitted.removeprefix('Task submitted: ')}",
                             headers=SHANNON)
    assert got.json()["usage"]["total_tokens"] == 20
    assert got.json()["model_used"] == "standin-1"
