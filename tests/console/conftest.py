"""Browser fixtures: Debian's Chromium driven by Playwright against live servers.

Playwright's own browser download is not available here, so the browser is the system's
``chromium`` (``.ci/run`` installs it when missing), launched through ``executable_path``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.conftest import REPO, V1, LiveServer

CHROMIUM = os.environ.get("A2A_CHROMIUM", "/usr/bin/chromium")
DEMO_CLIENT = {"tenant": "demo", "client_id": "demo-client", "secret": "demo-secret"}
VIEWPORT = {"width": 1280, "height": 860}

expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver, for this module's tests only (it runs its own event loop)."""
    if shutil.which(CHROMIUM) is None:
        raise RuntimeError(f"{CHROMIUM} not found: apt-get install -y chromium (or set A2A_CHROMIUM)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless Chromium (Playwright adds --no-sandbox itself when running as root)."""
    launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
    yield launched
    launched.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[[], Page]]:
    """Pages in fresh browser contexts (separate session storage: separate people)."""
    contexts: list[BrowserContext] = []

    def open_page() -> Page:
        context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.errors = errors  # type: ignore[attr-defined]
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[[], Page]) -> Page:
    """One person's page."""
    return new_page()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests save screenshots of the main pages (under pytest's tmp dir)."""
    directory = tmp_path_factory.getbasetemp() / "console-screenshots"
    directory.mkdir(exist_ok=True)
    return directory


def agents_dir(tmp: Path, slow_seconds: float) -> Path:
    """The shipped agents (echo's 'slow' taking ``slow_seconds``), a client-tool agent and one
    that streams artifacts in chunks."""
    directory = tmp / "agents"
    shutil.copytree(REPO / "agent_cards", directory)
    (directory / "echo.binding.yaml").write_text(
        f"executor: echo\noptions:\n  slow_seconds: {slow_seconds}\n")
    card = json.loads((REPO / "agent_cards" / "echo.json").read_text())
    card.update(name="Weather tool", description="Asks the client to run get_weather.")
    (directory / "toolcall.json").write_text(json.dumps(card))
    (directory / "toolcall.binding.yaml").write_text("executor: tests.agents:ToolCallExecutor\n")
    card.update(name="Artifacts", description="Streams a chunked text, a data and a file artifact.")
    (directory / "artifacts.json").write_text(json.dumps(card))
    (directory / "artifacts.binding.yaml").write_text("executor: tests.agents:ArtifactsExecutor\n")
    card.update(name="Direct", description="Answers with a message, no task.")
    (directory / "direct.json").write_text(json.dumps(card))
    (directory / "direct.binding.yaml").write_text("executor: tests.agents:DirectReplyExecutor\n")
    return directory


@pytest.fixture
def start_console(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path
) -> Callable[..., LiveServer]:
    """Start a live server (a replica) for the console; replicas of one test share the agents."""

    def start(backend: str, slow_seconds: float = 2, **overrides: Any) -> LiveServer:
        directory = tmp_path / "agents"
        if not directory.exists():
            agents_dir(tmp_path, slow_seconds)
        return live_server_factory(backend, agents_dir=directory, **overrides)

    return start


def sign_in_with_client(page: Page, server: LiveServer, tenant: str = "demo",
                        client_id: str = "demo-client", secret: str = "demo-secret") -> None:
    """Sign in on the console with OAuth2 client credentials."""
    page.goto(f"{server.url}/console")
    page.get_by_label("Tenant").fill(tenant)
    page.get_by_label("Client ID").fill(client_id)
    page.get_by_label("Client secret").fill(secret)
    page.get_by_role("button", name="Sign in").click()


def sign_in_with_key(page: Page, server: LiveServer, tenant: str, key: str) -> None:
    """Sign in on the console with an API key."""
    page.goto(f"{server.url}/console")
    page.get_by_label("Tenant").fill(tenant)
    page.get_by_label("An API key").check()
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Sign in").click()


def api(server: LiveServer, headers: dict[str, str]) -> httpx.Client:
    """A plain HTTP client of the server (tasks started 'elsewhere', checks of the API)."""
    return httpx.Client(base_url=server.url, headers={**headers, **V1}, timeout=30)


def shot(page: Page, directory: Path, name: str) -> Path:
    """Save a full-page screenshot."""
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
