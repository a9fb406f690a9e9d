"""Signed deliveries: verified with the published JWKS by an independent JOSE library."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from jwcrypto import jwk, jws
from jwcrypto import jwt as jjwt

from a2a_server.push.signing import generate_pem
from tests.conftest import make_settings, running_app
from tests.push.conftest import FAST, OPEN, Received, Receiver, send, with_webhook

Opener = Callable[..., Any]
# jwcrypto's refusals: a bad signature, or (with a key set) no key of the set verifies it.
REFUSED = (jws.InvalidJWSSignature, jjwt.JWTMissingKey)


def verify(jwks: dict[str, Any], received: Received) -> dict[str, Any]:
    """What a receiver does (docs/push.md shows it with PyJWT): the token's signature against
    the JWKS, then the body's hash against the token. Raises on any mismatch."""
    keys = jwk.JWKSet.from_json(json.dumps(jwks))
    token = jjwt.JWT(jwt=received.headers["x-a2a-notification-signature"], key=keys,
                     algs=["ES256"])
    claims: dict[str, Any] = json.loads(token.claims)
    if claims["request_body_sha256"] != hashlib.sha256(received.raw).hexdigest():
        raise ValueError("the body is not the one that was signed")
    return claims


async def _jwks(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


async def test_a_delivery_verifies_against_the_jwks_and_a_tampered_one_does_not(
        push_client: Opener, receiver: Receiver) -> None:
    async with push_client() as http:
        task = await send(http, with_webhook(OPEN, receiver.url))
        got = await receiver.until(lambda r: len(r) >= 2)
        jwks = await _jwks(http)
    claims = verify(jwks, got[0])
    assert claims["task_id"] == task["id"] and claims["config_id"] == "hook"
    assert claims["jti"] == got[0].delivery_id and claims["iss"] == "http://testserver"
    assert claims["exp"] > claims["iat"]
    assert got[0].headers["authorization"] == f"Bearer {got[0].headers['x-a2a-notification-signature']}"
    tampered = Received(got[0].path, got[0].headers, got[0].raw.replace(b"hi", b"ho"), 200)
    with pytest.raises(ValueError, match="not the one that was signed"):
        verify(jwks, tampered)
    swapped = Received(got[0].path, {**got[0].headers, "x-a2a-notification-signature":
                                     got[1].headers["x-a2a-notification-signature"]},
                       got[0].raw, 200)  # a genuine token, replayed on another body
    with pytest.raises(ValueError, match="not the one that was signed"):
        verify(jwks, swapped)
    header, payload, signature = got[0].headers["x-a2a-notification-signature"].split(".")
    forged = Received(got[0].path, {**got[0].headers, "x-a2a-notification-signature":
                                    f"{header}.{payload}.{signature[:-4]}AAAA"}, got[0].raw, 200)
    with pytest.raises(REFUSED):
        verify(jwks, forged)


async def test_the_configs_own_authentication_is_sent_beside_the_signature(
        push_client: Opener, receiver: Receiver) -> None:
    async with push_client() as http:
        await send(http, with_webhook(OPEN, receiver.url, token="t0k",
                                      authentication={"scheme": "Basic",
                                                      "credentials": "dXNlcjpwdw=="}))
        got = await receiver.until(lambda r: len(r) >= 1)
        jwks = await _jwks(http)
    assert got[0].headers["authorization"] == "Basic dXNlcjpwdw=="
    assert got[0].headers["x-a2a-notification-token"] == "t0k"
    verify(jwks, got[0])


def _keys(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old.pem", tmp_path / "new.pem"
    old.write_bytes(generate_pem())
    new.write_bytes(generate_pem())
    return old, new


async def _deliver_once(settings_keys: list[Path], receiver: Receiver) -> tuple[str, dict[str, Any]]:
    """One app with these keys: the kid its delivery was signed with, and its JWKS."""
    settings = make_settings(**FAST, push_signing_keys=settings_keys)
    async with running_app(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            before = len(receiver.received())
            await send(http, with_webhook(OPEN, receiver.url))
            got = await receiver.until(lambda r: len(r) >= before + 2)
            jwks = await _jwks(http)
    token = got[-1].headers["x-a2a-notification-signature"]
    return str(jjwt.JWT(jwt=token).token.jose_header["kid"]), jwks


async def test_key_rotation_keeps_two_keys_valid(receiver: Receiver, tmp_path: Path) -> None:
    old, new = _keys(tmp_path)
    kid_1, jwks_1 = await _deliver_once([old], receiver)
    kid_2, jwks_2 = await _deliver_once([old, new], receiver)  # the new key is published
    kid_3, jwks_3 = await _deliver_once([new, old], receiver)  # ... then signs
    kid_4, jwks_4 = await _deliver_once([new], receiver)  # the old key is retired
    assert kid_1 == kid_2 != kid_3 == kid_4
    assert [k["kid"] for k in jwks_1["keys"]] == [kid_1]
    assert {k["kid"] for k in jwks_2["keys"]} == {k["kid"] for k in jwks_3["keys"]} == {kid_1,
                                                                                       kid_3}
    assert [k["kid"] for k in jwks_4["keys"]] == [kid_3]
    got = receiver.received()
    # A receiver that cached the JWKS while both keys were published verifies both phases.
    for received in got:
        verify(jwks_2, received)
    with pytest.raises(REFUSED):  # the retired key's tokens fail once it is gone
        verify(jwks_4, got[0])
    assert all("d" not in key for jwks in (jwks_1, jwks_2, jwks_3, jwks_4)
               for key in jwks["keys"])  # public halves only


async def test_replicas_on_one_redis_agree_on_the_dev_key(redis_url: str) -> None:
    settings = make_settings(redis_url=redis_url)
    seen = []
    for _ in range(2):
        async with running_app(settings) as app:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                seen.append(await _jwks(http))
    assert seen[0] == seen[1] and len(seen[0]["keys"]) == 1


def test_outside_dev_mode_push_needs_configured_keys() -> None:
    from a2a_server.app import create_app
    from a2a_server.tenancy.config import ConfigError

    with pytest.raises(ConfigError, match="push_signing_keys"):
        create_app(make_settings(dev_mode=False))
