"""Usage counters per tenant and agent, and ``GET /agents/{id}/usage``, on both stores."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from a2a_server.agents.usage import Usage
from a2a_server.app import create_app
from a2a_server.settings import Settings
from a2a_server.stores.base import Scope
from tests.conftest import ACME, DEMO, user_message_v1
from tests.llm.conftest import Provider, app_client, send


async def test_usage_endpoint_sums_calls_by_day_and_model(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    provider.rule("", {"kind": "text", "text": "ok",
                       "usage": {"prompt_tokens": 100, "completion_tokens": 10}})
    async with app_client(settings_for(backend, agents_dir=agents_dir)) as http:
        await asyncio.gather(*(send(http, "assistant", user_message_v1(f"q{n}"))
                               for n in range(5)))
        got = await http.get("/agents/assistant/usage", headers=DEMO)
        other = await http.get("/agents/assistant/usage", headers=ACME)
        echo = await http.get("/agents/echo/usage", headers=ACME)
        v2 = await http.get("/agentic/agents/assistant/usage", headers=DEMO)
        empty = await http.get("/agents/assistant/usage?from=2020-01-01&to=2020-01-31",
                               headers=DEMO)
    assert got.status_code == 200, got.text
    body = got.json()
    totals = body["totals"]
    assert (totals["input_tokens"], totals["output_tokens"], totals["calls"]) == (500, 50, 5)
    assert totals["estimated_cost"] == pytest.approx(5 * (100 * 1e-6 + 10 * 2e-6))
    assert totals["models"]["standin-1"]["total_tokens"] == 550
    [day] = body["days"]
    assert day["date"] == body["to"] and day["total_tokens"] == 550
    assert other.status_code == 404  # acme has no such agent: the same as a missing one
    assert echo.status_code == 200 and echo.json()["totals"]["calls"] == 0
    assert v2.json()["totals"] == totals
    assert empty.json()["days"] == [] and empty.json()["totals"]["calls"] == 0


@pytest.mark.parametrize("query", ["from=yesterday", "from=2026-02-01&to=2026-01-01",
                                   "from=2020-01-01&to=2026-01-01"])
async def test_bad_ranges_are_400(settings_for: Callable[..., Settings], agents_dir: Path,
                                  query: str) -> None:
    async with app_client(settings_for("memory", agents_dir=agents_dir)) as http:
        got = await http.get(f"/agents/assistant/usage?{query}", headers=DEMO)
        anonymous = await http.get("/agents/assistant/usage")
    assert got.status_code == 400
    assert got.json()["error"]["message"]
    assert anonymous.status_code == 401


async def test_counters_are_exact_under_concurrent_additions(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path,
) -> None:
    app = create_app(settings_for(backend, agents_dir=agents_dir))
    stores = app.state.server.stores
    scope, day = Scope("demo", "assistant"), date(2026, 3, 1)
    async with app.router.lifespan_context(app):
        await asyncio.gather(*(stores.usage.add(scope, Usage(3, 1, 0.001), "m", day)
                               for _ in range(200)))
        [counted] = await stores.usage.days(scope, day, day)
        assert await stores.usage.days(Scope("acme", "assistant"), day, day) == []
    assert (counted.input_tokens, counted.output_tokens, counted.calls) == (600, 200, 200)
    assert counted.cost_nanos == 200 * 1_000_000
