"""``executor: llm`` against the provider stand-in, on both stores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from a2a_server.settings import Settings
from tests.conftest import user_message_v1
from tests.llm.conftest import Provider, app_client, send

USAGE = {"prompt_tokens": 10, "completion_tokens": 5}


async def test_answer_with_usage_model_and_provider(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    provider.script({"kind": "text", "text": "Paris.", "usage": USAGE})
    async with app_client(settings_for(backend, agents_dir=agents_dir)) as http:
        task = await send(http, "assistant", user_message_v1("Capital of France?"))
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["status"]["message"]["parts"] == [{"text": "Paris."}]
    assert task["artifacts"][-1]["parts"] == [{"text": "Paris."}]
    expected = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15, "currency": "USD",
                "estimated_cost": pytest.approx(10 * 1e-6 + 5 * 2e-6)}
    assert task["metadata"]["usage"] == expected
    assert task["metadata"]["model_used"] == "standin-1"
    assert task["metadata"]["provider"] == "standin"
    assert task["status"]["message"]["metadata"]["usage"] == expected
    [request] = provider.requests()
    assert request["authorization"] == "Bearer sk-standin"
    assert request["body"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"}]
    assert request["body"]["stream"] is True


async def _two_turns(first_app: Settings, second_app: Settings,
                     provider: Provider) -> tuple[dict[str, Any], dict[str, Any]]:
    provider.script({"kind": "text", "text": "Hi Ada.", "usage": USAGE},
                    {"kind": "text", "text": "You are Ada.", "usage": USAGE})
    async with app_client(first_app) as http:
        first = await send(http, "assistant", user_message_v1("I am Ada."))
        if first_app is second_app:
            second = await send(http, "assistant",
                                user_message_v1("Who am I?", contextId=first["contextId"]))
            return first, second
    async with app_client(second_app) as http:
        second = await send(http, "assistant",
                            user_message_v1("Who am I?", contextId=first["contextId"]))
    return first, second


def _assert_second_turn(first: dict[str, Any], second: dict[str, Any], provider: Provider) -> None:
    assert second["contextId"] == first["contextId"] and second["id"] != first["id"]
    assert second["status"]["message"]["parts"] == [{"text": "You are Ada."}]
    assert provider.requests()[1]["body"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "I am Ada."},
        {"role": "assistant", "content": "Hi Ada."},
        {"role": "user", "content": "Who am I?"}]
    assert second["metadata"]["usage"]["total_tokens"] == 15  # a new task: its own usage


async def test_multi_turn_continues_the_context(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    settings = settings_for(backend, agents_dir=agents_dir)
    first, second = await _two_turns(settings, settings, provider)
    _assert_second_turn(first, second, provider)


async def test_multi_turn_from_another_replica_reads_the_store(
    settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    first, second = await _two_turns(settings_for("redis", agents_dir=agents_dir),
                                     settings_for("redis", agents_dir=agents_dir), provider)
    _assert_second_turn(first, second, provider)
