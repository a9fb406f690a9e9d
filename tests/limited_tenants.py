"""A temporary tenants directory: 'limited' (with a ``limits:`` block) beside the shipped 'acme'."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from a2a_server.tenancy.config import sha256_hex
from tests.conftest import REPO

LIMITED = {"Tenant-Name": "limited", "X-API-Key": "limited-key"}


def tenants_with_limits(directory: Path, **limits: Any) -> Path:
    """``directory`` with 'acme' and 'limited' (``limits``; keys 'limited-key', 'limited-key-2')."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "tenants" / "acme.yaml", directory / "acme.yaml")
    tenant = {"name": "limited", "agents": "*",
              "api_keys": [{"name": "test", "sha256": sha256_hex("limited-key")},
                           {"name": "second", "sha256": sha256_hex("limited-key-2")}],
              "limits": limits}
    (directory / "limited.yaml").write_text(yaml.safe_dump(tenant))
    return directory
