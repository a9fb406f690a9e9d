"""Virtualenvs for clients that cannot share ours (another a2a-sdk line, Google ADK)."""

from __future__ import annotations

import subprocess
import tempfile
import venv
from pathlib import Path

import pytest


def cached_venv(config: pytest.Config, name: str, requirement: str) -> Path:
    """The python of a venv holding ``requirement``, built once under the pytest cache.

    Later runs reuse it; a changed ``requirement`` rebuilds it. Without pytest's
    cache (``-p no:cacheprovider``) it lives in the temp directory.
    """
    cache = getattr(config, "cache", None)
    home = cache.mkdir(name) if cache else Path(tempfile.gettempdir()) / name
    python = home / "bin" / "python"
    ready = home / "installed"
    if not ready.exists() or ready.read_text() != requirement:
        venv.create(home, with_pip=True, clear=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", requirement],
                       check=True, timeout=900)
        ready.write_text(requirement)
    return python
