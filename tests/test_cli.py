"""The command line: serve's start-up errors and the secret hasher."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from a2a_server.tenancy.config import sha256_hex


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "a2a_server", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})}, check=False)


def test_hash_secret_prints_the_digest_for_tenant_files() -> None:
    result = run("hash-secret", "demo-secret")
    assert result.returncode == 0
    assert result.stdout.strip() == sha256_hex("demo-secret")


def test_serve_refuses_a_bad_tenant_file_naming_it(tmp_path: Path) -> None:
    (tmp_path / "demo.yaml").write_text("name: demo\nclients: [{client_id: c, secret_sha256: oops}]\n")
    result = run("serve", "--tenants-dir", str(tmp_path), "--port", "0")
    assert result.returncode == 2
    assert "demo.yaml" in result.stderr and "clients.0.secret_sha256" in result.stderr


def test_serve_refuses_to_start_without_a_key_outside_dev_mode() -> None:
    result = run("serve", "--port", "0", env={"A2A_SERVER_DEV_MODE": "false"})
    assert result.returncode == 2
    assert "A2A_SERVER_JWT_SECRET is required" in result.stderr
