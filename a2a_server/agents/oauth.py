"""OAuth 2.0 client-credentials tokens for outbound calls (MCP servers, remote A2A agents).

``OAuthTokenCache.token(...)`` posts ``grant_type=client_credentials`` (with the
client id and secret in the form, and ``scope`` when one is given) to the token
URL, and keeps the access token until ``_EXPIRY_MARGIN_S`` before its
``expires_in`` runs out (5 minutes when the answer has none). Tokens are keyed on
(token URL, client id, scope); concurrent callers wait for one fetch. Neither the
secret nor the token ever appears in a log or an error message.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx2

_MAX_RESPONSE_BYTES = 64 * 1024
_EXPIRY_MARGIN_S = 30.0
_DEFAULT_LIFETIME_S = 300.0


class TokenError(Exception):
    """The token endpoint failed or gave no token (the message names the URL, never a secret)."""


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires_at: float


class OAuthTokenCache:
    """Client-credentials access tokens, fetched once and reused until shortly before expiry."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    async def token(self, token_url: str, client_id: str, client_secret: str,
                    scope: str | None, *, time_limit: float) -> str:
        """A valid access token.

        Raises:
            TokenError: the token endpoint failed or answered without a token.
        """
        key = (token_url, client_id, scope or "")
        cached = self._tokens.get(key)
        if cached is not None and cached.expires_at > time.monotonic():
            return cached.value
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached is not None and cached.expires_at > time.monotonic():
                return cached.value
            token = await _fetch_token(token_url, client_id, client_secret, scope, time_limit)
            self._tokens[key] = token
            return token.value

    def forget(self, token_url: str, client_id: str, scope: str | None) -> None:
        """Drop a cached token (the server refused it)."""
        self._tokens.pop((token_url, client_id, scope or ""), None)


async def _fetch_token(token_url: str, client_id: str, client_secret: str,
                       scope: str | None, time_limit: float) -> _Token:
    form = {"grant_type": "client_credentials", "client_id": client_id,
            "client_secret": client_secret}
    if scope:
        form["scope"] = scope
    try:
        async with httpx2.AsyncClient(timeout=time_limit) as http:
            response = await http.post(token_url, data=form, headers={"Accept": "application/json"})
    except httpx2.TimeoutException:
        raise TokenError(f"token endpoint {token_url}: timed out") from None
    except httpx2.HTTPError as exc:
        raise TokenError(f"token endpoint {token_url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise TokenError(f"token endpoint {token_url}: HTTP {response.status_code}")
    try:
        if len(response.content) > _MAX_RESPONSE_BYTES:
            raise ValueError("too large")
        body = response.json()
        value = body["access_token"]
        if not isinstance(value, str) or not value:
            raise ValueError("no access_token")
        expires_in = body.get("expires_in", _DEFAULT_LIFETIME_S)
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else _DEFAULT_LIFETIME_S
    except (ValueError, KeyError, TypeError):
        raise TokenError(f"token endpoint {token_url}: no access token in the answer") from None
    return _Token(value, time.monotonic() + max(lifetime - _EXPIRY_MARGIN_S, 1.0))


DEFAULT_TOKEN_CACHE = OAuthTokenCache()
