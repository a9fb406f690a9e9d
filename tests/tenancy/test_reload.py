"""Tenant files reloaded without a restart: revocation, new keys, broken files, SIGHUP,
streams across a reload, replicas each watching their own directory.

Servers are the real ones (in-process apps, uvicorn in a thread, or a ``serve`` process);
the files are edited with the operator's own tools (``a2a_server.tenancy.admin``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from a2a_server.settings import Settings
from a2a_server.tenancy.admin import add_key, revoke_key
from a2a_server.tenancy.config import sha256_hex
from a2a_server.tenancy.reload import TenantReloader
from tests.conftest import JWT_SECRET, REPO, V1, LiveServer, free_port, running_app, user_message_v1
from tests.protocol.sse import read_events

PROBE = "/agents/echo/v1/tasks/no-such-task"  # 404 when authenticated, 401 when not
KEYS = {"old": "old-key-0123", "unused": "unused-key-0123", "new": "new-key-0123"}
POLL = 0.1  # seconds between polls in these tests (the default is 5)


def write_tenants(directory: Path, keys: dict[str, str] | None = None,
                  clients: dict[str, str] | None = None) -> Path:
    """``demo`` (with ``keys`` and ``clients``) and ``acme`` tenant files in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    keys = KEYS if keys is None else keys
    clients = {"demo-client": "demo-secret"} if clients is None else clients
    lines = ["# the demo tenant, for the reload tests", "name: demo", 'agents: ["*"]', "clients:"]
    for client_id, secret in clients.items():
        lines += [f"  - client_id: {client_id}", f"    secret_sha256: {sha256_hex(secret)}"]
    lines.append("api_keys:")
    for name, key in keys.items():
        lines += [f"  - name: {name}", f"    sha256: {sha256_hex(key)}  # {name}"]
    (directory / "demo.yaml").write_text("\n".join(lines) + "\n")
    shutil.copy(REPO / "tenants" / "acme.yaml", directory / "acme.yaml")
    return directory


def headers(key: str) -> dict[str, str]:
    return {"Tenant-Name": "demo", "X-API-Key": key, **V1}


async def status(http: httpx.AsyncClient, base: str, key: str) -> int:
    return (await http.get(f"{base}{PROBE}", headers=headers(key))).status_code


async def wait_status(http: httpx.AsyncClient, base: str, key: str, wanted: int,
                      seconds: float = 15) -> None:
    """Until ``key`` gets ``wanted`` (the reload is asynchronous); fails after ``seconds``."""
    deadline = time.monotonic() + seconds
    while (got := await status(http, base, key)) != wanted:
        if time.monotonic() > deadline:
            raise AssertionError(f"{key} still answered {got}, not {wanted}, after {seconds} s")
        await asyncio.sleep(0.05)


async def send(http: httpx.AsyncClient, base: str, key: str, text: str) -> httpx.Response:
    return await http.post(f"{base}/agents/echo/v1/message:send", json=user_message_v1(text),
                           headers=headers(key))


@pytest.fixture
async def app_on(
    settings_for: Callable[..., Settings], tmp_path: Path,
) -> AsyncIterator[Callable[..., Any]]:
    """An in-process app on the given backend, its tenants in ``tmp_path/tenants``
    (reloads only when the test asks: polling off)."""
    opened: list[Any] = []

    async def start(backend: str = "memory", **overrides: Any) -> tuple[Any, httpx.AsyncClient]:
        settings = settings_for(backend, tenants_dir=tmp_path / "tenants",
                                tenants_reload_seconds=0, **overrides)
        context = running_app(settings)
        app = await context.__aenter__()
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver")
        opened.append((context, http))
        return app, http

    yield start
    for context, http in reversed(opened):
        await http.aclose()
        await context.__aexit__(None, None, None)


def reloader_of(app: Any) -> TenantReloader:
    reloader = app.state.tenant_reloader
    assert isinstance(reloader, TenantReloader)
    return reloader


async def test_a_reload_revokes_a_key_fresh_and_cached_on_a_running_server(
    backend: str, live_server_factory: Callable[..., LiveServer], tmp_path: Path,
) -> None:
    tenants = write_tenants(tmp_path / "tenants")
    server = live_server_factory(backend, tenants_dir=tenants, tenants_reload_seconds=POLL)
    registry = server.app.state.server.tenants
    async with httpx.AsyncClient(timeout=30) as http:
        # Rotation's middle step: the old and the new key are both valid.
        for key in (KEYS["old"], KEYS["new"]):
            assert (await send(http, server.url, key, "before")).status_code == 200
        assert await status(http, server.url, KEYS["old"]) == 404
        assert registry.holds(KEYS["old"])  # the next use would be answered from the cache
        assert not registry.holds(KEYS["unused"])
        generation = registry.generation

        revoke_key(tenants, "demo", "old")
        revoke_key(tenants, "demo", "unused")

        await wait_status(http, server.url, KEYS["old"], 401)
        assert registry.generation > generation
        refused = await send(http, server.url, KEYS["old"], "after")
        assert refused.status_code == 401
        assert await status(http, server.url, KEYS["unused"]) == 401  # never cached, revoked
        assert (await send(http, server.url, KEYS["new"], "after")).status_code == 200


async def test_a_reload_adds_a_key(backend: str, app_on: Callable[..., Any],
                                   tmp_path: Path) -> None:
    tenants = write_tenants(tmp_path / "tenants")
    app, http = await app_on(backend)
    key = add_key(tenants, "demo", "ci")
    assert await status(http, "", key) == 401  # not before the reload
    assert await reloader_of(app).check()  # the poll's step: the files changed
    assert (await send(http, "", key, "with the new key")).status_code == 200
    assert await status(http, "", KEYS["old"]) == 404  # the others are untouched


async def test_a_reload_enables_and_disables_an_agent(app_on: Callable[..., Any],
                                                      tmp_path: Path) -> None:
    tenants = write_tenants(tmp_path / "tenants")
    app, http = await app_on()
    acme = {"Tenant-Name": "acme", "X-API-Key": "acme-key", **V1}
    conformance = "/agents/conformance/v1/message:send"
    assert (await http.post(conformance, json=user_message_v1("hi"), headers=acme)).status_code == 404
    acme_file = tenants / "acme.yaml"
    acme_file.write_text(acme_file.read_text().replace('agents: ["echo"]',
                                                       'agents: ["echo", "conformance"]'))
    assert await reloader_of(app).check()
    assert (await http.post(conformance, json=user_message_v1("hi"), headers=acme)).status_code == 200
    acme_file.write_text(acme_file.read_text().replace('agents: ["echo", "conformance"]',
                                                       'agents: ["conformance"]')
                         .replace("default_agent: echo", "default_agent: conformance"))
    assert await reloader_of(app).check()
    echo = await http.post("/agents/echo/v1/message:send", json=user_message_v1("hi"), headers=acme)
    assert echo.status_code == 404


async def test_a_broken_file_keeps_the_old_configuration_and_says_why(
    app_on: Callable[..., Any], tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    tenants = write_tenants(tmp_path / "tenants")
    app, http = await app_on()
    reloader = reloader_of(app)
    generation = app.state.server.tenants.generation
    demo = tenants / "demo.yaml"
    good = demo.read_text()
    # Revokes "old" and breaks "new"'s digest in the same edit: nothing of it may apply.
    demo.write_text(good.replace(f"  - name: old\n    sha256: {sha256_hex(KEYS['old'])}  # old\n", "")
                    .replace(sha256_hex(KEYS["new"]), "not-a-digest"))
    with caplog.at_level(logging.INFO, logger="a2a_server.tenancy.reload"):
        assert not await reloader.check()
        assert not await reloader.check()  # the same broken files: not read (or logged) again
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    line = errors[0].getMessage()
    assert "\n" not in line
    assert str(demo) in line and "field 'api_keys.1.sha256'" in line
    assert "previous configuration stays in use" in line
    assert app.state.server.tenants.generation == generation
    assert await status(http, "", KEYS["old"]) == 404  # still valid: the old files rule
    assert await status(http, "", KEYS["new"]) == 404

    (tenants / "acme.yaml").write_text("name: acme\nagents: [echo\n")  # not even YAML
    with caplog.at_level(logging.INFO, logger="a2a_server.tenancy.reload"):
        caplog.clear()
        assert not await reloader.check()
    [unparsable] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "\n" not in unparsable
    assert "acme.yaml: not valid YAML: line 3, column 1:" in unparsable
    shutil.copy(REPO / "tenants" / "acme.yaml", tenants / "acme.yaml")

    demo.write_text(good.replace(f"  - name: old\n    sha256: {sha256_hex(KEYS['old'])}  # old\n", ""))
    assert await reloader.check()
    assert await status(http, "", KEYS["old"]) == 401
    assert await status(http, "", KEYS["new"]) == 404


async def test_a_removed_oauth_client_s_cached_token_stops_working(
    app_on: Callable[..., Any], tmp_path: Path,
) -> None:
    tenants = write_tenants(tmp_path / "tenants",
                        clients={"demo-client": "demo-secret", "other": "other-secret"})
    app, http = await app_on()
    tokens = {}
    for client, secret in (("demo-client", "demo-secret"), ("other", "other-secret")):
        issued = await http.post("/realms/demo/protocol/openid-connect/token", data={
            "grant_type": "client_credentials", "client_id": client, "client_secret": secret})
        assert issued.status_code == 200
        tokens[client] = {"Authorization": f"Bearer {issued.json()['access_token']}",
                          "Tenant-Name": "demo"}
    for auth in tokens.values():
        assert (await http.get(PROBE, headers=auth)).status_code == 404
    issuer = app.state.server.tokens
    assert issuer.holds(tokens["other"]["Authorization"].removeprefix("Bearer "))

    write_tenants(tenants, clients={"demo-client": "demo-secret"})  # "other" removed
    assert await reloader_of(app).check()
    assert issuer.holds(tokens["other"]["Authorization"].removeprefix("Bearer "))  # still cached
    assert (await http.get(PROBE, headers=tokens["other"])).status_code == 401
    assert (await http.get(PROBE, headers=tokens["demo-client"])).status_code == 404


async def test_a_stream_open_across_a_reload_keeps_going(
    backend: str, live_server_factory: Callable[..., LiveServer], tmp_path: Path,
) -> None:
    from tests.test_replicas import agents_with_slow

    tenants = write_tenants(tmp_path / "tenants")
    server = live_server_factory(backend, tenants_dir=tenants, tenants_reload_seconds=POLL,
                                 agents_dir=agents_with_slow(tmp_path / "agents", 1.5))
    async with httpx.AsyncClient(timeout=30) as http:
        async with http.stream("POST", f"{server.url}/agents/echo/v1/message:stream",
                               json=user_message_v1("slow across a reload"),
                               headers=headers(KEYS["old"])) as response:
            assert response.status_code == 200
            events = aiter(read_events(response))
            task_id = (await anext(events)).data["task"]["id"]
            # The stream's own key is revoked while the agent works.
            revoke_key(tenants, "demo", "old")
            await wait_status(http, server.url, KEYS["old"], 401)
            during = await http.get(f"{server.url}/agents/echo/v1/tasks/{task_id}",
                                    headers=headers(KEYS["new"]))
            assert during.json()["status"]["state"] == "TASK_STATE_WORKING"  # reloaded mid-run
            rest = [event async for event in events]
    states = [e.data["statusUpdate"]["status"]["state"] for e in rest if "statusUpdate" in e.data]
    assert states[-1] == "TASK_STATE_COMPLETED"
    assert any("artifactUpdate" in e.data for e in rest)


async def test_two_replicas_each_pick_up_a_revocation_from_their_own_files(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path,
) -> None:
    dirs = [write_tenants(tmp_path / f"tenants-{name}") for name in ("a", "b")]
    a, b = (live_server_factory("redis", tenants_dir=d, tenants_reload_seconds=POLL) for d in dirs)
    async with httpx.AsyncClient(timeout=30) as http:
        for replica in (a, b):
            assert (await send(http, replica.url, KEYS["old"], "cached")).status_code == 200
            assert replica.app.state.server.tenants.holds(KEYS["old"])
        revoke_key(dirs[0], "demo", "old")  # A's mount changes first
        await wait_status(http, a.url, KEYS["old"], 401)
        assert await status(http, b.url, KEYS["old"]) == 404  # nothing shared: B is unchanged
        revoke_key(dirs[1], "demo", "old")
        await wait_status(http, b.url, KEYS["old"], 401)
        for replica in (a, b):
            assert (await send(http, replica.url, KEYS["new"], "still fine")).status_code == 200


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[Callable[..., tuple[str, subprocess.Popen[bytes]]]]:
    """``a2a-server serve`` in its own process (so it can be sent signals)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(tenants: Path, **env: str) -> tuple[str, subprocess.Popen[bytes]]:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "a2a_server", "serve", "--port", str(port),
             "--tenants-dir", str(tenants)],
            env={**os.environ, "A2A_SERVER_JWT_SECRET": JWT_SECRET,
                 "A2A_SERVER_LOG_LEVEL": "warning", **env},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    return base, proc
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the server process did not start")

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


async def test_sighup_reloads_a_server_process(
    serve_process: Callable[..., tuple[str, subprocess.Popen[bytes]]], tmp_path: Path,
) -> None:
    tenants = write_tenants(tmp_path / "tenants")
    base, proc = serve_process(tenants, A2A_SERVER_TENANTS_RELOAD_SECONDS="0")  # SIGHUP only
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await send(http, base, KEYS["old"], "before")).status_code == 200
        revoke_key(tenants, "demo", "old")
        key = add_key(tenants, "demo", "rotated")
        # Without polling nothing changes until the signal.
        assert await status(http, base, KEYS["old"]) == 404
        assert await status(http, base, key) == 401
        proc.send_signal(signal.SIGHUP)
        await wait_status(http, base, KEYS["old"], 401)
        assert proc.poll() is None  # SIGHUP reloads; it does not stop the server
        assert (await send(http, base, key, "after")).status_code == 200
