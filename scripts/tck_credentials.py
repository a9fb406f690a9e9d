"""pytest plugin: give the A2A TCK's HTTP clients this server's tenant and credentials.

The TCK (``a2aproject/a2a-tck``, branch ``1.0-dev``) has no option for
authentication or extra headers: its JSON-RPC and HTTP+JSON clients send only
``A2A-Version: 1.0``. The A2A specification leaves obtaining credentials to
the client, out of band. This plugin is that out-of-band step. Loaded with
``run_tck.py ... -- -p tck_credentials`` (this directory on ``PYTHONPATH``),
it hooks every ``httpx.Client`` the TCK creates (its transport clients and the
one-off ``httpx.get``/``httpx.post`` calls of tests that send raw requests)
so that requests for the SUT's origin only carry:

- ``Tenant-Name: <tenant>``, and
- ``Authorization: Bearer <token>`` from OAuth2 client credentials at the
  server's token endpoint (renewed before it expires), or, if no client is
  configured, ``X-API-Key: <key>``.

Nothing else about the TCK's requests changes. Settings (environment):

``A2A_TCK_TENANT`` (default ``demo``), ``A2A_TCK_CLIENT_ID`` /
``A2A_TCK_CLIENT_SECRET`` (OAuth2; default ``demo-client`` / ``demo-secret``),
``A2A_TCK_API_KEY`` (used instead when ``A2A_TCK_CLIENT_ID`` is empty),
``A2A_TCK_TOKEN_URL`` (default ``{origin}/realms/{tenant}/protocol/openid-connect/token``).
The SUT origin comes from the TCK's own ``--sut-host`` option.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

_RENEW_BEFORE_S = 30.0


def _origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    parts = urlsplit(str(url))
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


class TenantCredentials:
    """Adds the tenant and its credentials to requests for one origin (an httpx request hook)."""

    def __init__(self, sut_url: str) -> None:
        self.origin = _origin(sut_url)
        scheme, host, port = self.origin
        self.tenant = os.environ.get("A2A_TCK_TENANT", "demo")
        self.client_id = os.environ.get("A2A_TCK_CLIENT_ID", "demo-client")
        self.client_secret = os.environ.get("A2A_TCK_CLIENT_SECRET", "demo-secret")
        self.api_key = os.environ.get("A2A_TCK_API_KEY", "demo-key")
        self.token_url = os.environ.get(
            "A2A_TCK_TOKEN_URL",
            f"{scheme}://{host}:{port}/realms/{self.tenant}/protocol/openid-connect/token",
        )
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.tokens_fetched = 0

    def _bearer(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() > self._expires_at - _RENEW_BEFORE_S:
                with httpx.Client(timeout=10.0) as plain:
                    plain.event_hooks = {"request": [], "response": []}
                    response = plain.post(self.token_url, data={
                        "grant_type": "client_credentials", "client_id": self.client_id,
                        "client_secret": self.client_secret, "scope": "openid",
                    })
                response.raise_for_status()
                body = response.json()
                self._token = str(body["access_token"])
                self._expires_at = time.monotonic() + float(body.get("expires_in", 300))
                self.tokens_fetched += 1
            return self._token

    def __call__(self, request: httpx.Request) -> None:
        """Credentials only for the SUT's origin; other hosts see the request unchanged."""
        if _origin(request.url) != self.origin or "authorization" in request.headers:
            return
        request.headers["Tenant-Name"] = self.tenant
        if self.client_id:
            request.headers["Authorization"] = f"Bearer {self._bearer()}"
        else:
            request.headers["X-API-Key"] = self.api_key


_AUTH: TenantCredentials | None = None
_ORIGINAL_INIT = httpx.Client.__init__


def _init_with_credentials(self: httpx.Client, *args: Any, **kwargs: Any) -> None:
    _ORIGINAL_INIT(self, *args, **kwargs)
    if _AUTH is not None:
        self.event_hooks = {**self.event_hooks,
                            "request": [*self.event_hooks["request"], _AUTH]}


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Install the credentials for the TCK's ``--sut-host`` origin."""
    global _AUTH
    sut = config.getoption("sut_host", default=None)
    if not sut:
        return
    _AUTH = TenantCredentials(sut)
    httpx.Client.__init__ = _init_with_credentials  # type: ignore[method-assign]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Say, at the top of the run (also under -q), which tenant and credentials the TCK uses."""
    if _AUTH is None:
        return
    kind = f"OAuth2 client {_AUTH.client_id!r}" if _AUTH.client_id else "API key"
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    line = f"tck_credentials: tenant {_AUTH.tenant!r} via {kind} for {_AUTH.origin}"
    if reporter is not None:
        reporter.write_line(line)
