"""Agent cards carry Last-Modified (A2A 1.0 section 8.6.1: MAY; the TCK's CARD-CACHE-003)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from tests.conftest import DEMO

CARD_PATHS = ["/agents/echo/v1/.well-known/agent-card.json", "/agents/echo/agent-card.json",
              "/agents/echo/.well-known/agent-card.json"]


async def test_card_has_an_http_date_last_modified_that_does_not_move(
    client: httpx.AsyncClient,
) -> None:
    stamps = set()
    for path in CARD_PATHS:
        for headers in ({}, DEMO):
            response = await client.get(path, headers=headers)
            assert response.status_code == 200
            stamps.add(response.headers["last-modified"])
    assert len(stamps) == 1  # one representation time, whoever asks and wherever
    stamp = stamps.pop()
    assert stamp.endswith(" GMT")  # RFC 9110 IMF-fixdate
    assert parsedate_to_datetime(stamp) <= datetime.now(UTC)


async def test_not_modified_answer_keeps_last_modified(client: httpx.AsyncClient) -> None:
    first = await client.get("/agents/echo/agent-card.json")
    again = await client.get("/agents/echo/agent-card.json",
                             headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["last-modified"] == first.headers["last-modified"]
