"""Virtualenvs for clients that cannot share ours (another a2a-sdk line, Google ADK)."""

from __future__ import annotations

import shutil
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
    if ready.exists() and ready.read_text() == requirement:
        return python
    # Built beside it and moved into place only when complete: a run that stops halfway,
    # or another test run building the same venv at once, never leaves a broken one to reuse.
    build = Path(tempfile.mkdtemp(prefix=f"{name}.", dir=home.parent))
    try:
        venv.create(build, with_pip=True, clear=True)
        subprocess.run([str(build / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        requirement], check=True, timeout=900)
        (build / "installed").write_text(requirement)
        shutil.rmtree(home, ignore_errors=True)
        build.rename(home)
    except OSError:
        if not (ready.exists() and ready.read_text() == requirement):
            raise  # not another run's venv that landed first
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return python
