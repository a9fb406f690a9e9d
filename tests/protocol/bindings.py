"""Send one A2A message over any binding and check the answer and every read afterwards."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx

from tests.conftest import DEMO, V1

AGENT = "/agents/echo/v1"
BINDINGS = ("rest-0.3", "rest-1.0", "jsonrpc-0.3", "jsonrpc-1.0")


def is_v1(binding: str) -> bool:
    return binding.endswith("1.0")


def encode(value: Any) -> bytes:
    """JSON as a careless client writes it: NaN and Infinity tokens included."""
    return json.dumps(value, allow_nan=True).encode()


def send_args(binding: str, params: Any) -> dict[str, Any]:
    """``url``, ``content`` and ``headers`` of a send of ``params`` over ``binding``."""
    headers = {**DEMO, **(V1 if is_v1(binding) else {}), "Content-Type": "application/json"}
    if binding.startswith("rest"):
        return {"url": f"{AGENT}/message:send", "content": encode(params), "headers": headers}
    method = "SendMessage" if is_v1(binding) else "message/send"
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    return {"url": AGENT, "content": encode(body), "headers": headers}


async def send(http: httpx.AsyncClient, binding: str, params: Any) -> httpx.Response:
    """POST ``params`` (a message:send body / SendMessage params) over ``binding``."""
    return await http.post(**send_args(binding, params))


def sent_task(response: httpx.Response, binding: str) -> dict[str, Any] | None:
    """The task a successful send answered with (None: a direct message)."""
    body = response.json()
    result = body if binding.startswith("rest") else body["result"]
    if binding == "jsonrpc-0.3":
        return result if result.get("kind") == "task" else None
    task = result.get("task")
    return task if isinstance(task, dict) else None


def check_answer(response: httpx.Response, binding: str) -> bool:
    """No 5xx; an error is in the binding's format. True if the send succeeded."""
    assert response.status_code < 500, response.text
    body = response.json()
    if binding.startswith("rest"):
        if response.status_code == 200:
            assert "task" in body or "message" in body, body
            return True
        error = body["error"]
        assert error["code"] == response.status_code and error["status"] and error["message"]
        assert 400 <= response.status_code < 500
        return False
    assert response.status_code == 200, response.text
    assert body["jsonrpc"] == "2.0" and body["id"] in (7, None)
    if "error" in body:
        code = body["error"]["code"]
        assert code != -32603 and -32768 <= code <= -32000, body
        assert "Traceback" not in body["error"].get("message", "")
        return False
    assert "result" in body
    return True


def check_task_reads(http: httpx.Client, task_id: str, context_id: str) -> None:
    """GET of the task and of its context, in both versions, and ListTasks: all 200."""
    task_id, context_id = quote(task_id, safe=""), quote(context_id, safe="")
    for version in ({}, V1):
        for url in (f"{AGENT}/tasks/{task_id}", f"{AGENT}/contexts/{context_id}", f"{AGENT}/tasks"):
            got = http.get(url, headers={**DEMO, **version})
            assert got.status_code == 200, got.text


def check_reads_sync(http: httpx.Client) -> int:
    """``check_reads`` for a client of a live server."""
    tasks: dict[str, str] = {}
    for version in ({}, V1):
        listed = http.get(f"{AGENT}/tasks", params={"pageSize": 100}, headers={**DEMO, **version})
        assert listed.status_code == 200, listed.text
        tasks.update((t["id"], t["contextId"]) for t in listed.json()["tasks"])
    for task_id, context_id in tasks.items():
        check_task_reads(http, task_id, context_id)
    return len(tasks)


async def check_reads(http: httpx.AsyncClient) -> int:
    """Every read of the tenant's tasks, lists and contexts, in both versions, answers 200."""
    tasks: dict[str, str] = {}
    for version in ({}, V1):
        listed = await http.get(f"{AGENT}/tasks", headers={**DEMO, **version})
        assert listed.status_code == 200, listed.text
        for task in listed.json()["tasks"]:
            tasks[task["id"]] = task["contextId"]
    for task_id, context_id in tasks.items():
        for version in ({}, V1):
            got = await http.get(f"{AGENT}/tasks/{task_id}", headers={**DEMO, **version})
            assert got.status_code == 200, got.text
            context = await http.get(f"{AGENT}/contexts/{context_id}", headers={**DEMO, **version})
            assert context.status_code == 200, context.text
    return len(tasks)
