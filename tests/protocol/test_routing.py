"""The protocol fast path resolves every request exactly as the app's Starlette routes do."""

from __future__ import annotations

import itertools

import httpx
from starlette.routing import Match

from a2a_server.app import create_app
from a2a_server.protocol import routing
from tests.conftest import DEMO, V1, make_settings, user_message_v1

_SUFFIXES = [
    "", "/", "/message:send", "/message:stream", "/tasks", "/tasks/", "/extendedAgentCard",
    "/tasks/t1", "/tasks/t1:cancel", "/tasks/t1:subscribe", "/tasks/:cancel", "/tasks/:subscribe",
    "/tasks/a:cancel:cancel", "/tasks/t1/pushNotificationConfigs",
    "/tasks/t1/pushNotificationConfigs/", "/tasks/t1/pushNotificationConfigs/p1",
    "/tasks/t1/pushNotificationConfigs/p1/x", "/tasks/t1/other", "/tasks//x", "/unknown",
    "/contexts/c1", "/.well-known/agent-card.json",
]
_TENANTS = ["", "/acme", "/tasks", "/message:send", "/t:x"]
_HEADS = ["/agents/echo/v1", "/agentic/agents/echo/a2a", "/agents/a:b/v1", "/agents/echo/v2",
          "/agents/echo/v1x", "/agents//v1", "/agentic/agents/echo/v1"]
_METHODS = ["GET", "POST", "DELETE", "PUT"]


def _starlette(app: object, method: str, path: str) -> tuple[object, dict[str, str]] | None:
    """What the app's own router picks: the first route matching path and method."""
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in app.router.routes:  # type: ignore[attr-defined]
        found, child = route.matches(scope)
        if found is Match.FULL:
            return route.endpoint, child["path_params"]
    return None


def test_the_fast_path_agrees_with_starlettes_routes() -> None:
    app = create_app(make_settings())
    protocol = {endpoint for _, _, endpoint in routing.REST_ROUTES} | {routing.jsonrpc.jsonrpc}
    checked = 0
    for head, tenant, suffix, method in itertools.product(_HEADS, _TENANTS, _SUFFIXES, _METHODS):
        path = head + tenant + suffix
        fast = routing.match(method, path)
        slow = _starlette(app, method, path)
        if fast is not None:
            assert slow == fast, (method, path)
            checked += 1
        else:  # left to FastAPI: must not be one of the protocol endpoints it could have taken
            assert slow is None or slow[0] not in protocol, (method, path, slow)
    assert checked > 200


async def test_a_fast_path_request_is_served_like_any_other() -> None:
    from tests.conftest import running_app

    async with running_app(make_settings()) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            sent = await http.post("/agents/echo/v1/message:send", json=user_message_v1("hi"),
                                   headers={**DEMO, **V1})
            assert sent.status_code == 200
            task_id = sent.json()["task"]["id"]
            got = await http.get(f"/agents/echo/v1/demo/tasks/{task_id}", headers={**DEMO, **V1})
            assert got.status_code == 200 and got.json()["id"] == task_id
            wrong = await http.put(f"/agents/echo/v1/tasks/{task_id}", headers=DEMO)
            assert wrong.status_code == 405  # not taken by the fast path; FastAPI answers
            big = await http.post("/agents/echo/v1/message:send", content=b"x" * 2_000_000,
                                  headers={**DEMO, "Content-Type": "application/json"})
            assert big.status_code == 413  # the body limit holds on the fast path
