"""Access tokens: HS256 JWTs issued by the client-credentials endpoint.

The issuer is ``{public_url}/realms/{tenant}`` (Keycloak's shape, which Corti's
clients expect); the tenant is also carried in the ``tenant`` claim and the
client in ``sub``/``azp``.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

_ALGORITHM = "HS256"
_AUDIENCE = "a2a-server"


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says."""

    tenant: str
    client_id: str


class InvalidToken(Exception):
    """The token is malformed, expired, or not signed by us."""


class TokenIssuer:
    """Issues and verifies this server's access tokens."""

    def __init__(self, secret: str | None, base_url: str, ttl_seconds: int) -> None:
        self.generated_key = secret is None
        self._secret = secret or secrets.token_urlsafe(48)
        self._base_url = base_url
        self.ttl_seconds = ttl_seconds

    @property
    def secret_for_sharing(self) -> str:
        """The generated key, to be shared with other dev-mode replicas through the store."""
        return self._secret

    def adopt_key(self, secret: str) -> None:
        """Sign and verify with ``secret`` from now on (dev mode: the key replicas share)."""
        self._secret = secret

    def issuer_for(self, tenant: str) -> str:
        """The ``iss`` of tokens for ``tenant``."""
        return f"{self._base_url}/realms/{tenant}"

    def token_url(self, tenant: str) -> str:
        """Where ``tenant``'s clients obtain tokens."""
        return f"{self.issuer_for(tenant)}/protocol/openid-connect/token"

    def issue(self, tenant: str, client_id: str) -> str:
        """A signed access token for ``client_id`` of ``tenant``."""
        now = int(time.time())
        claims = {
            "iss": self.issuer_for(tenant),
            "aud": _AUDIENCE,
            "sub": client_id,
            "azp": client_id,
            "tenant": tenant,
            "iat": now,
            "exp": now + self.ttl_seconds,
            "jti": uuid.uuid4().hex,
            "typ": "Bearer",
        }
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def verify(self, token: str) -> TokenClaims:
        """Check signature, expiry, audience and issuer; return the claims."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                audience=_AUDIENCE,
                options={"require": ["exp", "iss", "sub", "tenant"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        tenant, client_id = claims.get("tenant"), claims.get("sub")
        if not isinstance(tenant, str) or not isinstance(client_id, str):
            raise InvalidToken("token lacks tenant or subject")
        if not str(claims["iss"]).endswith(f"/realms/{tenant}"):
            raise InvalidToken("token issuer does not match its tenant")
        return TokenClaims(tenant=tenant, client_id=client_id)


def looks_like_jwt(token: str) -> bool:
    """A bearer value with three dot-separated segments is treated as a JWT."""
    return token.count(".") == 2
