"""The verified-credential caches: expiry, wrong credentials, bounds, tenant-file changes.

Behaviour only (the speed is measured by the bench's bearer-token cells). The issuer and
the registry are the server's own; nothing is replaced.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
import pytest

from a2a_server.settings import Settings
from a2a_server.tenancy.auth import Authenticator, AuthError
from a2a_server.tenancy.config import (
    ApiKeyConfig,
    ClientConfig,
    TenantConfig,
    TenantRegistry,
    load_tenants,
    sha256_hex,
)
from a2a_server.tenancy.tokens import InvalidToken, TokenClaims, TokenIssuer
from tests.conftest import running_app

SECRET = "cache-test-signing-key-0123456789abcdef"
BASE = "http://testserver"


def _issuer(cache_size: int = 100) -> TokenIssuer:
    return TokenIssuer(SECRET, BASE, 300, cache_size=cache_size)


def _token(tenant: str = "t1", client: str = "c1", exp: int | None = None,
            secret: str = SECRET, **extra: object) -> str:
    now = int(time.time())
    claims = {"iss": f"{BASE}/realms/{tenant}", "aud": "a2a-server", "sub": client,
              "tenant": tenant, "iat": now, "exp": exp if exp is not None else now + 300, **extra}
    return jwt.encode(claims, secret, algorithm="HS256")


def _tenant_file(directory: Path, name: str, keys: dict[str, str]) -> None:
    lines = [f"name: {name}", 'agents: ["*"]', "clients:",
             "  - client_id: c1", f"    secret_sha256: {sha256_hex('client-secret')}"]
    if keys:
        lines.append("api_keys:")
        for key_name, key in keys.items():
            lines += [f"  - name: {key_name}", f"    sha256: {sha256_hex(key)}"]
    (directory / f"{name}.yaml").write_text("\n".join(lines) + "\n")


def test_a_verified_token_is_answered_from_the_cache() -> None:
    issuer = _issuer()
    token = issuer.issue("t1", "c1")
    first = issuer.verify(token)
    assert issuer.holds(token)
    assert issuer.verify(token) == first
    assert first.tenant == "t1" and first.client_id == "c1"


def test_a_token_past_its_expiry_is_refused_although_cached() -> None:
    issuer = _issuer()
    exp = int(time.time()) + 2
    token = _token(exp=exp)
    assert issuer.verify(token).expires_at == exp
    assert issuer.holds(token)
    while time.time() < exp + 0.05:
        time.sleep(0.1)
    assert not issuer.holds(token)
    with pytest.raises(InvalidToken, match="expired"):
        issuer.verify(token)


@pytest.mark.parametrize(
    "wrong",
    [
        pytest.param(lambda good: good[:-2] + ("AA" if good[-2:] != "AA" else "BB"), id="signature"),
        pytest.param(lambda good: _token(secret="another-signing-key-0123456789abcdef"),
                     id="other-key"),
        pytest.param(lambda good: _token(aud="someone-else"), id="other-audience"),
        pytest.param(lambda good: _token(exp=int(time.time()) - 1), id="expired"),
    ],
)
def test_a_wrong_token_never_hits(wrong: object) -> None:
    issuer = _issuer()
    good = _token()
    issuer.verify(good)
    bad = wrong(good)  # type: ignore[operator]
    for _ in range(2):  # the second try must not be answered from the cache either
        with pytest.raises(InvalidToken):
            issuer.verify(bad)
    assert not issuer.holds(bad)
    assert issuer.cached_tokens() == 1


def test_each_token_is_cached_as_itself() -> None:
    issuer = _issuer()
    mine, theirs = _token(tenant="t1"), _token(tenant="t2", client="c2")
    assert issuer.verify(mine).tenant == "t1"
    assert not issuer.holds(theirs)
    assert issuer.verify(theirs).tenant == "t2" and issuer.verify(mine).tenant == "t1"


def test_a_signing_key_change_empties_the_token_cache() -> None:
    issuer = _issuer()
    token = issuer.issue("t1", "c1")
    issuer.verify(token)
    assert issuer.cached(token) is not None
    issuer.adopt_key("the-next-signing-key-0123456789abcdef")
    assert not issuer.holds(token) and issuer.cached(token) is None
    assert issuer.cached_tokens() == 0
    with pytest.raises(InvalidToken, match="Signature"):
        issuer.verify(token)
    assert issuer.verify(issuer.issue("t1", "c1")).tenant == "t1"  # the new key's tokens verify


def test_an_expired_entry_is_dropped_on_its_first_use_after_exp() -> None:
    issuer = _issuer()
    exp = int(time.time()) + 1
    token = _token(exp=exp)
    issuer.verify(token)
    while time.time() < exp + 0.05:
        time.sleep(0.1)
    assert issuer.cached_tokens() == 1  # still held, never served:
    assert issuer.cached(token) is None and issuer.cached_tokens() == 0


def test_the_token_cache_is_bounded_least_recently_used_out_first() -> None:
    issuer = _issuer(cache_size=3)
    tokens = [_token(client=f"c{i}") for i in range(5)]
    for token in tokens[:3]:
        issuer.verify(token)
    issuer.verify(tokens[0])  # used again: now the most recent
    for token in tokens[3:]:
        issuer.verify(token)
    assert issuer.cached_tokens() == 3
    assert [issuer.holds(t) for t in tokens] == [True, False, False, True, True]
    assert issuer.verify(tokens[1]).client_id == "c1"  # evicted: verified again, still valid


def test_a_token_not_yet_cached_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bearer token the cache misses costs one cache lookup, then the full check; the
    next request is answered by the lookup alone."""
    issuer = _issuer()
    auth = Authenticator(TenantRegistry([TenantConfig(name="t1", clients=[
        ClientConfig(client_id="c1", secret_sha256=sha256_hex("s"))])]), issuer)
    lookups: list[str] = []
    cached = issuer.cached

    def counted(token: str) -> TokenClaims | None:
        lookups.append(token)
        return cached(token)

    monkeypatch.setattr(issuer, "cached", counted)
    token = _token()
    for _ in range(2):
        assert auth.authenticate({"authorization": f"Bearer {token}"})[0].tenant == "t1"
    assert lookups == [token, token] and issuer.holds(token)


def test_a_cache_size_of_zero_verifies_every_time() -> None:
    issuer = _issuer(cache_size=0)
    token = _token()
    assert issuer.verify(token).tenant == "t1"
    assert not issuer.holds(token) and issuer.cached_tokens() == 0


def test_api_keys_are_cached_bounded_and_wrong_ones_never() -> None:
    keys = [f"key-{i}" for i in range(4)]
    tenant = TenantConfig(name="t1", api_keys=[ApiKeyConfig(name=k, sha256=sha256_hex(k))
                                               for k in keys])
    registry = TenantRegistry([tenant], key_cache_size=2)
    assert registry.owner_of_key("not-a-key") is None
    assert registry.cached_keys() == 0 and not registry.holds("not-a-key")
    for key in keys[:3]:
        owner = registry.owner_of_key(key)
        assert owner is not None and owner.key_name == key
    assert registry.cached_keys() == 2
    assert [registry.holds(k) for k in keys] == [False, True, True, False]
    assert registry.owner_of_key(keys[0]) is not None  # evicted, found again by its digest


def test_a_tenant_file_change_invalidates_cached_credentials(tmp_path: Path) -> None:
    _tenant_file(tmp_path, "t1", {"old": "old-key"})
    _tenant_file(tmp_path, "t2", {"kept": "t2-key"})
    issuer = _issuer()
    before = load_tenants(tmp_path, ["echo"])
    auth = Authenticator(before, issuer)
    token = _token(tenant="t1")
    assert auth.authenticate({"x-api-key": "old-key"})[0].tenant == "t1"
    assert auth.authenticate({"authorization": f"Bearer {token}"})[0].tenant == "t1"
    assert before.holds("old-key") and issuer.holds(token)

    # The key is rotated out of t1's file, and t2 is removed: a new registry (generation).
    _tenant_file(tmp_path, "t1", {"new": "new-key"})
    (tmp_path / "t2.yaml").unlink()
    _tenant_file(tmp_path, "t3", {})
    after = load_tenants(tmp_path, ["echo"])
    auth = Authenticator(after, issuer)
    with pytest.raises(AuthError) as rotated:
        auth.authenticate({"x-api-key": "old-key"})
    assert rotated.value.status == 401
    assert auth.authenticate({"x-api-key": "new-key"})[0].tenant == "t1"
    with pytest.raises(AuthError) as removed:
        auth.authenticate({"x-api-key": "t2-key"})
    assert removed.value.status == 401
    # A cached token of a tenant that is gone is refused: the tenant is checked after the cache.
    gone = _token(tenant="t2")
    assert issuer.verify(gone).tenant == "t2" and issuer.holds(gone)
    with pytest.raises(AuthError) as refused:
        auth.authenticate({"authorization": f"Bearer {gone}"})
    assert refused.value.status == 401


async def test_a_server_refuses_a_token_it_cached_once_it_expires(
    settings_for: Callable[..., Settings],
) -> None:
    async with running_app(settings_for("memory", token_ttl_seconds=2)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            token = (await http.post(
                "/realms/demo/protocol/openid-connect/token",
                data={"grant_type": "client_credentials", "client_id": "demo-client",
                      "client_secret": "demo-secret"},
            )).json()["access_token"]
            exp = jwt.decode(token, options={"verify_signature": False})["exp"]
            headers = {"Authorization": f"Bearer {token}", "Tenant-Name": "demo"}
            task_url = "/agents/echo/v1/tasks/no-such-task"
            # Two uses while valid (the second from the cache): authenticated, so a 404.
            statuses = [(await http.get(task_url, headers=headers)).status_code for _ in range(2)]
            if time.time() < exp:  # not already past exp on a slow machine
                assert statuses == [404, 404]
            await asyncio.sleep(max(0.0, exp + 0.05 - time.time()))
            assert (await http.get(task_url, headers=headers)).status_code == 401
