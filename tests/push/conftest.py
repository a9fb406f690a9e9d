"""Fixtures for push delivery: a real webhook receiver process and apps that deliver fast."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from a2a_server.settings import Settings
from tests.conftest import DEMO, REPO, V1, free_port, running_app, user_message_v1

AUTH = {**DEMO, **V1}
BASE = "/agents/conformance/v1"
CHUNKED = "tck-stream-artifact-chunked"  # task, working, two artifact chunks, completed
OPEN = "tck-input-required"  # the task stays open: follow-ups add notifications
# Retries fast enough for a test; the policy allows the receiver on loopback.
FAST = {
    "push_url_allowlist": ["127.0.0.0/8"],
    "push_retry_base_seconds": 0.05,
    "push_retry_max_seconds": 0.3,
    "push_poll_seconds": 0.05,
    "push_timeout_seconds": 2.0,
}


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    raw: bytes
    answered: int

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def delivery_id(self) -> str:
        return self.headers["x-a2a-delivery-id"]


class Receiver:
    """The stand-in webhook (``tests/push/receiver.py``) in its own process."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.push.receiver", str(self.port), str(self.log)],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port),
                                                                        0.2):
                return self
            time.sleep(0.02)
        raise RuntimeError("the receiver did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def script(self, *steps: dict[str, Any]) -> None:
        httpx.post(f"http://127.0.0.1:{self.port}/_script", json=list(steps), timeout=5)

    def received(self) -> list[Received]:
        if not self.log.exists():
            return []
        items = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [Received(i["path"], i["headers"], base64.b64decode(i["body"]), i["answered"])
                for i in items]

    async def until(self, check: Callable[[list[Received]], bool],
                    seconds: float = 20) -> list[Received]:
        deadline = time.monotonic() + seconds
        while True:
            got = self.received()
            if check(got):
                return got
            if time.monotonic() > deadline:
                raise AssertionError("the receiver never got what was expected: "
                                     f"{[(r.delivery_id, r.answered) for r in got]}")
            await asyncio.sleep(0.05)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    """A webhook receiver on a free port (stopped after the test)."""
    hook = Receiver(tmp_path / "received.jsonl").start()
    yield hook
    hook.stop()


@pytest.fixture
def push_client(backend: str, settings_for: Callable[..., Settings]
                ) -> Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]:
    """``async with push_client(**overrides) as http``: an in-process app that delivers fast."""

    @contextlib.asynccontextmanager
    async def open_client(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        async with running_app(settings_for(backend, **{**FAST, **overrides})) as app:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://testserver") as http:
                yield http

    return open_client


def message(prefix: str, task_id: str | None = None) -> dict[str, Any]:
    """A message:send body for the conformance agent's behaviour ``prefix``."""
    body = user_message_v1("hi", messageId=f"{prefix}-{uuid.uuid4()}")
    if task_id is not None:
        body["message"]["taskId"] = task_id
    return body


def with_webhook(prefix: str, url: str, config_id: str = "hook", **config: Any) -> dict[str, Any]:
    """A message:send body registering a webhook inline."""
    body = message(prefix)
    body["configuration"] = {"taskPushNotificationConfig": {"id": config_id, "url": url,
                                                            **config}}
    return body


async def send(http: httpx.AsyncClient, body: dict[str, Any], base: str = BASE,
               headers: dict[str, str] | None = None) -> dict[str, Any]:
    sent = await http.post(f"{base}/message:send", json=body, headers=headers or AUTH)
    assert sent.status_code == 200, sent.text
    return sent.json()["task"]  # type: ignore[no-any-return]


def state_of(notification: Any) -> str | None:
    """The task state a notification body carries (None for an artifact update)."""
    for key in ("task", "statusUpdate"):
        if key in notification:
            return notification[key]["status"]["state"]  # type: ignore[no-any-return]
    return None


def version_of(received: Received) -> tuple[int, int]:
    """The (version, n) of a delivery id ``<task>:<version>-<n>``."""
    version, n = received.delivery_id.rsplit(":", 1)[1].split("-")
    return int(version), int(n)
