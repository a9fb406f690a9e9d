"""The task render cache returns exactly what a fresh render would, and never a stale body."""

from __future__ import annotations

import orjson
from a2a.types.a2a_pb2 import Message, Part, Task, TaskState, TaskStatus

from a2a_server.protocol import shapes


def make_task(state: int, text: str) -> Task:
    task = Task(id="t1", context_id="c1", status=TaskStatus(state=state))
    task.history.append(Message(message_id="m1", role=1, parts=[Part(text=text)]))
    return task


def test_cached_render_equals_fresh_render_in_both_shapes() -> None:
    task = make_task(TaskState.TASK_STATE_COMPLETED, "hello")
    for v03 in (True, False):
        first = shapes.task_json_bytes(task, v03)
        again = shapes.task_json_bytes(task, v03)
        assert first == again == orjson.dumps(shapes.task_json(task, v03))


def test_a_changed_task_is_rendered_anew() -> None:
    before = shapes.task_json_bytes(make_task(TaskState.TASK_STATE_WORKING, "x"), v03=False)
    after = shapes.task_json_bytes(make_task(TaskState.TASK_STATE_COMPLETED, "x"), v03=False)
    assert orjson.loads(before)["status"]["state"] == "TASK_STATE_WORKING"
    assert orjson.loads(after)["status"]["state"] == "TASK_STATE_COMPLETED"


def test_versions_do_not_share_entries() -> None:
    task = make_task(TaskState.TASK_STATE_COMPLETED, "same")
    assert orjson.loads(shapes.task_json_bytes(task, v03=True))["kind"] == "task"
    assert "kind" not in orjson.loads(shapes.task_json_bytes(task, v03=False))
