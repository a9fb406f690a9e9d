"""Both JSON shapes, field by field, and historyLength in each version's semantics."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import DEMO, V1, user_message_v03, user_message_v1
from tests.protocol.conftest import chat_task


async def test_v03_send_result_has_corti_shape(http: httpx.AsyncClient) -> None:
    body = user_message_v03("hello")
    response = await http.post("/agents/echo/v1/message:send", json=body, headers=DEMO)
    assert response.status_code == 200
    task = response.json()["task"]
    assert set(task) == {"id", "contextId", "status", "history", "artifacts", "kind"}
    assert task["kind"] == "task"
    assert task["status"]["state"] == "completed"
    assert task["status"]["timestamp"].endswith("Z")
    reply = task["status"]["message"]
    assert reply["kind"] == "message" and reply["role"] == "agent"
    assert reply["parts"] == [{"kind": "text", "text": "echo: hello"}]
    assert reply["taskId"] == task["id"] and reply["contextId"] == task["contextId"]
    [user] = task["history"]
    assert user == {"kind": "message", "role": "user", "messageId": body["message"]["messageId"],
                    "parts": [{"kind": "text", "text": "hello"}], "taskId": task["id"],
                    "contextId": task["contextId"]}
    [artifact] = task["artifacts"]
    assert artifact["name"] == "echo" and artifact["artifactId"]
    assert artifact["parts"] == [{"kind": "text", "text": "echo: hello"}]


async def test_v1_send_result_has_protojson_shape(http: httpx.AsyncClient) -> None:
    body = user_message_v1("hello")
    response = await http.post("/agents/echo/v1/message:send", json=body, headers={**DEMO, **V1})
    assert response.status_code == 200
    task = response.json()["task"]
    assert "kind" not in task
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    reply = task["status"]["message"]
    assert reply["role"] == "ROLE_AGENT" and reply["parts"] == [{"text": "echo: hello"}]
    [user] = task["history"]
    assert user == {"role": "ROLE_USER", "messageId": body["message"]["messageId"],
                    "parts": [{"text": "hello"}], "taskId": task["id"], "contextId": task["contextId"]}
    [artifact] = task["artifacts"]
    assert artifact["parts"] == [{"text": "echo: hello"}] and artifact["name"] == "echo"


async def test_same_task_reads_in_both_shapes(http: httpx.AsyncClient) -> None:
    task = (await http.post("/agents/echo/v1/message:send", json=user_message_v03("x"),
                            headers=DEMO)).json()["task"]
    old = (await http.get(f"/agents/echo/v1/tasks/{task['id']}", headers=DEMO)).json()
    new = (await http.get(f"/agents/echo/v1/tasks/{task['id']}", headers={**DEMO, **V1})).json()
    assert old == task
    assert new["id"] == old["id"] and new["contextId"] == old["contextId"]
    assert new["status"]["state"] == "TASK_STATE_COMPLETED" and old["status"]["state"] == "completed"
    assert new["history"][0]["messageId"] == old["history"][0]["messageId"]


async def test_direct_message_reply_in_both_shapes(http: httpx.AsyncClient) -> None:
    old = await http.post("/agents/direct/v1/message:send", json=user_message_v03("hi"), headers=DEMO)
    assert old.json()["message"]["kind"] == "message"
    assert old.json()["message"]["parts"] == [{"kind": "text", "text": "direct: hi"}]
    new = await http.post("/agents/direct/v1/message:send", json=user_message_v1("hi"),
                          headers={**DEMO, **V1})
    assert new.json()["message"]["role"] == "ROLE_AGENT"
    assert new.json()["message"]["parts"] == [{"text": "direct: hi"}]


def user_texts(task: dict[str, object]) -> list[str]:
    history = task.get("history", [])
    assert isinstance(history, list)
    return [m["parts"][0]["text"] for m in history]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["turn 1", "reply to turn 1", "turn 2", "reply to turn 2", "turn 3"]),
        ({"historyLength": 0}, []),
        ({"historyLength": 2}, ["reply to turn 2", "turn 3"]),
        ({"historyLength": 50}, ["turn 1", "reply to turn 1", "turn 2", "reply to turn 2", "turn 3"]),
    ],
)
async def test_history_length_v1_semantics(
    http: httpx.AsyncClient, query: dict[str, int], expected: list[str]
) -> None:
    task = await chat_task(http, turns=3)
    got = await http.get(f"/agents/chat/v1/tasks/{task['id']}", params=query, headers={**DEMO, **V1})
    assert got.status_code == 200
    assert user_texts(got.json()) == expected
    assert got.json()["status"]["message"]["parts"] == [{"text": "reply to turn 3"}]


@pytest.mark.parametrize(
    ("query", "expected_count"), [({}, 5), ({"historyLength": 0}, 5), ({"historyLength": 1}, 1)]
)
async def test_history_length_v03_semantics(
    http: httpx.AsyncClient, query: dict[str, int], expected_count: int
) -> None:
    task = await chat_task(http, turns=3)
    got = await http.get(f"/agents/chat/v1/tasks/{task['id']}", params=query, headers=DEMO)
    assert got.status_code == 200
    assert len(got.json()["history"]) == expected_count  # 0.3: 0 means unlimited


async def test_trimming_never_changes_what_is_stored(http: httpx.AsyncClient) -> None:
    task = await chat_task(http, turns=3)
    path = f"/agents/chat/v1/tasks/{task['id']}"
    for length in (0, 1, 2):
        await http.get(path, params={"historyLength": length}, headers={**DEMO, **V1})
    full = await http.get(path, headers={**DEMO, **V1})
    assert len(full.json()["history"]) == 5


async def test_history_length_on_send_trims_the_response_only(http: httpx.AsyncClient) -> None:
    task = await chat_task(http, turns=2)
    body = user_message_v1("turn 3", taskId=task["id"])
    body["configuration"] = {"historyLength": 1}
    sent = await http.post("/agents/chat/v1/message:send", json=body, headers={**DEMO, **V1})
    assert user_texts(sent.json()["task"]) == ["turn 3"]
    full = await http.get(f"/agents/chat/v1/tasks/{task['id']}", headers={**DEMO, **V1})
    assert len(full.json()["history"]) == 5


async def test_jsonrpc_get_task_history_length(http: httpx.AsyncClient) -> None:
    task = await chat_task(http, turns=3)
    body = {"jsonrpc": "2.0", "id": 1, "method": "GetTask",
            "params": {"id": task["id"], "historyLength": 2}}
    answer = (await http.post("/agents/chat/v1", json=body, headers={**DEMO, **V1})).json()
    assert user_texts(answer["result"]) == ["reply to turn 2", "turn 3"]
    old = {"jsonrpc": "2.0", "id": 2, "method": "tasks/get",
           "params": {"id": task["id"], "historyLength": 1}}
    answer = (await http.post("/agents/chat/v1", json=old, headers=DEMO)).json()
    assert answer["result"]["kind"] == "task" and len(answer["result"]["history"]) == 1


async def test_follow_up_without_context_id_joins_the_task_context(http: httpx.AsyncClient) -> None:
    # SDK 1.3.0 fails a second follow-up that names the task but not the context.
    task = await chat_task(http, turns=3)
    assert task["status"]["state"] == "input-required"
    contexts = await http.get(f"/agents/chat/v1/contexts/{task['contextId']}", headers=DEMO)
    assert [item["id"] for item in contexts.json()["items"]] == [task["id"]]


async def test_context_lists_tasks_and_direct_messages_in_order(http: httpx.AsyncClient) -> None:
    context_id = "ctx-ordered"
    first = await http.post("/agents/direct/v1/message:send",
                            json=user_message_v03("one", contextId=context_id), headers=DEMO)
    assert first.status_code == 200
    page = (await http.get(f"/agents/direct/v1/contexts/{context_id}", headers=DEMO)).json()
    assert page["id"] == context_id and page["total"] == 2
    assert [(i["kind"], i["role"]) for i in page["items"]] == [("message", "user"), ("message", "agent")]
    v1 = (await http.get(f"/agents/direct/v1/contexts/{context_id}", headers={**DEMO, **V1})).json()
    assert v1["items"][1]["message"]["role"] == "ROLE_AGENT"
    limited = (await http.get(f"/agents/direct/v1/contexts/{context_id}",
                              params={"limit": 1, "offset": 1}, headers=DEMO)).json()
    assert [i["role"] for i in limited["items"]] == ["agent"] and limited["total"] == 2


async def test_delete_context_scrubs_messages_and_artifacts(http: httpx.AsyncClient) -> None:
    task = (await http.post("/agents/echo/v1/message:send", json=user_message_v03("secret"),
                            headers=DEMO)).json()["task"]
    deleted = await http.delete(f"/agents/echo/v1/contexts/{task['contextId']}", headers=DEMO)
    assert deleted.status_code == 204
    after = (await http.get(f"/agents/echo/v1/tasks/{task['id']}", headers=DEMO)).json()
    assert after["id"] == task["id"] and after["status"]["state"] == "completed"
    assert "secret" not in str(after)
    assert not after.get("history") and not after.get("artifacts")
