"""Authentication failures by reason and tokens issued, counted around the tenancy classes.

The reason is judged from what the request presented, not from error messages:
``missing`` (no credentials), ``bad_scheme`` (an Authorization that is not Bearer),
``invalid_token`` (a JWT that does not verify, or whose tenant is gone),
``invalid_api_key`` (an unknown key), ``tenant_mismatch`` (403: the credentials
belong to another tenant than the one named).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from a2a_server.observability.metrics import Metrics
from a2a_server.tenancy.auth import API_KEY_HEADER, Authenticator, AuthError
from a2a_server.tenancy.config import TenantRegistry
from a2a_server.tenancy.tokens import TokenIssuer, looks_like_jwt

REASONS = ("missing", "bad_scheme", "invalid_token", "invalid_api_key", "tenant_mismatch")


def failure_reason(headers: Mapping[str, str], error: AuthError) -> str:
    """Why ``error`` was raised for a request with ``headers``."""
    if error.status == 403:
        return "tenant_mismatch"
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return "bad_scheme"
        if looks_like_jwt(value.strip()):
            return "invalid_token"
        return "invalid_api_key"
    return "invalid_api_key" if headers.get(API_KEY_HEADER) else "missing"


class MeteredAuthenticator(Authenticator):
    """``Authenticator``, counting each refusal by reason (a hook, not a wrapper: a GET's
    authentication is not one frame deeper with metrics on)."""

    def __init__(self, tenants: TenantRegistry, tokens: TokenIssuer, metrics: Metrics) -> None:
        super().__init__(tenants, tokens)
        self._failures = {reason: metrics.auth_failures.labels(reason) for reason in REASONS}

    def refused(self, headers: Mapping[str, str], error: AuthError) -> None:
        """Count the refusal by its reason."""
        self._failures[failure_reason(headers, error)].inc()


class MeteredTokenIssuer(TokenIssuer):
    """``TokenIssuer``, counting the tokens it issues (by tenant when enabled)."""

    def __init__(self, secret: str | None, base_url: str, ttl_seconds: int, metrics: Metrics,
                 cache_size: int = 10_000) -> None:
        super().__init__(secret, base_url, ttl_seconds, cache_size)
        self._metrics = metrics
        self._issued: dict[str, Any] = {}

    def issue(self, tenant: str, client_id: str) -> str:
        """See ``TokenIssuer.issue``."""
        token = super().issue(tenant, client_id)
        key = tenant if self._metrics.tenant_label else ""
        child = self._issued.get(key)
        if child is None:
            child = self._issued[key] = (self._metrics.tokens_issued.labels(tenant)
                                         if self._metrics.tenant_label else self._metrics.tokens_issued)
        child.inc()
        return token
