"""Access tokens: HS256 JWTs issued by the client-credentials endpoint.

The issuer is ``{public_url}/realms/{tenant}`` (Keycloak's shape, which Corti's
clients expect); the tenant is also carried in the ``tenant`` claim and the
client in ``sub``/``azp``.

Verified tokens are cached per process (``TokenIssuer.verify``): keyed by the
token as sent (as the API-key cache holds keys as sent; a token is the shorter-lived
credential of the two, and hashing it cost a GET more than the rest of the hit),
bounded (least recently used out first), each entry valid until the token's own
``exp`` and never beyond, so an expired token is refused exactly as without the
cache. Only tokens that verified are stored: a wrong token always goes through the
full check. A change of the signing key this issuer holds (or a restart) empties
the cache.
The tenant a token names is looked up in the live tenant registry on every
request after the cache (``Authenticator``), so a removed tenant's tokens stop
at once.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import jwt

_ALGORITHM = "HS256"
_AUDIENCE = "a2a-server"


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says."""

    tenant: str
    client_id: str
    expires_at: int  # the token's ``exp`` (seconds since the epoch)


class InvalidToken(Exception):
    """The token is malformed, expired, or not signed by us."""


class TokenIssuer:
    """Issues and verifies this server's access tokens."""

    def __init__(self, secret: str | None, base_url: str, ttl_seconds: int,
                 cache_size: int = 10_000) -> None:
        """Sign with ``secret`` (None: a random key for this process).

        Args:
            secret: the HS256 signing key, or None in dev mode.
            base_url: the public URL the issuer is built from.
            ttl_seconds: lifetime of issued tokens.
            cache_size: verified tokens kept per process (0 = verify every time).
        """
        self.generated_key = secret is None
        self._secret = secret or secrets.token_urlsafe(48)
        self._base_url = base_url
        self.ttl_seconds = ttl_seconds
        self._cache_size = cache_size
        # token -> claims, least recently used first (an OrderedDict: cachetools' TLRUCache
        # cost 1.5 us of a hit, a quarter of what is left of a GET's authentication)
        self._verified: OrderedDict[str, TokenClaims] = OrderedDict()
        self._verified_with = self._secret  # the key the cached tokens were verified with

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
        """Check signature, expiry, audience and issuer; return the claims.

        A token verified before with the current key and not yet expired is answered from
        the cache (see the module docstring).

        Raises:
            InvalidToken: malformed, expired, or not signed with the current key.
        """
        cached = self.cached(token)
        if cached is not None:
            return cached
        return self.verify_uncached(token)

    def verify_uncached(self, token: str) -> TokenClaims:
        """``verify`` for a token ``cached`` has just missed: the full check (no second cache
        lookup), and the claims cached if it passes.

        Raises:
            InvalidToken: malformed, expired, or not signed with the current key.
        """
        secret = self._secret
        claims = self._decode(token, secret)
        if self._cache_size and self._verified_with is secret:
            verified = self._verified
            verified[token] = claims
            if len(verified) > self._cache_size:
                verified.popitem(last=False)
        return claims

    def cached(self, token: str) -> TokenClaims | None:
        """The claims of ``token`` if it verified before with the current key and has not
        expired, else None (nothing is decoded here: ``verify`` does that on a miss). A hit is a
        dictionary lookup, so ``Authenticator`` asks this before looking at the token's shape."""
        # No lock: the event loop's thread is the only caller (HTTP and grpc.aio alike), and
        # each step below is a single OrderedDict call, atomic under the GIL anyway.
        verified = self._verified
        if self._verified_with is not self._secret:
            verified.clear()
            self._verified_with = self._secret
        cached = verified.get(token)
        if cached is not None:
            if time.time() < cached.expires_at:  # PyJWT's own rule, no leeway
                verified.move_to_end(token)
                return cached
            del verified[token]
        return None

    def cached_tokens(self) -> int:
        """How many verified tokens the cache holds (expired ones may still count)."""
        return len(self._verified)

    def holds(self, token: str) -> bool:
        """Whether ``token`` would be answered from the cache now (verified, unexpired)."""
        cached = self._verified.get(token) if self._verified_with is self._secret else None
        return cached is not None and time.time() < cached.expires_at

    @staticmethod
    def _decode(token: str, secret: str) -> TokenClaims:
        try:
            claims = jwt.decode(
                token,
                secret,
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
        return TokenClaims(tenant=tenant, client_id=client_id, expires_at=int(claims["exp"]))


def looks_like_jwt(token: str) -> bool:
    """A bearer value with three dot-separated segments is treated as a JWT."""
    return token.count(".") == 2
