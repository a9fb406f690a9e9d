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


def test_serve_help_lists_each_flag_with_its_variable_and_default() -> None:
    result = run("serve", "--help", env={"COLUMNS": "200"})
    assert result.returncode == 0
    for flag, variable in (("--port", "A2A_SERVER_PORT"), ("--redis-url", "A2A_SERVER_REDIS_URL"),
                           ("--tenants-dir", "A2A_SERVER_TENANTS_DIR")):
        assert flag in result.stdout and variable in result.stdout
    assert "default: 8080" in result.stdout
    top = run("--help")
    assert "``" not in top.stdout


def test_a_bad_setting_is_one_line_naming_it_without_its_value() -> None:
    secret = "short-but-secret-value"
    result = run("serve", "--port", "0", env={"A2A_SERVER_JWT_SECRET": secret})
    assert result.returncode == 2
    assert "A2A_SERVER_JWT_SECRET" in result.stderr and secret not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    port = run("serve", env={"A2A_SERVER_PORT": "eighty"})
    assert "--port / A2A_SERVER_PORT" in port.stderr and "eighty" not in port.stderr


def test_a_malformed_redis_url_is_a_clear_error_that_hides_the_password() -> None:
    result = run("serve", "--port", "0", "--redis-url", "http://user:hunter2@db:6379")
    assert result.returncode == 2
    assert "--redis-url / A2A_SERVER_REDIS_URL: not a Redis URL" in result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


def test_a_port_in_use_fails_before_the_banner() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port))
    assert result.returncode == 2
    assert "listening on" not in result.stdout
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_hash_secret_reads_a_piped_line_and_refuses_an_empty_secret() -> None:
    piped = subprocess.run([sys.executable, "-m", "a2a_server", "hash-secret"], input="s3cret\n",
                           capture_output=True, text=True, timeout=60, check=False)
    assert piped.returncode == 0 and piped.stdout.strip() == sha256_hex("s3cret")
    assert piped.stderr == ""  # no getpass warning
    for given in ("", "\n"):
        empty = subprocess.run([sys.executable, "-m", "a2a_server", "hash-secret"], input=given,
                               capture_output=True, text=True, timeout=60, check=False)
        assert empty.returncode == 2 and "empty" in empty.stderr and "Traceback" not in empty.stderr
    assert run("hash-secret", "").returncode == 2


def test_check_help_gives_each_default() -> None:
    result = run("check", "--help", env={"COLUMNS": "200"})
    assert result.returncode == 0
    assert "seconds per request (default: 30.0)" in result.stdout
