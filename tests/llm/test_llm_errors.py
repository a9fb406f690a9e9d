"""Timeouts, provider errors, an unconfigured provider, bad options."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from a2a_server.agents.registry import load_agents
from a2a_server.settings import Settings
from a2a_server.tenancy.config import ConfigError
from tests.conftest import user_message_v1
from tests.llm.conftest import Provider, app_client, llm_options, send, write_agent


def _error(task: dict[str, object]) -> dict[str, str]:
    metadata = task["metadata"]
    assert isinstance(metadata, dict)
    error: dict[str, str] = metadata["error"]
    return error


async def test_a_run_past_its_timeout_fails_with_code_timeout(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    write_agent(agents_dir, "slowpoke", llm_options(provider, timeout_seconds=1))
    provider.script({"kind": "stall", "text": "Once upon a time", "chunk": 5, "seconds": 5})
    async with app_client(settings_for(backend, agents_dir=agents_dir)) as http:
        task = await send(http, "slowpoke", user_message_v1("tell me a story"))
        healthy = await http.get("/healthz")
    assert task["status"]["state"] == "TASK_STATE_FAILED"
    assert _error(task)["code"] == "timeout"
    assert "timeout of 1 seconds" in task["status"]["message"]["parts"][0]["text"]
    assert task["artifacts"][0]["parts"][0]["text"] == "Once "  # what had streamed
    assert healthy.status_code == 200


async def test_429_with_retry_after_then_success(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    provider.script({"kind": "status", "status": 429, "headers": {"Retry-After": "0.2"}},
                    {"kind": "status", "status": 503},
                    {"kind": "text", "text": "finally"})
    async with app_client(settings_for(backend, agents_dir=agents_dir)) as http:
        task = await send(http, "assistant", user_message_v1("hi"))
    assert task["status"]["state"] == "TASK_STATE_COMPLETED", task["status"]
    assert task["status"]["message"]["parts"] == [{"text": "finally"}]
    assert len(provider.requests()) == 3


@pytest.mark.parametrize(("response", "says"), [
    ({"kind": "status", "status": 500}, "answered HTTP 500"),
    ({"kind": "malformed"}, "not a Chat Completions response"),
])
async def test_persistent_errors_fail_with_a_message_naming_the_provider(
    settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
    response: dict[str, object], says: str,
) -> None:
    provider.script(response, response, response)
    async with app_client(settings_for("memory", agents_dir=agents_dir)) as http:
        task = await send(http, "assistant", user_message_v1("hi"))
    assert task["status"]["state"] == "TASK_STATE_FAILED"
    error = _error(task)
    assert error["code"] == "provider_error"
    assert "provider 'standin'" in error["message"] and says in error["message"]
    assert "3 attempts" in error["message"]
    assert "Traceback" not in error["message"]
    assert task["status"]["message"]["parts"][0]["text"] == error["message"]
    assert len(provider.requests()) == 3  # retries: 2


async def test_a_retry_after_beyond_the_budget_fails_at_once(
    settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    provider.script({"kind": "status", "status": 429, "headers": {"Retry-After": "60"}})
    async with app_client(settings_for("memory", agents_dir=agents_dir)) as http:
        task = await send(http, "assistant", user_message_v1("hi"))
    assert _error(task)["code"] == "provider_error"
    assert "HTTP 429" in _error(task)["message"] and "timeout" in _error(task)["message"]
    assert len(provider.requests()) == 1


async def test_a_refused_key_is_not_retried(
    settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    provider.script({"kind": "status", "status": 401,
                     "body": {"error": {"message": "Incorrect API key"}}})
    async with app_client(settings_for("memory", agents_dir=agents_dir)) as http:
        task = await send(http, "assistant", user_message_v1("hi"))
    assert "STANDIN_API_KEY" in _error(task)["message"]
    assert "Incorrect API key" in _error(task)["message"]
    assert len(provider.requests()) == 1


async def test_an_unreachable_provider_fails_clearly(
    settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
) -> None:
    write_agent(agents_dir, "nowhere", llm_options(provider, base_url="http://127.0.0.1:9/v1",
                                                   retries=0))
    async with app_client(settings_for("memory", agents_dir=agents_dir)) as http:
        task = await send(http, "nowhere", user_message_v1("hi"))
    assert _error(task)["code"] == "provider_error"
    assert "could not be reached" in _error(task)["message"]


async def test_an_unconfigured_provider_warns_at_start_up_and_fails_tasks(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("MISSING_PROVIDER_KEY", raising=False)
    write_agent(agents_dir, "unset", llm_options(provider, api_key_env="MISSING_PROVIDER_KEY"))
    async with app_client(settings_for(backend, agents_dir=agents_dir)) as http:
        assert "MISSING_PROVIDER_KEY is not set" in caplog.text
        task = await send(http, "unset", user_message_v1("hi"))
        echo = await send(http, "echo", user_message_v1("still fine"))
    assert task["status"]["state"] == "TASK_STATE_FAILED"
    assert _error(task)["code"] == "provider_not_configured"
    assert "MISSING_PROVIDER_KEY" in task["status"]["message"]["parts"][0]["text"]
    assert echo["status"]["state"] == "TASK_STATE_COMPLETED"
    assert provider.requests() == []


@pytest.mark.parametrize(("options", "says"), [
    ({"model": ""}, "options.model"),
    ({"temperature": 5}, "options.temperature"),
    ({"api_key_env": "sk-123 secret"}, "options.api_key_env"),
    ({"base_url": "ftp://x"}, "options.base_url"),
    ({"unknown_option": 1}, "options.unknown_option"),
    ({"server_tools": ["not a function"]}, "options.server_tools"),
    ({"server_tools": ["tests.llm.sample_tools:nothing_here"]}, "cannot import"),
    ({"experts": [{"name": "x"}]}, "exactly one of"),
])
def test_bad_options_are_refused_at_start_up_naming_the_field(
    tmp_path: Path, provider: Provider, options: dict[str, object], says: str,
) -> None:
    write_agent(tmp_path, "bad", llm_options(provider, **options))
    with pytest.raises(ConfigError, match=r"bad\.binding\.yaml") as caught:
        load_agents(tmp_path)
    assert says in str(caught.value)
