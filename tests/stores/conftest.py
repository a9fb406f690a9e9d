"""Store fixtures: every backend (memory, a real Redis, a real 3-master Redis Cluster), started."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import redis

from a2a_server.stores.base import Stores
from a2a_server.stores.memory import InMemoryStores
from a2a_server.stores.redis import RedisStores, create_redis_client
from tests.conftest import free_port


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
            client = redis.Redis(port=self.ports[0])
            info = client.execute_command("CLUSTER INFO")
            client.close()
            if "ok" in (info.get("cluster_state"), info.get(b"cluster_state")):
                return self
            time.sleep(0.1)
        raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")

    def flush(self) -> None:
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


@pytest.fixture(params=["memory", "redis", pytest.param("cluster", marks=pytest.mark.cluster)])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Each backend the contract suite runs on."""
    return str(request.param)


@pytest.fixture
async def stores(store_kind: str, stores_factory: Callable[..., Stores]) -> AsyncIterator[Stores]:
    """A started backend of each kind."""
    backend = stores_factory(store_kind)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()
