"""Dev-mode replicas on one store verify each other's tokens (the README's "Several replicas")."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from a2a_server.settings import Settings
from tests.conftest import running_app
from tests.tenancy.test_auth import fetch_token


async def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_a_token_from_one_dev_replica_works_on_another(
    settings_for: Callable[..., Settings],
) -> None:
    one = settings_for("redis", jwt_secret=None, port=8081, public_url=None)
    two = settings_for("redis", jwt_secret=None, port=8082, public_url=None)
    async with running_app(one) as app_one, running_app(two) as app_two:
        async with await _client(app_one) as http_one, await _client(app_two) as http_two:
            token = (await fetch_token(http_one)).json()["access_token"]
            listed = await http_two.get("/agents/echo/v1/tasks", headers={
                "Authorization": f"Bearer {token}", "A2A-Version": "1.0"})
            assert listed.status_code == 200, listed.text


async def test_dev_replicas_on_separate_memory_stores_keep_their_own_keys(
    settings_for: Callable[..., Settings],
) -> None:
    async with running_app(settings_for(jwt_secret=None)) as app_one, \
            running_app(settings_for(jwt_secret=None)) as app_two:
        async with await _client(app_one) as http_one, await _client(app_two) as http_two:
            token = (await fetch_token(http_one)).json()["access_token"]
            refused = await http_two.get("/agents/echo/v1/tasks",
                                         headers={"Authorization": f"Bearer {token}"})
            assert refused.status_code == 401


async def test_the_dev_mode_warning_says_how_long_tokens_last_for_its_store(
    backend: str, settings_for: Callable[..., Settings], caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="a2a_server.app"):
        async with running_app(settings_for(backend, jwt_secret=None)):
            pass
    warned = [r.getMessage() for r in caplog.records if r.name == "a2a_server.app"]
    assert len(warned) == 1 and "A2A_SERVER_JWT_SECRET" in warned[0]
    if backend == "redis":
        assert "the replicas on this Redis agree on one" in warned[0]
    else:  # a make-run user has no Redis and no replicas
        assert "when this server stops" in warned[0] and "replica" not in warned[0]
