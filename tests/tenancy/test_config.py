"""Tenant files: what loads, and what stops start-up with a message naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from a2a_server.agents.registry import load_agents
from a2a_server.app import create_app
from a2a_server.tenancy.config import ConfigError, load_tenants, sha256_hex
from tests.conftest import REPO, make_settings

DIGEST = sha256_hex("s3cret-value")


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def test_shipped_tenants_load_with_hashed_secrets_only() -> None:
    tenants = load_tenants(REPO / "tenants", ["echo", "conformance"])
    demo = tenants.get("demo")
    assert demo is not None and tenants.get("acme") is not None
    assert demo.check_client("demo-client", "demo-secret")
    assert not demo.check_client("demo-client", "wrong")
    assert tenants.owner_of_key("demo-key").tenant == "demo"
    for path in (REPO / "tenants").glob("*.yaml"):
        text = path.read_text()
        for line in text.splitlines():
            if "sha256" in line:
                assert "secret" not in line.split(":", 1)[1].split("#")[0]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("name: t1\nclients: [{client_id: c, secret_sha256: plain-secret}]\n", "clients.0.secret_sha256"),
        ("name: t1\napi_keys: [{name: k}]\n", "api_keys.0.sha256"),
        ("name: t1\nagents: [nosuchagent]\n", "agents.0"),
        ("name: t1\nunknown_field: 1\n", "unknown_field"),
        ("name: Other\n", "name"),
        ("name: t1\nretention_seconds: -5\n", "retention_seconds"),
        ("name: t1\ndefault_agent: ghost\n", "default_agent"),
    ],
)
def test_malformed_tenant_names_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = write(tmp_path, "t1.yaml", text)
    with pytest.raises(ConfigError) as error:
        load_tenants(tmp_path, ["echo"])
    assert str(path) in str(error.value)
    assert f"'{field}'" in str(error.value)


def test_default_agent_must_be_enabled_for_the_tenant(tmp_path: Path) -> None:
    write(tmp_path, "t1.yaml", "name: t1\nagents: [echo]\ndefault_agent: conformance\n")
    with pytest.raises(ConfigError, match="'default_agent': 'conformance' is not an agent enabled"):
        load_tenants(tmp_path, ["echo", "conformance"])
    write(tmp_path, "t1.yaml", "name: t1\nagents: [echo]\ndefault_agent: echo\n")
    tenant = load_tenants(tmp_path, ["echo", "conformance"]).get("t1")
    assert tenant is not None and tenant.default_agent == "echo"


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "t1.yaml", "name: [unclosed\n")
    with pytest.raises(ConfigError, match=str(path)):
        load_tenants(tmp_path, ["echo"])


def test_an_api_key_cannot_belong_to_two_tenants(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", f"name: a\napi_keys: [{{name: k, sha256: {DIGEST}}}]\n")
    write(tmp_path, "b.yaml", f"name: b\napi_keys: [{{name: k, sha256: {DIGEST}}}]\n")
    with pytest.raises(ConfigError, match="already used by tenant 'a'"):
        load_tenants(tmp_path, ["echo"])


def test_app_refuses_to_start_on_a_bad_tenant_file(tmp_path: Path) -> None:
    write(tmp_path, "demo.yaml", "name: demo\nagents: [ghost]\n")
    with pytest.raises(ConfigError, match="ghost"):
        create_app(make_settings(tenants_dir=tmp_path))


def test_bad_agent_card_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"name": "X", "bogus": 1}')
    (tmp_path / "x.binding.yaml").write_text("executor: echo\n")
    with pytest.raises(ConfigError, match=r"x\.json"):
        load_agents(tmp_path)


def test_agent_without_binding_is_refused(tmp_path: Path) -> None:
    card = (REPO / "agent_cards" / "echo.json").read_text()
    (tmp_path / "x.json").write_text(card)
    with pytest.raises(ConfigError, match=r"x\.binding\.yaml"):
        load_agents(tmp_path)


def test_agent_with_unknown_executor_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text((REPO / "agent_cards" / "echo.json").read_text())
    (tmp_path / "x.binding.yaml").write_text("executor: nonsense\n")
    with pytest.raises(ConfigError, match="'executor'"):
        load_agents(tmp_path)


def test_settings_refuse_missing_key_outside_dev_mode() -> None:
    with pytest.raises(ValueError, match="JWT_SECRET is required"):
        make_settings(jwt_secret=None, dev_mode=False)
    with pytest.raises(ValueError, match="placeholder"):
        make_settings(jwt_secret="changeme")
