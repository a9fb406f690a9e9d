"""Instructions per full-stack request under callgrind, API key against bearer token.

    .venv/bin/python -m bench.bearer_instructions [--store memory|redis|both] [-n 1000]
        [--sends 200] [-c 1]

Runs the bench server (``bench.ours:create``, the uvicorn command line of ``bench.run``:
uvloop, httptools) under ``valgrind --tool=callgrind``, creates the (a) task, fetches the
demo client's token from the server's token endpoint, warms both credentials up, then sends
``n`` task GETs with the API key, ``n`` with the token, and both again; then the same for
``message:send`` (a new task each, ``--sends`` per phase), over ``c`` keep-alive
connections, with the request bytes wrk sends (``bench/lua/a2a.lua``), and has callgrind
dump its counters between the phases (``callgrind_control -d``). Everything the process
executes is counted: uvicorn, httptools' parser, the app, the event loop; the kernel is not.
The counts do not depend on what else runs on the machine, which a 5 % difference measured by
CPU time on a shared VM does (issue 14, item 1; ``bench.run`` prints these verdicts too when
valgrind is installed). Needs valgrind; a minute or two per store. Under valgrind OpenSSL
sees no SHA extensions, so a SHA-256 counts several times what it costs on a CPU that has
them.
"""

from __future__ import annotations

import argparse
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from bench import load
from bench.servers import ROOT, UVICORN_ARGS, Redis, _stop, _wait_port, free_port

KEY = {"X-API-Key": "demo-key", "Tenant-Name": "demo", "A2A-Version": "1.0"}
PREFIX = "/agents/echo/v1"
PHASES = ("API key", "bearer", "API key", "bearer")
KINDS = ("GET", "send")


def available() -> bool:
    """Whether valgrind and callgrind_control are on the PATH."""
    return shutil.which("valgrind") is not None and shutil.which("callgrind_control") is not None


def _get(port: int, path: str, headers: dict[str, str]) -> Callable[[], bytes]:
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    return lambda: request


def _send(port: int, headers: dict[str, str]) -> Callable[[], bytes]:
    """A ``message:send`` of a new task, a fresh ``messageId`` each (same length each)."""
    head = (f"POST {PREFIX}/message:send HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items()))

    def request() -> bytes:
        body = orjson.dumps({"message": {"messageId": f"bench-{uuid.uuid4().hex}",
                                         "role": "ROLE_USER", "parts": [{"text": "hello"}]},
                             "configuration": {"historyLength": 10}})
        return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body

    return request


def send_requests(port: int, request: Callable[[], bytes], n: int, connections: int) -> None:
    """``n`` requests over ``connections`` keep-alive sockets, one in flight on each; each 200."""
    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytes] = {}
    sent = done = 0
    for _ in range(min(connections, n)):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(request())
        sent += 1
        sock.setblocking(False)
        buffers[sock] = b""
        selector.register(sock, selectors.EVENT_READ)
    while done < n:
        for key, _ in selector.select():
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            buffer = buffers[sock] + sock.recv(65536)
            while b"\r\n\r\n" in buffer:
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])  # type: ignore[index]
                if len(rest) < length:
                    break
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(head.decode("latin-1"))
                buffer, done = rest[length:], done + 1
                if sent < n:
                    sock.sendall(request())
                    sent += 1
            buffers[sock] = buffer
    for sock in buffers:
        sock.close()


def _total(dump: Path) -> int:
    match = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(errors="replace"), re.M)
    if match is None:
        raise RuntimeError(f"no total in {dump}")
    return int(match[1])


@dataclass(frozen=True)
class Counted:
    """Instructions per request of one kind on one store: each phase, and the ratio."""

    store: str
    kind: str
    requests: int
    per_request: tuple[float, ...]  # the phases, in PHASES order

    @property
    def key(self) -> float:
        return (self.per_request[0] + self.per_request[2]) / 2

    @property
    def bearer(self) -> float:
        return (self.per_request[1] + self.per_request[3]) / 2

    @property
    def ratio(self) -> float:
        """Bearer token over API key."""
        return self.bearer / self.key


def measure(store: str, gets: int = 1000, sends: int = 200,
            connections: int = 1) -> dict[str, Counted]:
    """Serve the phases under callgrind; instructions per GET and per send of each phase."""
    with tempfile.TemporaryDirectory(prefix="bearer-cg-") as tmp:
        workdir = Path(tmp)
        env = {**os.environ, "A2A_SERVER_AGENTS_DIR": str(ROOT / "bench" / "agent_cards"),
               "A2A_SERVER_LOG_LEVEL": "warning", "PYTHONPATH": str(ROOT),
               "OTEL_INSTRUMENTATION_A2A_SDK_ENABLED": "false", "PYTHONHASHSEED": "0"}
        redis = Redis() if store == "redis" else None
        if redis is not None:
            redis.start(workdir)
            env["A2A_SERVER_REDIS_URL"] = redis.url
        port = free_port()
        env["A2A_SERVER_PORT"] = str(port)
        out, log = workdir / "callgrind.out", workdir / "server.log"
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-line=no",
               sys.executable, "-m", "uvicorn", "bench.ours:create", "--port", str(port),
               *UVICORN_ARGS]
        with log.open("wb") as sink:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
        counts = {"GET": gets, "send": sends}
        try:
            _wait_port(port, proc, 300, log)
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(headers=load.HEADERS, timeout=120) as client:
                response = client.post(f"{base}{PREFIX}/message:send",
                                       json=load._send_body("hello"))
                task_id = response.raise_for_status().json()["task"]["id"]
            token = load.access_token(base)
            bearer = {"Authorization": f"Bearer {token}", "Tenant-Name": "demo",
                      "A2A-Version": "1.0"}
            path = f"{PREFIX}/tasks/{task_id}"
            requests = {("GET", "API key"): _get(port, path, KEY),
                        ("GET", "bearer"): _get(port, path, bearer),
                        ("send", "API key"): _send(port, KEY),
                        ("send", "bearer"): _send(port, bearer)}
            for kind in KINDS:  # warm-up: both credentials, both kinds
                for phase in PHASES:
                    send_requests(port, requests[kind, phase], 100, connections)
            marks: list[tuple[str, str] | None] = [None]  # the first dump closes the warm-up
            marks += [(kind, phase) for kind in KINDS for phase in PHASES]
            for mark in marks:
                if mark is not None:
                    send_requests(port, requests[mark], counts[mark[0]], connections)
                subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True,
                               capture_output=True)
                time.sleep(1)  # the dump is written by the server at its next instructions
        finally:
            _stop(proc)
            if redis is not None:
                redis.stop()
        dumps = sorted(workdir.glob("callgrind.out.*"), key=lambda p: int(p.suffix[1:]))
        totals = [_total(d) for d in dumps[1:1 + len(marks) - 1]]
    if len(totals) != len(KINDS) * len(PHASES):
        raise RuntimeError(f"{len(totals)} callgrind dumps, expected {len(KINDS) * len(PHASES)}")
    return {kind: Counted(store, kind, counts[kind],
                          tuple(t / counts[kind] for t in totals[i * 4:i * 4 + 4]))
            for i, kind in enumerate(KINDS)}


def measure_stores(stores: tuple[str, ...], gets: int, sends: int,
                   connections: int) -> dict[tuple[str, str], Counted]:
    """``measure`` on each store, in parallel (counted instructions do not depend on load)."""
    with ThreadPoolExecutor(len(stores)) as pool:
        results = list(pool.map(lambda s: measure(s, gets, sends, connections), stores))
    return {(c.store, c.kind): c for result in results for c in result.values()}


def describe(counted: Counted) -> str:
    """``1.0275 (+7,663 instructions per GET: 278,755 vs 286,418)``."""
    return (f"{counted.ratio:.4f} (+{counted.bearer - counted.key:,.0f} instructions per "
            f"{counted.kind}: {counted.key:,.0f} with the API key, {counted.bearer:,.0f} with the "
            f"bearer token; {counted.requests} per phase)")


def main(stores: tuple[str, ...], gets: int, sends: int, connections: int) -> None:
    """Print instructions per request of each phase, and bearer over API key."""
    for (store, kind), counted in measure_stores(stores, gets, sends, connections).items():
        print(f"{store} store, {kind}, {counted.requests} per phase, {connections} connection(s)")
        for phase, value in zip(PHASES, counted.per_request, strict=True):
            print(f"  {phase:8s} {value:12,.0f} instructions per {kind}")
        print(f"  bearer / API key: {describe(counted)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=("memory", "redis", "both"), default="memory")
    parser.add_argument("-n", type=int, default=1000, help="GETs per phase")
    parser.add_argument("--sends", type=int, default=200, help="message:send calls per phase")
    parser.add_argument("-c", "--connections", type=int, default=1)
    args = parser.parse_args()
    main(("memory", "redis") if args.store == "both" else (args.store,), args.n, args.sends,
         args.connections)
