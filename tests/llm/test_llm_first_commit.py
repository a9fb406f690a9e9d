"""An LLM agent's first commit (its Task and ``working``) starts before the provider call.

Otherwise the run's driver gets to it only when the agent first waits inside the HTTP client,
and the commit and the stream's start contend with a fast provider's first token
(``runs.run.let_commit_start``; docs/performance.md, "LLM streaming").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from a2a_server.agents.llm_provider import ProviderClient
from a2a_server.settings import Settings
from tests.conftest import DEMO, V1, running_app, user_message_v1
from tests.llm.conftest import Provider, agent_url, llm_options, write_agent


async def test_the_first_commit_starts_before_the_provider_call(
    backend: str, settings_for: Callable[..., Settings], agents_dir: Path, provider: Provider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No earlier messages to read: nothing else makes the agent wait before the provider call
    # (a context read from Redis would let the driver in by itself).
    write_agent(agents_dir, "fresh", llm_options(provider, context_messages=0))
    provider.script({"kind": "text", "text": "Hello", "usage": {"prompt_tokens": 1,
                                                               "completion_tokens": 1}})
    order: list[str] = []
    real_complete = ProviderClient.complete

    async def complete(self: ProviderClient, *args: Any) -> Any:
        order.append("provider call")
        return await real_complete(self, *args)

    monkeypatch.setattr(ProviderClient, "complete", complete)
    async with running_app(settings_for(backend, agents_dir=agents_dir)) as app:
        tasks = app.state.server.stores.tasks
        real_commit = tasks.commit

        async def commit(*args: Any) -> Any:
            order.append("commit")
            return await real_commit(*args)

        monkeypatch.setattr(tasks, "commit", commit)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     timeout=30) as http:
            sent = await http.post(agent_url("fresh", "/message:send"),
                                   headers={**DEMO, **V1}, json=user_message_v1("hi"))
    assert sent.status_code == 200, sent.text
    assert sent.json()["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    asked = order.index("provider call")
    first = order.index("commit")
    assert first < asked, order
