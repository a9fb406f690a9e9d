"""Instructions per request of the bench's raw ASGI floor (``bench.ceiling:create_raw``) under
callgrind, served by uvicorn (the bench's command line) and, when it is installed, by granian;
and of the SDK reference server's task GET (``sdk-memory``, the denominator of item 6).

    .venv/bin/python -m bench.floor_instructions [-n 2000]   # ~3 min

What an HTTP server costs per request before any application code, counted rather than timed
(callgrind counts every thread of the process: granian's Rust runtime threads too; the kernel
is not counted). Issue 14 item 6 asks for a GET at 4x the SDK's throughput, which on uvicorn
means about 2x this floor (docs/performance.md, "Issue 14, item 6"); this says how much
another server's floor would give back. granian is not a dependency: ``pip install granian``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import load
from bench.bearer_instructions import KEY, _get, _total, send_requests
from bench.servers import ROOT, UVICORN_ARGS, _stop, _wait_port, free_port

SERVERS = {
    "uvicorn": lambda port: ["-m", "uvicorn", "bench.ceiling:create_raw", "--port", str(port),
                             *UVICORN_ARGS],
    "granian": lambda port: ["-m", "granian", "--interface", "asgi", "--factory",
                             "bench.ceiling:create_raw", "--port", str(port), "--loop",
                             "uvloop", "--log-level", "warning", "--no-ws"],
}


SDK = ["-m", "uvicorn", "bench.sdk_reference:create_memory", *UVICORN_ARGS]


def count(server: str, n: int) -> float:
    """Instructions per GET of the raw floor served by ``server``, or of a small task's GET
    from the SDK's reference server (``server == "sdk-memory"``)."""
    with tempfile.TemporaryDirectory(prefix="floor-cg-") as tmp:
        workdir, port = Path(tmp), free_port()
        out, log = workdir / "callgrind.out", workdir / "server.log"
        # granian serves from a worker process it spawns: follow children, one file each
        args = [*SDK, "--port", str(port)] if server == "sdk-memory" else SERVERS[server](port)
        cmd = ["valgrind", "--tool=callgrind", "--trace-children=yes",
               f"--callgrind-out-file={out}.%p", "--dump-line=no", sys.executable, *args]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0",  # as bench.servers
               "OTEL_INSTRUMENTATION_A2A_SDK_ENABLED": "false"}
        with log.open("wb") as sink:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            _wait_port(port, proc, 300, log)
            request = _get(port, "/", {"Accept": "application/json"})
            if server == "sdk-memory":  # bench (a): a small task made by a real send
                response = httpx.post(f"http://127.0.0.1:{port}/message:send", timeout=120,
                                      json=load._send_body("hello"), headers=load.HEADERS)
                task_id = response.raise_for_status().json()["task"]["id"]
                request = _get(port, f"/tasks/{task_id}", KEY)
            send_requests(port, request, 500, 1)  # warm-up
            for phase in range(2):  # the first dump closes the warm-up
                if phase:
                    send_requests(port, request, n, 1)
                subprocess.run(["callgrind_control", "-d"], check=True,  # every process
                               capture_output=True)
                time.sleep(2)
        finally:
            _stop(proc)
        # each process's second dump (callgrind.out.<pid>.2) holds the measured phase
        return sum(_total(d) for d in workdir.glob("callgrind.out.*.2")) / n


def main(n: int) -> None:
    """Print the floor's instructions per request on each installed server."""
    for server in SERVERS:
        if importlib.util.find_spec(server) is None:
            print(f"{server}: not installed")
            continue
        print(f"floor on {server}: {count(server, n):,.0f} instructions per request")
    print(f"sdk-memory, small task GET: {count('sdk-memory', n // 2):,.0f} instructions per "
          "request")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000, help="requests measured")
    main(parser.parse_args().n)
