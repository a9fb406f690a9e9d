"""Tenant isolation on every route: tenant B never sees tenant A's tasks, contexts or configs.

Everything of another tenant answers exactly like something that does not exist
(404 / TaskNotFound), never 403, so nothing can be enumerated.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from a2a_server.settings import Settings
from tests.conftest import ACME, DEMO, REPO, V1, running_app, user_message_v03, user_message_v1

TASK_NOT_FOUND_RPC = -32001


@pytest.fixture
def agents_with_push(tmp_path: Path) -> Path:
    """The shipped agents plus an echo agent that declares push notifications."""
    directory = tmp_path / "agents"
    shutil.copytree(REPO / "agent_cards", directory)
    card = json.loads((REPO / "agent_cards" / "echo.json").read_text())
    card["capabilities"]["pushNotifications"] = True
    (directory / "pushecho.json").write_text(json.dumps(card))
    (directory / "pushecho.binding.yaml").write_text("executor: echo\n")
    return directory


@pytest.fixture
def tenants_all_agents(tmp_path: Path) -> Path:
    """The shipped tenants, with every agent enabled for acme too (so 404s come from the task)."""
    directory = tmp_path / "tenants"
    shutil.copytree(REPO / "tenants", directory)
    acme = directory / "acme.yaml"
    acme.write_text(acme.read_text().replace('agents: ["echo"]', 'agents: ["*"]'))
    return directory


@pytest.fixture
async def http(
    backend: str, settings_for: Callable[..., Settings], agents_with_push: Path,
    tenants_all_agents: Path,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(backend, agents_dir=agents_with_push, tenants_dir=tenants_all_agents)
    async with running_app(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def demo_task(http: httpx.AsyncClient, agent: str = "echo") -> dict[str, Any]:
    response = await http.post(f"/agents/{agent}/v1/message:send", json=user_message_v03("mine"),
                               headers=DEMO)
    assert response.status_code == 200, response.text
    return response.json()["task"]  # type: ignore[no-any-return]


def assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["error"]["status"] == "NOT_FOUND"


async def rpc(http: httpx.AsyncClient, method: str, params: dict[str, Any], headers: dict[str, str],
              agent: str = "echo") -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    response = await http.post(f"/agents/{agent}/v1", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", [{}, V1], ids=["v0.3", "v1.0"])
async def test_get_task_of_other_tenant_is_not_found(
    http: httpx.AsyncClient, version: dict[str, str]
) -> None:
    task = await demo_task(http)
    assert_not_found(await http.get(f"/agents/echo/v1/tasks/{task['id']}", headers={**ACME, **version}))
    mine = await http.get(f"/agents/echo/v1/tasks/{task['id']}", headers={**DEMO, **version})
    assert mine.status_code == 200


@pytest.mark.parametrize("version", [{}, V1], ids=["v0.3", "v1.0"])
async def test_cancel_and_subscribe_of_other_tenant_are_not_found(
    http: httpx.AsyncClient, version: dict[str, str]
) -> None:
    task = await demo_task(http)
    headers = {**ACME, **version}
    assert_not_found(await http.post(f"/agents/echo/v1/tasks/{task['id']}:cancel", headers=headers))
    assert_not_found(await http.get(f"/agents/echo/v1/tasks/{task['id']}:subscribe", headers=headers))
    assert_not_found(await http.post(f"/agents/echo/v1/tasks/{task['id']}:subscribe", headers=headers))


@pytest.mark.parametrize("version", [{}, V1], ids=["v0.3", "v1.0"])
async def test_follow_up_into_other_tenants_task_is_not_found(
    http: httpx.AsyncClient, version: dict[str, str]
) -> None:
    task = await demo_task(http)
    build = user_message_v1 if version else user_message_v03
    body = build("intrude", taskId=task["id"])
    for path in ("message:send", "message:stream"):
        response = await http.post(f"/agents/echo/v1/{path}", json=body, headers={**ACME, **version})
        assert_not_found(response)
    after = await http.get(f"/agents/echo/v1/tasks/{task['id']}", headers=DEMO)
    assert [m["parts"][0]["text"] for m in after.json()["history"] if m["role"] == "user"] == ["mine"]


@pytest.mark.parametrize("version", [{}, V1], ids=["v0.3", "v1.0"])
async def test_list_tasks_shows_only_own_tasks(http: httpx.AsyncClient, version: dict[str, str]) -> None:
    task = await demo_task(http)
    other = await http.post("/agents/echo/v1/message:send", json=user_message_v03("theirs"), headers=ACME)
    theirs = other.json()["task"]["id"]
    for headers, expected in ((DEMO, task["id"]), (ACME, theirs)):
        listed = await http.get("/agents/echo/v1/tasks", headers={**headers, **version})
        assert listed.status_code == 200
        assert [t["id"] for t in listed.json()["tasks"]] == [expected]


async def test_tasks_are_scoped_to_their_agent(http: httpx.AsyncClient) -> None:
    task = await demo_task(http, agent="echo")
    assert_not_found(await http.get(f"/agents/pushecho/v1/tasks/{task['id']}", headers=DEMO))
    assert (await http.get(f"/agents/echo/v1/tasks/{task['id']}", headers=DEMO)).status_code == 200


@pytest.mark.parametrize("version", [{}, V1], ids=["v0.3", "v1.0"])
async def test_context_of_other_tenant_is_not_found(http: httpx.AsyncClient, version: dict[str, str]) -> None:
    task = await demo_task(http)
    path = f"/agents/echo/v1/contexts/{task['contextId']}"
    assert_not_found(await http.get(path, headers={**ACME, **version}))
    assert_not_found(await http.delete(path, headers={**ACME, **version}))
    kept = await http.get(path, headers={**DEMO, **version})
    assert kept.status_code == 200 and len(kept.json()["items"]) == 1


async def test_same_context_id_in_two_tenants_stays_separate(http: httpx.AsyncClient) -> None:
    shared = "shared-context-id"
    for headers, text in ((DEMO, "from demo"), (ACME, "from acme")):
        body = user_message_v03(text, contextId=shared)
        sent = await http.post("/agents/echo/v1/message:send", json=body, headers=headers)
        assert sent.status_code == 200
    for headers, text in ((DEMO, "from demo"), (ACME, "from acme")):
        context = (await http.get(f"/agents/echo/v1/contexts/{shared}", headers=headers)).json()
        assert [item["history"][0]["parts"][0]["text"] for item in context["items"]] == [text]


async def test_push_configs_of_other_tenant_are_invisible(http: httpx.AsyncClient) -> None:
    task = await demo_task(http, agent="pushecho")
    base = f"/agents/pushecho/v1/tasks/{task['id']}/pushNotificationConfigs"
    config = {"url": "https://example.invalid/hook", "token": "t"}
    created = await http.post(base, json=config, headers={**DEMO, **V1})
    assert created.status_code == 200, created.text
    config_id = created.json()["id"]
    acme_headers = {**ACME, **V1}
    for response in (
        await http.get(base, headers=acme_headers),
        await http.get(f"{base}/{config_id}", headers=acme_headers),
        await http.delete(f"{base}/{config_id}", headers=acme_headers),
        await http.post(base, json=config, headers=acme_headers),
    ):
        assert response.status_code == 404, response.text
    still = await http.get(f"{base}/{config_id}", headers={**DEMO, **V1})
    assert still.status_code == 200 and still.json()["url"] == config["url"]


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("GetTask", lambda t: {"id": t}),
        ("CancelTask", lambda t: {"id": t}),
        ("SubscribeToTask", lambda t: {"id": t}),
        ("SendMessage", lambda t: user_message_v1("intrude", taskId=t)),
    ],
)
async def test_jsonrpc_v1_methods_hide_other_tenants_tasks(
    http: httpx.AsyncClient, method: str, params: Callable[[str], dict[str, Any]]
) -> None:
    task = await demo_task(http)
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params(task["id"])}
    response = await http.post("/agents/echo/v1", json=body, headers={**ACME, **V1})
    text = response.text
    assert '"code":-32001' in text.replace(" ", ""), text  # TaskNotFound, also for streams


@pytest.mark.parametrize("method", ["tasks/get", "tasks/cancel"])
async def test_jsonrpc_v03_methods_hide_other_tenants_tasks(http: httpx.AsyncClient, method: str) -> None:
    task = await demo_task(http)
    answer = await rpc(http, method, {"id": task["id"]}, ACME)
    assert answer["error"]["code"] == TASK_NOT_FOUND_RPC


async def test_jsonrpc_list_tasks_shows_only_own(http: httpx.AsyncClient) -> None:
    task = await demo_task(http)
    mine = await rpc(http, "ListTasks", {}, {**DEMO, **V1})
    theirs = await rpc(http, "ListTasks", {}, {**ACME, **V1})
    assert [t["id"] for t in mine["result"]["tasks"]] == [task["id"]]
    assert theirs["result"]["tasks"] == []
