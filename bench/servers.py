"""Start, watch and stop the processes under test: uvicorn servers and a Redis.

Every server runs the same uvicorn command line (one worker, uvloop, httptools,
no access log), pinned to the server core; only the ASGI factory differs.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SERVER_CPU = "0"
CLIENT_CPU = "1"

UVICORN_ARGS = ["--factory", "--host", "127.0.0.1", "--workers", "1", "--loop", "uvloop",
                "--http", "httptools", "--no-access-log", "--log-level", "warning",
                "--timeout-graceful-shutdown", "3"]


def free_port() -> int:
    """A port nobody listens on right now (loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def steal_seconds(cpu: str) -> float:
    """Time the hypervisor has run something else while this VM's ``cpu`` had work (the
    steal column of /proc/stat): a stall no process inside the VM can see as waiting."""
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith(f"cpu{cpu} "):
                return int(line.split()[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def process_tree(root: int) -> list[int]:
    """``root`` and every live descendant of it (by the parent pid in /proc/<pid>/stat)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, ()))
    return found


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} not open after {timeout}s: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Server:
    """One uvicorn process serving an ASGI factory."""

    name: str
    factory: str
    prefix: str  # where the agent's HTTP+JSON routes live ("" = root)
    env: dict[str, str] = field(default_factory=dict)
    workers: int = 1  # >1: uvicorn's supervisor and that many worker processes
    cpus: str = SERVER_CPU  # taskset's CPU list
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        """Base URL of the agent interface."""
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def start(self, workdir: Path) -> None:
        """Launch, pinned to the server core; wait until the port accepts connections."""
        self.port = free_port()
        self.log = workdir / f"{self.name}.log"
        # The a2a-sdk's no-op OpenTelemetry spans are off in every server under test: our
        # server turns them off by default, and the SDK's reference server gets the same
        # setting, so no ratio comes from a configuration difference.
        env = {**os.environ, **self.env, "A2A_SERVER_PORT": str(self.port),
               "PYTHONPATH": str(ROOT), "OTEL_INSTRUMENTATION_A2A_SDK_ENABLED": "false"}
        args = list(UVICORN_ARGS)
        args[args.index("--workers") + 1] = str(self.workers)
        cmd = ["taskset", "-c", self.cpus, sys.executable, "-m", "uvicorn", self.factory,
               "--port", str(self.port), *args]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out,
                                         stderr=subprocess.STDOUT)
        _wait_port(self.port, self.proc, 60, self.log)

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.proc is not None and self.proc.poll() is None

    def pids(self) -> list[int]:
        """The server's process and, with workers, its descendants (read from /proc)."""
        if self.proc is None:
            return []
        return process_tree(self.proc.pid) if self.workers > 1 else [self.proc.pid]

    def reset_peak_rss(self) -> None:
        """Reset VmHWM (Linux >= 4.0: ``5`` into clear_refs); ignored where refused."""
        for pid in self.pids():
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except OSError:
                pass

    def peak_rss_mb(self) -> float | None:
        """VmHWM of the server process (summed over its workers), in MiB."""
        total = None
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        total = (total or 0.0) + int(line.split()[1]) / 1024
            except OSError:
                continue
        return total

    def cpu_seconds(self) -> float:
        """User + system CPU time the server (every worker included) has used so far."""
        assert self.proc is not None
        total = 0.0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            except OSError:  # exited meanwhile
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def runqueue_wait_seconds(self) -> float:
        """Time the server's main thread (its event loop) has spent runnable but not running:
        another process had its core. A stall that grows this is the machine, not the server."""
        assert self.proc is not None
        try:
            return int(Path(f"/proc/{self.proc.pid}/schedstat").read_text().split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            return 0.0

    def wait_idle(self, timeout: float = 60.0, window: float = 0.25) -> float:
        """Wait until the server burns < 10% CPU over ``window`` (requests a load generator
        abandoned are still being served); return the seconds waited."""
        started = time.monotonic()
        while self.alive() and time.monotonic() - started < timeout:
            before = self.cpu_seconds()
            time.sleep(window)
            if self.cpu_seconds() - before < window * 0.1:
                break
        return time.monotonic() - started

    def stop(self) -> None:
        """SIGINT (uvicorn's graceful shutdown), then SIGKILL after 8 s."""
        if self.proc is not None:
            _stop(self.proc)


@dataclass
class Redis:
    """A private redis-server on a free port, AOF on (appendfsync everysec), pinned; automatic
    AOF rewrites off (``compact`` runs them between scenarios)."""

    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    dir: Path | None = None

    @property
    def url(self) -> str:
        """redis:// URL, database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, workdir: Path) -> None:
        """Launch redis-server; raise if it is not installed."""
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server not found (apt-get install -y redis-server)")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="redis-", dir=workdir))
        log = workdir / "redis.log"
        cmd = ["taskset", "-c", CLIENT_CPU, exe, "--port", str(self.port), "--bind", "127.0.0.1",
               "--dir", str(self.dir), "--save", "", "--appendonly", "yes",
               "--appendfsync", "everysec", "--protected-mode", "yes",
               # AOF rewrites are run by the harness between scenarios (compact()), as an
               # operator schedules them off-peak, not wherever the file happens to double
               "--auto-aof-rewrite-percentage", "0"]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _wait_port(self.port, self.proc, 10, log)

    def stop(self) -> None:
        """Stop the server."""
        if self.proc is not None:
            _stop(self.proc)

    def compact(self, timeout: float = 120.0) -> None:
        """Rewrite the AOF now and wait for it (the harness calls it between scenarios): a
        rewrite forks Redis and writes the whole dataset on the load generator's core, and
        in the middle of a cell it would halve that cell's figures."""
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            client.bgrewriteaof()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                info = client.info("persistence")
                if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
                    return
                time.sleep(0.2)
        finally:
            client.close()


def seed(server: Server, spec: dict[str, object]) -> dict[str, object]:
    """Ask the server's bench-only seeding route to write tasks through its store."""
    response = httpx.post(f"http://127.0.0.1:{server.port}/__bench/seed", json=spec,
                          timeout=600)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]
