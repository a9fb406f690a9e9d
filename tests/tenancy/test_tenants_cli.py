"""``a2a-server tenants list | check | add-key | revoke-key`` on tenant files in temporary
directories, run as the operator runs them (a subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from a2a_server.tenancy.config import load_tenants, sha256_hex
from tests.conftest import REPO

AGENTS = ["echo", "conformance"]


def tenants(
    *args: str, directory: Path, env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "a2a_server", "tenants", *args, "--tenants-dir", str(directory)],
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, **(env or {})})


def copy_shipped(tmp_path: Path) -> Path:
    directory = tmp_path / "tenants"
    shutil.copytree(REPO / "tenants", directory)
    return directory


def test_list_shows_tenants_agents_and_credential_names_never_secrets(tmp_path: Path) -> None:
    directory = copy_shipped(tmp_path)
    text = tenants("list", directory=directory)
    assert text.returncode == 0, text.stderr
    assert "demo" in text.stdout and "acme" in text.stdout
    assert "demo-client" in text.stdout and "local" in text.stdout
    as_json = tenants("list", "--json", directory=directory)
    listed = {t["name"]: t for t in json.loads(as_json.stdout)["tenants"]}
    assert listed["acme"]["agents"] == ["echo"] and listed["demo"]["agents"] == "*"
    assert listed["demo"]["clients"] == ["demo-client"]
    assert listed["demo"]["api_keys"] == ["local"]
    for output in (text.stdout + text.stderr, as_json.stdout + as_json.stderr):
        for secret in ("demo-key", "acme-key", "demo-secret", "acme-secret",
                       sha256_hex("demo-key"), sha256_hex("demo-secret")):
            assert secret not in output


def test_check_passes_good_files_and_names_every_bad_one(tmp_path: Path) -> None:
    directory = copy_shipped(tmp_path)
    good = tenants("check", directory=directory)
    assert good.returncode == 0 and "ok: 2 tenant(s)" in good.stdout
    (directory / "demo.yaml").write_text(
        (directory / "demo.yaml").read_text().replace('agents: ["*"]', 'agents: ["nope"]'))
    (directory / "zed.yaml").write_text("name: zed\nlimits: {requests_per_minute: 0}\n")
    bad = tenants("check", directory=directory)
    assert bad.returncode == 1
    assert f"{directory / 'demo.yaml'}: field 'agents.0': unknown agent 'nope'" in bad.stderr
    assert f"{directory / 'zed.yaml'}: field 'limits.requests_per_minute'" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = tenants("check", directory=tmp_path / "absent")
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_add_key_prints_a_strong_key_once_and_stores_only_its_digest(tmp_path: Path) -> None:
    directory = copy_shipped(tmp_path)
    demo = directory / "demo.yaml"
    demo.chmod(0o640)
    before = demo.read_text()
    added = tenants("add-key", "demo", "rotated", directory=directory)
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    assert len(key.splitlines()) == 1 and key.startswith("a2a_") and len(key) >= 40
    assert key not in added.stderr
    after = demo.read_text()
    assert key not in after and sha256_hex(key) in after
    # The rest of the file is as it was: comments, order, flow lists; one entry more.
    assert after.startswith(before.split("default_agent:")[0].rstrip("\n"))
    assert "# LOCAL DEVELOPMENT ONLY" in after and "# demo-key" in after
    assert after.count("\n") == before.count("\n") + 2
    assert stat.S_IMODE(demo.stat().st_mode) == 0o640
    assert sorted(p.name for p in directory.iterdir()) == ["acme.yaml", "demo.yaml"]  # no temp
    registry = load_tenants(directory, AGENTS)
    owner = registry.owner_of_key(key)
    assert owner is not None and (owner.tenant, owner.key_name) == ("demo", "rotated")
    assert registry.owner_of_key("demo-key") is not None  # both valid: rotation's middle step
    again = tenants("add-key", "demo", "rotated", directory=directory)
    assert again.returncode == 1 and "already has a key named 'rotated'" in again.stderr
    assert demo.read_text() == after


def test_add_key_to_a_file_without_keys_and_to_an_unknown_tenant(tmp_path: Path) -> None:
    directory = tmp_path / "tenants"
    directory.mkdir()
    (directory / "solo.yaml").write_text("# solo\nname: solo\nagents: [\"echo\"]\n")
    added = tenants("add-key", "solo", "first", directory=directory)
    assert added.returncode == 0, added.stderr
    owner = load_tenants(directory, AGENTS).owner_of_key(added.stdout.strip())
    assert owner is not None and owner.tenant == "solo"
    unknown = tenants("add-key", "nobody", "k", directory=directory)
    assert unknown.returncode == 1 and "no tenant file for 'nobody'" in unknown.stderr


def test_revoke_key_by_name(tmp_path: Path) -> None:
    directory = copy_shipped(tmp_path)
    key = tenants("add-key", "demo", "rotated", directory=directory).stdout.strip()
    revoked = tenants("revoke-key", "demo", "local", directory=directory)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked API key 'local' of tenant 'demo'" in revoked.stdout
    registry = load_tenants(directory, AGENTS)
    assert registry.owner_of_key("demo-key") is None
    assert registry.owner_of_key(key) is not None
    assert registry.owner_of_key("acme-key") is not None  # another tenant's key named 'local'
    text = (directory / "demo.yaml").read_text()
    unknown = tenants("revoke-key", "demo", "local", directory=directory)
    assert unknown.returncode == 1 and "has no key named 'local'" in unknown.stderr
    assert (directory / "demo.yaml").read_text() == text  # nothing changed


def test_a_file_that_is_broken_is_not_edited(tmp_path: Path) -> None:
    directory = tmp_path / "tenants"
    directory.mkdir()
    broken = "name: demo\napi_keys: [{name: a, sha256: not-hex}]\n"
    (directory / "demo.yaml").write_text(broken)
    result = tenants("add-key", "demo", "b", directory=directory)
    assert result.returncode == 1
    assert "field 'api_keys.0.sha256'" in result.stderr and result.stdout == ""
    assert (directory / "demo.yaml").read_text() == broken


def test_the_tenants_dir_comes_from_the_environment_too(tmp_path: Path) -> None:
    directory = copy_shipped(tmp_path)
    result = subprocess.run([sys.executable, "-m", "a2a_server", "tenants", "list", "--json"],
                            capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "A2A_SERVER_TENANTS_DIR": str(directory)})
    (directory / "acme.yaml").unlink()
    assert result.returncode == 0
    assert {t["name"] for t in json.loads(result.stdout)["tenants"]} == {"demo", "acme"}
    after = subprocess.run([sys.executable, "-m", "a2a_server", "tenants", "list", "--json"],
                           capture_output=True, text=True, timeout=60, check=False,
                           env={**os.environ, "A2A_SERVER_TENANTS_DIR": str(directory)})
    assert {t["name"] for t in json.loads(after.stdout)["tenants"]} == {"demo"}


def test_each_action_says_what_it_does_in_its_help() -> None:
    for action, words in (("list", "never a secret"), ("check", "one line per problem"),
                          ("add-key", "print the key once"), ("revoke-key", "Remove TENANT")):
        result = subprocess.run(
            [sys.executable, "-m", "a2a_server", "tenants", action, "--help"],
            capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "COLUMNS": "200"})
        assert result.returncode == 0
        assert words in result.stdout, action
        if action.endswith("-key"):
            assert "TENANT" in result.stdout and "the tenant (its file's name" in result.stdout


def test_list_into_a_closed_pipe_ends_without_a_traceback(tmp_path: Path) -> None:
    directory = copy_shipped(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "a2a_server", "tenants", "list", "--json",
         "--tenants-dir", str(directory)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before anything is printed (`| head`)
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr
