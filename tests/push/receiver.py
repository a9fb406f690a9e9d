"""A webhook receiver stand-in, run as its own process: ``python -m tests.push.receiver PORT LOG``.

Every POST outside ``/_`` is appended to the JSONL file ``LOG`` (so what arrived survives a
restart of the receiver) and answered with the next scripted step, or 200 once the script is
used up. Control:

- ``POST /_script`` with a JSON list of steps, each ``{"status": int, "headers": {...},
  "delay": seconds before answering, "trickle": seconds spent sending a body byte by byte}``;
  the list replaces the current script.
- ``GET /_received``: everything logged so far, as a JSON list.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_script: list[dict[str, Any]] = []


class Handler(BaseHTTPRequestHandler):
    log_path: Path

    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
               trickle: float = 0.0) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if trickle:
            self.send_header("Content-Length", "100000")
            self.end_headers()
            deadline = time.monotonic() + trickle
            while time.monotonic() < deadline:
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.05)
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path != "/_received":
            self._reply(404)
            return
        lines = self.log_path.read_text().splitlines() if self.log_path.exists() else []
        self._reply(200, json.dumps([json.loads(line) for line in lines]).encode(),
                    {"Content-Type": "application/json"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/_script":
            with _lock:
                _script[:] = json.loads(body)
            self._reply(204)
            return
        with _lock:
            step = _script.pop(0) if _script else {}
            with self.log_path.open("a") as log:
                log.write(json.dumps({
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": base64.b64encode(body).decode(),
                    "answered": step.get("status", 200),
                }) + "\n")
        time.sleep(float(step.get("delay", 0)))
        self._reply(int(step.get("status", 200)), b'{"ok": true}',
                    {"Content-Type": "application/json", **step.get("headers", {})},
                    float(step.get("trickle", 0)))


def main() -> None:
    """Serve on 127.0.0.1:PORT until killed."""
    port, log = int(sys.argv[1]), Path(sys.argv[2])
    Handler.log_path = log
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
