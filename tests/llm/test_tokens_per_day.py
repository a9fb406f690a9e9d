"""``limits.tokens_per_day``: sends to a tenant's LLM agents stop once the day's tokens are used."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from a2a_server.settings import Settings
from tests.conftest import V1, user_message_v1
from tests.limited_tenants import LIMITED, tenants_with_limits
from tests.llm.conftest import Provider, app_client

HEADERS = {**LIMITED, **V1}


async def test_the_days_tokens_once_used_refuse_llm_sends_only(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
    tmp_path: Path,
) -> None:
    provider.rule("", {"kind": "text", "text": "ok",
                       "usage": {"prompt_tokens": 100, "completion_tokens": 20}})
    tenants = tenants_with_limits(tmp_path / "tenants", tokens_per_day=200)
    settings = settings_for(backend, agents_dir=agents_dir, tenants_dir=tenants)
    async with app_client(settings) as http:
        url = "/agents/assistant/v1/message:send"
        answers = [await http.post(url, json=user_message_v1(f"q{n}"), headers=HEADERS)
                   for n in range(3)]
        echo = await http.post("/agents/echo/v1/message:send", json=user_message_v1("hi"),
                               headers=HEADERS)
        usage = await http.get("/agents/assistant/usage", headers=LIMITED)
    assert [a.status_code for a in answers] == [200, 200, 429]  # 120, then 240 >= 200
    refused = answers[2]
    assert "200 model tokens per day" in refused.json()["error"]["message"]
    assert refused.headers["ratelimit-policy"] == '"tokens";q=200;w=86400'
    retry = int(refused.headers["retry-after"])
    assert 1 <= retry <= 86_400 and refused.headers["ratelimit"] == f'"tokens";r=0;t={retry}'
    assert echo.status_code == 200  # not an LLM agent: its sends cost no tokens
    assert usage.json()["totals"]["calls"] == 2  # the refused send never reached the model
