"""The MCP test server (tests/mcp_server.py) as a process on a free port, for fixtures."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time

import httpx

from tests.conftest import REPO, free_port

TOKEN = "mcp-test-token-5f1e"
CLIENT_ID, CLIENT_SECRET = "agent-client", "agent-secret-9d2c"


class McpServerProcess:
    """tests/mcp_server.py on a free port (bearer-checked unless ``token`` is None, with a
    token endpoint)."""

    def __init__(self, token: str | None = TOKEN) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.mcp_server", "--port", str(self.port),
             *(("--token", token) if token else ()),
             "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("the MCP test server did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def tokens_issued(self) -> int:
        return int(httpx.get(f"http://127.0.0.1:{self.port}/token-count").json()["count"])

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
