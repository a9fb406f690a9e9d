"""Shared fixtures: real redis-server processes, app factories, in-process and live servers."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from a2a_server.app import create_app
from a2a_server.settings import Settings
from a2a_server.stores.base import Stores
from a2a_server.stores.memory import InMemoryStores
from a2a_server.stores.redis import RedisStores, create_redis_client

REPO = Path(__file__).resolve().parent.parent

# Generated-input tests (tests/protocol/test_generated_input.py): "ci" is bounded and
# reproducible (the default); "long" is the documented long run (docs/hardening.md).
hypothesis_settings.register_profile(
    "ci", max_examples=40, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
hypothesis_settings.register_profile(
    "long", max_examples=5_000, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
JWT_SECRET = "test-signing-key-0123456789abcdef0123456789"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """A real redis-server on a free loopback port; restartable for fault tests."""

    def __init__(self, *extra: str, port: int | None = None) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="a2a-redis-")
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--appendonly", "no", *self.extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return self
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_proc() -> Iterator[RedisProcess]:
    """One redis-server for the whole session (never the machine's shared 6379)."""
    proc = RedisProcess().start()
    yield proc
    proc.cleanup()


@pytest.fixture
def redis_url(redis_proc: RedisProcess) -> str:
    """The session Redis, flushed before each test."""
    import redis

    client = redis.Redis.from_url(redis_proc.url)
    client.flushall()
    client.close()
    return redis_proc.url


def make_settings(**overrides: Any) -> Settings:
    """Settings for a test app: fixed signing key, bundled tenants and agents."""
    values: dict[str, Any] = {
        "jwt_secret": JWT_SECRET,
        "public_url": "http://testserver",
        "tenants_dir": REPO / "tenants",
        "agents_dir": REPO / "agent_cards",
        "gc_tuning": False,  # a test process builds hundreds of apps: let the GC have them
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    """Run a test against each store backend."""
    return str(request.param)


@pytest.fixture
def settings_for(request: pytest.FixtureRequest) -> Callable[..., Settings]:
    """Settings for the requested backend ('memory' or 'redis')."""

    def build(backend: str = "memory", **overrides: Any) -> Settings:
        if backend == "redis":
            overrides.setdefault("redis_url", request.getfixturevalue("redis_url"))
        return make_settings(**overrides)

    return build


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[Any]:
    """An app with its lifespan entered."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(backend: str, settings_for: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of a fresh app on each backend."""
    async with running_app(settings_for(backend)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


class LiveServer:
    """A real uvicorn server in a thread (for SSE and multi-replica tests)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=settings.port,
                                log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live_server_factory(settings_for: Callable[..., Settings]) -> Iterator[Callable[..., LiveServer]]:
    """Start live servers on free ports; all are stopped after the test."""
    servers: list[LiveServer] = []

    def start(backend: str = "memory", **overrides: Any) -> LiveServer:
        port = free_port()
        overrides.setdefault("public_url", f"http://127.0.0.1:{port}")
        server = LiveServer(settings_for(backend, port=port, **overrides)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# Credentials of the two shipped tenants (documented as local-only).
DEMO = {"Tenant-Name": "demo", "X-API-Key": "demo-key"}
ACME = {"Tenant-Name": "acme", "X-API-Key": "acme-key"}
V1 = {"A2A-Version": "1.0"}


def user_message_v03(text: str, **extra: Any) -> dict[str, Any]:
    """A 0.3 (Corti) message:send body."""
    message = {"kind": "message", "role": "user", "messageId": os.urandom(8).hex(),
               "parts": [{"kind": "text", "text": text}], **extra}
    return {"message": message}


def user_message_v1(text: str, **extra: Any) -> dict[str, Any]:
    """A 1.0 SendMessageRequest body."""
    message = {"role": "ROLE_USER", "messageId": os.urandom(8).hex(),
               "parts": [{"text": text}], **extra}
    return {"message": message}


# --- Redis Cluster (3 masters), for the tests marked ``cluster`` ---------------------------


class RedisClusterProcesses:
    """Three real redis-server masters joined with ``redis-cli --cluster create``."""

    def __init__(self, masters: int = 3) -> None:
        self.ports = [_cluster_port() for _ in range(masters)]
        self.dir = tempfile.mkdtemp(prefix="a2a-cluster-")
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> RedisClusterProcesses:
        try:
            return self._start()
        except BaseException:
            self.cleanup()
            raise

    def _start(self) -> RedisClusterProcesses:
        for port in self.ports:
            self.procs.append(subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", self.dir,
                 "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                 "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in self.ports:
            _wait_port(port)
        subprocess.run(["redis-cli", "--cluster", "create",
                        *(f"127.0.0.1:{p}" for p in self.ports), "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            import redis

            client = redis.Redis(port=self.ports[0])
            info = client.execute_command("CLUSTER INFO")
            client.close()
            if "ok" in (info.get("cluster_state"), info.get(b"cluster_state")):
                return self
            time.sleep(0.1)
        raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")

    def flush(self) -> None:
        import redis

        for port in self.ports:
            client = redis.Redis(port=port)
            client.flushall()
            client.close()

    def cleanup(self) -> None:
        for proc in self.procs:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is valid and free too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"redis-server did not start on port {port}")


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterProcesses]:
    """A 3-master Redis Cluster for the session (never the machine's Redis)."""
    if shutil.which("redis-cli") is None:
        raise RuntimeError("redis-cli is not installed")
    cluster = RedisClusterProcesses().start()
    yield cluster
    cluster.cleanup()


@pytest.fixture
def redis_cluster_url(redis_cluster: RedisClusterProcesses) -> str:
    """The session cluster, flushed before each test."""
    redis_cluster.flush()
    return redis_cluster.url


@pytest.fixture
def stores_factory(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., Stores]]:
    """Build (unstarted) store backends of a kind; closed by the caller or at teardown."""
    made: list[Stores] = []

    def build(kind: str, **options: object) -> Stores:
        if kind == "memory":
            stores: Stores = InMemoryStores()
        else:
            cluster = kind == "cluster"
            url = request.getfixturevalue("redis_cluster_url" if cluster else "redis_url")
            ttl = options.pop("tenant_ttl", lambda _name: None)
            stores = RedisStores(create_redis_client(url, cluster=cluster), ttl,  # type: ignore[arg-type]
                                 **options)  # type: ignore[arg-type]
        made.append(stores)
        return stores

    yield build
