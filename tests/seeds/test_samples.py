"""The seed page's own sample clients against a live server, on both stores, with the echo agent.

The samples (``tests/seeds/samples``, see its README) are run as the page prints them,
with only the base URL, the key and the placeholder task id substituted: the Python
ones with this interpreter (httpx), the Node one with axios (``tests/seeds/js``,
pinned by its package-lock.json, ``npm ci`` when missing), the bash one with curl
and jq. Tasks are created through A2A and through Shannon's ``POST /api/v1/tasks``;
the echo agent's ``slow`` messages take a few seconds in ``working``, so the
polling loops see a running task first.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DEMO, V1, LiveServer, user_message_v1
from tests.test_replicas import agents_with_slow

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

SEEDS = Path(__file__).resolve().parent
SAMPLES = SEEDS / "samples"
JS_DIR = SEEDS / "js"
KEY = "demo-key"
SLOW_SECONDS = 3


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is required to run the seed page's samples; it is not on PATH",
                    pytrace=False)
    return path


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary, with axios installed (``npm ci`` if missing)."""
    node_bin = _require("node")
    if not (JS_DIR / "node_modules" / "axios" / "package.json").exists():
        done = subprocess.run([_require("npm"), "ci", "--no-audit", "--no-fund"], cwd=JS_DIR,
                              capture_output=True, text=True, timeout=170, check=False)
        if done.returncode != 0:
            pytest.fail(f"npm ci failed in {JS_DIR}:\n{done.stdout}\n{done.stderr}", pytrace=False)
    return node_bin


@pytest.fixture
def server(backend: str, live_server_factory: Callable[..., LiveServer],
           tmp_path: Path) -> LiveServer:
    """A live server on ``backend`` whose echo agent takes a few seconds on 'slow'."""
    return live_server_factory(backend, agents_dir=agents_with_slow(tmp_path / "agents",
                                                                    SLOW_SECONDS))


class Sample:
    """One sample file, with the base URL, key and task id substituted."""

    def __init__(self, name: str, tmp: Path) -> None:
        self.name = name
        self.tmp = tmp

    def run(self, command: list[str], base: str, task_id: str | None,
            *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        text = (SAMPLES / self.name).read_text()
        text = text.replace("http://localhost:8080", base).replace("sk_test_123456", KEY)
        if task_id is not None:
            text = text.replace("task_abc123", task_id)
        path = self.tmp / self.name
        path.write_text(text)
        return subprocess.run([*command, str(path), *args], capture_output=True, text=True,
                              timeout=120, check=False, env=env)


def python_sample(name: str, tmp: Path, base: str,
                  task_id: str | None = None) -> subprocess.CompletedProcess[str]:
    return Sample(name, tmp).run([sys.executable], base, task_id)


async def a2a_send(server: LiveServer, text: str) -> dict[str, Any]:
    """A task created through A2A (REST, 1.0), returned at its first commit."""
    body = {**user_message_v1(text), "configuration": {"returnImmediately": True}}
    async with httpx.AsyncClient(timeout=10) as http:
        sent = await http.post(f"{server.url}/agents/echo/v1/message:send", json=body,
                               headers={**DEMO, **V1})
    assert sent.status_code == 200, sent.text
    return sent.json()["task"]  # type: ignore[no-any-return]


async def shannon_submit(server: LiveServer, query: str) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        sent = await http.post(f"{server.url}/api/v1/tasks", json={"query": query},
                               headers={"X-API-Key": KEY})
    assert sent.status_code == 200, sent.text
    return str(sent.json()["task_id"])


async def shannon_cancel(server: LiveServer, task_id: str) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        done = await http.post(f"{server.url}/api/v1/tasks/{task_id}/cancel",
                               headers={"X-API-Key": KEY})
    assert done.status_code == 202, done.text


async def test_get_task_status_sample_reads_an_a2a_task(server: LiveServer, tmp_path: Path) -> None:
    task = await a2a_send(server, "status please")
    done = python_sample("get_task_status.py", tmp_path, server.url, task["id"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Status: TASK_STATUS_COMPLETED\nResult: echo: status please\n"


async def test_get_task_status_sample_gets_none_for_a_missing_task(server: LiveServer,
                                                                   tmp_path: Path) -> None:
    # The page's own placeholder id: a 404, which the sample turns into None (prints nothing).
    done = python_sample("get_task_status.py", tmp_path, server.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


async def test_wait_for_completion_sample_polls_a_running_task(server: LiveServer,
                                                               tmp_path: Path) -> None:
    task_id = await shannon_submit(server, "slow poll")
    done = python_sample("wait_for_completion.py", tmp_path, server.url, task_id)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Result: echo: slow poll\n"


async def test_wait_for_completion_sample_sees_a_cancelled_task(server: LiveServer,
                                                                tmp_path: Path) -> None:
    task_id = await shannon_submit(server, "slow to be cancelled")
    await shannon_cancel(server, task_id)
    done = python_sample("wait_for_completion.py", tmp_path, server.url, task_id)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Error: Task was cancelled\n"


async def test_submit_and_wait_sample(server: LiveServer, tmp_path: Path) -> None:
    done = python_sample("submit_and_wait.py", tmp_path, server.url)
    assert done.returncode == 0, done.stderr
    submitted, result = done.stdout.splitlines()
    assert result == "echo: What is Python?"
    task_id = submitted.removeprefix("Task submitted: ")
    # The same task through A2A: the query is the user's message.
    async with httpx.AsyncClient(timeout=10) as http:
        got = await http.get(f"{server.url}/agents/echo/v1/tasks/{task_id}", headers={**DEMO, **V1})
    assert got.status_code == 200, got.text
    assert got.json()["status"]["state"] == "TASK_STATE_COMPLETED"
    assert got.json()["history"][0]["parts"] == [{"text": "What is Python?"}]


async def test_node_sample_polls_to_the_result(server: LiveServer, tmp_path: Path,
                                               node: str) -> None:
    task = await a2a_send(server, "slow from node")
    env = {"NODE_PATH": str(JS_DIR / "node_modules"), "PATH": "/usr/bin:/bin"}
    done = Sample("get_task_status.js", tmp_path).run([node], server.url, task["id"], env=env)
    assert done.returncode == 0, done.stderr
    # getTaskStatus's first look (the task is still working), then waitForCompletion's result.
    assert done.stdout.splitlines() == ["Status: TASK_STATUS_RUNNING",
                                        "Result: echo: slow from node"]


async def test_bash_sample_monitors_to_completion(server: LiveServer, tmp_path: Path) -> None:
    task_id = await shannon_submit(server, "slow from bash")
    done = Sample("monitor_task.sh", tmp_path).run([_require("bash")], server.url, None, task_id)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "Status: TASK_STATUS_RUNNING" in lines[2]
    assert lines[-3:] == ["✓ Task completed!", "", "echo: slow from bash"]


async def test_bash_sample_reports_a_cancelled_task(server: LiveServer, tmp_path: Path) -> None:
    task_id = await shannon_submit(server, "slow, then cancelled")
    await shannon_cancel(server, task_id)
    done = Sample("monitor_task.sh", tmp_path).run([_require("bash")], server.url, None, task_id)
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == "✗ Task cancelled!"
