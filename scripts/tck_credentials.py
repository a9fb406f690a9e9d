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

The TCK's gRPC client gets the same: every ``grpc.insecure_channel`` it opens to
the address of the card's GRPC interface carries the tenant and credentials as
metadata (``tenant-name``, ``authorization`` / ``x-api-key``), and requests
whose ``tenant`` field is empty get the interface's ``tenant`` value, as A2A
1.0 clients must echo it (the SDK's client does; the TCK's sends none). One
more client duty the TCK skips: its card fixture fetches the card with a bare
``httpx.get`` and no ``A2A-Version`` (every other TCK request sends ``1.0``),
which A2A 1.0 (3.6.2) reads as a 0.3 client; ``A2A-Version: 1.0`` is added to
that one request (GET of ``.well-known/agent-card.json`` without the header).

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

try:
    import grpc
except ImportError:  # the TCK installs grpcio; without it there is no gRPC client to equip
    grpc = None

_RENEW_BEFORE_S = 30.0
_CARD_PATH = ".well-known/agent-card.json"


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
        self.sut_url = sut_url.rstrip("/")
        self._grpc: tuple[str, str] | None = None
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

    def credentials(self) -> dict[str, str]:
        """The tenant and credential headers (lower-case names: also gRPC metadata keys)."""
        if self.client_id:
            return {"tenant-name": self.tenant, "authorization": f"Bearer {self._bearer()}"}
        return {"tenant-name": self.tenant, "x-api-key": self.api_key}

    def __call__(self, request: httpx.Request) -> None:
        """Credentials only for the SUT's origin; other hosts see the request unchanged."""
        if _origin(request.url) != self.origin:
            return
        if request.method == "GET" and request.url.path.endswith(_CARD_PATH):
            request.headers.setdefault("A2A-Version", "1.0")
        if "authorization" in request.headers:
            return
        request.headers.update(self.credentials())

    def grpc_interface(self) -> tuple[str, str] | None:
        """(address, tenant) of the SUT card's GRPC interface, read once; None if it has none."""
        if self._grpc is None:
            with httpx.Client(timeout=10.0) as plain:
                plain.event_hooks = {"request": [], "response": []}
                card = plain.get(f"{self.sut_url}/{_CARD_PATH}",
                                 headers={**self.credentials(), "A2A-Version": "1.0"}).json()
            found = [(i["url"], i.get("tenant", "")) for i in card.get("supportedInterfaces", [])
                     if i.get("protocolBinding") == "GRPC"]
            self._grpc = found[0] if found else ("", "")
        return self._grpc if self._grpc[0] else None


_AUTH: TenantCredentials | None = None
_ORIGINAL_INIT = httpx.Client.__init__


def _init_with_credentials(self: httpx.Client, *args: Any, **kwargs: Any) -> None:
    _ORIGINAL_INIT(self, *args, **kwargs)
    if _AUTH is not None:
        self.event_hooks = {**self.event_hooks,
                            "request": [*self.event_hooks["request"], _AUTH]}


class _CallDetails(grpc.ClientCallDetails if grpc else object):  # type: ignore[misc]
    def __init__(self, details: Any, metadata: list[tuple[str, str]]) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = details.wait_for_ready
        self.compression = details.compression


class GrpcCredentials(*([grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor]
                        if grpc else [object])):  # type: ignore[misc]
    """Tenant and credentials as metadata, and the interface's ``tenant`` in each request."""

    def __init__(self, auth: TenantCredentials, tenant: str) -> None:
        self.auth = auth
        self.tenant = tenant

    def _details(self, details: Any) -> _CallDetails:
        metadata = list(details.metadata or [])
        if not any(key == "authorization" for key, _ in metadata):
            metadata.extend(self.auth.credentials().items())
        return _CallDetails(details, metadata)

    def _request(self, request: Any) -> Any:
        fields = getattr(getattr(request, "DESCRIPTOR", None), "fields_by_name", {})
        if "tenant" in fields and not request.tenant and self.tenant:
            copy = type(request)()
            copy.CopyFrom(request)
            copy.tenant = self.tenant
            return copy
        return request

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        """See the class."""
        return continuation(self._details(details), self._request(request))

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        """See the class."""
        return continuation(self._details(details), self._request(request))


def _install_grpc(auth: TenantCredentials) -> None:
    if grpc is None:
        return
    original = grpc.insecure_channel

    def insecure_channel(target: str, *args: Any, **kwargs: Any) -> Any:
        channel = original(target, *args, **kwargs)
        interface = auth.grpc_interface()
        if interface is None or interface[0] != target:
            return channel
        return grpc.intercept_channel(channel, GrpcCredentials(auth, interface[1]))

    grpc.insecure_channel = insecure_channel


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Install the credentials for the TCK's ``--sut-host`` origin."""
    global _AUTH
    sut = config.getoption("sut_host", default=None)
    if not sut:
        return
    _AUTH = TenantCredentials(sut)
    httpx.Client.__init__ = _init_with_credentials  # type: ignore[method-assign]
    _install_grpc(_AUTH)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Say, at the top of the run (also under -q), which tenant and credentials the TCK uses."""
    if _AUTH is None:
        return
    kind = f"OAuth2 client {_AUTH.client_id!r}" if _AUTH.client_id else "API key"
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    line = f"tck_credentials: tenant {_AUTH.tenant!r} via {kind} for {_AUTH.origin}"
    if reporter is not None:
        reporter.write_line(line)
