"""Signed push deliveries: every request carries a JWS (a JWT signed with ES256).

The receiver fetches the server's public keys from ``/.well-known/jwks.json`` (each with a
``kid``, the RFC 7638 thumbprint of the key) and checks the token against the body it got:
``request_body_sha256`` is the hex SHA-256 of the exact body bytes. Claims: ``iss`` (the
server's base URL), ``iat``, ``exp`` (``iat`` + 5 minutes), ``jti`` (the delivery id, stable
across retries), ``task_id``, ``config_id``, ``request_body_sha256``.

Keys (``push_signing_keys``): PEM files of EC P-256 private keys. The first signs; every one
is published, so a rotation is: add the new key second (published, receivers cache it), then
put it first (it signs, the old one still verifies tokens in flight), then drop the old one.
Without keys, dev mode generates one; with a shared (Redis) store the replicas must agree, so
the first replica stores the generated key in Redis and the others use it (dev only: a
production deployment configures its keys and keeps them out of the store).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ALGORITHM = "ES256"
TOKEN_TTL_S = 300
DEV_KEY_NAME = "push-dev-key"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """The public half as a JWK with its thumbprint ``kid``, ``use`` and ``alg``."""
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"),
                                       sort_keys=True).encode()).digest()
    return {**members, "kid": _b64(digest), "use": "sig", "alg": ALGORITHM}


def load_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    """An EC P-256 private key from PEM.

    Raises:
        ValueError: not a PEM EC private key on P-256.
    """
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("a push signing key must be an EC P-256 private key (PEM)")
    return key


def generate_pem() -> bytes:
    """A new EC P-256 private key, PEM (PKCS#8)."""
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


@dataclass(frozen=True)
class PushSigner:
    """Signs deliveries with the first key; publishes all of them."""

    keys: tuple[ec.EllipticCurvePrivateKey, ...]
    issuer: str

    @classmethod
    def from_pems(cls, pems: Sequence[bytes], issuer: str) -> PushSigner:
        """Keys from PEM texts, the signing one first.

        Raises:
            ValueError: no key, or one that is not EC P-256.
        """
        if not pems:
            raise ValueError("no push signing key")
        return cls(tuple(load_key(pem) for pem in pems), issuer)

    @classmethod
    def from_files(cls, paths: Sequence[Path], issuer: str) -> PushSigner:
        """Keys from PEM files (see ``from_pems``)."""
        return cls.from_pems([Path(p).read_bytes() for p in paths], issuer)

    @functools.cached_property
    def kid(self) -> str:
        """The key id of the signing key (computed once: a thumbprint is a JWK export, a JSON
        dump and a hash, which every delivery used to pay again)."""
        return str(public_jwk(self.keys[0])["kid"])

    @functools.cached_property
    def _header(self) -> dict[str, str]:
        return {"kid": self.kid, "typ": "JWT"}

    def jwks(self) -> dict[str, Any]:
        """The JWKS document: every published key."""
        return {"keys": [public_jwk(key) for key in self.keys]}

    def sign(self, *, task_id: str, config_id: str, delivery_id: str, body: bytes,
             now: float | None = None) -> str:
        """The compact JWS for one delivery request."""
        issued = int(now if now is not None else time.time())
        claims = {
            "iss": self.issuer,
            "iat": issued,
            "exp": issued + TOKEN_TTL_S,
            "jti": delivery_id,
            "task_id": task_id,
            "config_id": config_id,
            "request_body_sha256": hashlib.sha256(body).hexdigest(),
        }
        return jwt.encode(claims, self.keys[0], algorithm=ALGORITHM,
                          headers=self._header)


async def resolve_signer(paths: Sequence[Path], dev_mode: bool, issuer: str,
                         agree: Callable[[str, bytes], Awaitable[bytes]]) -> PushSigner | None:
    """The configured keys; in dev mode without keys, one generated key every replica shares
    (``agree``: the store's set-if-absent); outside dev mode without keys, None."""
    if paths:
        return PushSigner.from_files(paths, issuer)
    if not dev_mode:
        return None
    pem = await agree(DEV_KEY_NAME, generate_pem())
    return PushSigner.from_pems([pem], issuer)
