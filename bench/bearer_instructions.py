"""Instructions per full-stack task GET under callgrind, API key against bearer token.

    .venv/bin/python -m bench.bearer_instructions [--store memory|redis] [-n 1000] [-c 1]

Runs the bench server (``bench.ours:create``, the uvicorn command line of ``bench.run``:
uvloop, httptools) under ``valgrind --tool=callgrind``, creates the (a) task, fetches the
demo client's token from the server's token endpoint, warms both credentials up, then sends
``n`` GETs with the API key, ``n`` with the token, and both again, over ``c`` keep-alive
connections, with the request bytes wrk sends, and has callgrind dump its counters between
the phases (``callgrind_control -d``). Everything the process executes is counted: uvicorn,
httptools' parser, the app, the event loop; the kernel is not. The counts do not depend on
what else runs on the machine, which a 5 % difference measured by CPU time on a shared VM
does. Needs valgrind; takes a minute or two. Under valgrind OpenSSL sees no SHA extensions,
so a SHA-256 counts several times what it costs on a CPU that has them.
"""

from __future__ import annotations

import argparse
import os
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import load
from bench.servers import ROOT, UVICORN_ARGS, Redis, _stop, _wait_port, free_port

KEY = {"X-API-Key": "demo-key", "Tenant-Name": "demo", "A2A-Version": "1.0"}


def send_gets(port: int, path: str, headers: dict[str, str], n: int, connections: int) -> None:
    """``n`` GETs over ``connections`` keep-alive sockets, one in flight on each; each 200."""
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytes] = {}
    sent = done = 0
    for _ in range(min(connections, n)):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(request)
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
                    sock.sendall(request)
                    sent += 1
            buffers[sock] = buffer
    for sock in buffers:
        sock.close()


def _total(dump: Path) -> int:
    match = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(errors="replace"), re.M)
    if match is None:
        raise RuntimeError(f"no total in {dump}")
    return int(match[1])


def main(store: str, n: int, connections: int) -> None:
    """Serve the phases under callgrind and print instructions per GET of each."""
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
        phases = ("API key", "bearer", "API key", "bearer")
        try:
            _wait_port(port, proc, 300, log)
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(headers=load.HEADERS, timeout=120) as client:
                response = client.post(f"{base}/agents/echo/v1/message:send",
                                       json=load._send_body("hello"))
                task_id = response.raise_for_status().json()["task"]["id"]
            token = load.access_token(base)
            bearer = {"Authorization": f"Bearer {token}", "Tenant-Name": "demo",
                      "A2A-Version": "1.0"}
            path = f"/agents/echo/v1/tasks/{task_id}"
            for headers in (KEY, bearer, KEY, bearer):
                send_gets(port, path, headers, 200, connections)
            for phase in (None, *phases):  # the first dump closes the warm-up
                if phase is not None:
                    send_gets(port, path, KEY if phase == "API key" else bearer, n, connections)
                subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True,
                               capture_output=True)
                time.sleep(1)  # the dump is written by the server at its next instructions
        finally:
            _stop(proc)
            if redis is not None:
                redis.stop()
        dumps = sorted(workdir.glob("callgrind.out.*"), key=lambda p: int(p.suffix[1:]))
        totals = [_total(d) for d in dumps[1:1 + len(phases)]]
    print(f"token {len(token)} characters; {store} store, {n} GETs per phase, "
          f"{connections} connection(s)")
    for phase, total in zip(phases, totals, strict=True):
        print(f"  {phase:8s} {total / n:10,.0f} instructions per GET")
    keys, bearers = totals[0::2], totals[1::2]
    print(f"  bearer / API key: {sum(bearers) / sum(keys):.4f} "
          f"(+{(sum(bearers) - sum(keys)) / len(keys) / n:,.0f} instructions per GET)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=("memory", "redis"), default="memory")
    parser.add_argument("-n", type=int, default=1000, help="GETs per phase")
    parser.add_argument("-c", "--connections", type=int, default=1)
    args = parser.parse_args()
    main(args.store, args.n, args.connections)
