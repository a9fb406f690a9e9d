"""The compose files publish no secret: every secret-like setting must be given by whoever deploys."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILES = ("docker-compose.yml", "deploy/monitoring.yml")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|PRIVATE", re.IGNORECASE)
REQUIRED = re.compile(r"^\$\{[A-Z0-9_]+:\?[^}]+\}$")


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_every_secret_setting_is_required_from_the_environment(name: str) -> None:
    compose = yaml.safe_load((ROOT / name).read_text())
    secrets = {
        f"{service}.{key}": value
        for service, spec in compose["services"].items()
        for key, value in _environment(spec).items()
        if SECRET_NAME.search(key)
    }
    assert secrets, f"{name}: no secret-like setting found (the pattern no longer matches?)"
    for setting, value in secrets.items():
        assert REQUIRED.match(value), f"{name}: {setting} has a default or literal value: {value!r}"


def test_grafana_has_no_default_admin_password() -> None:
    compose = yaml.safe_load((ROOT / "deploy/monitoring.yml").read_text())
    env = _environment(compose["services"]["grafana"])
    assert REQUIRED.match(env["GF_SECURITY_ADMIN_PASSWORD"])


def test_monitoring_ports_listen_on_the_loopback_only() -> None:
    compose = yaml.safe_load((ROOT / "deploy/monitoring.yml").read_text())
    for service in compose["services"].values():
        for port in service.get("ports", ()):
            assert str(port).startswith("127.0.0.1:"), port
