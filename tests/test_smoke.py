"""The README walkthrough, in-process: token, send, get with historyLength, both shapes."""

from __future__ import annotations

import httpx

from tests.conftest import DEMO, V1, user_message_v03, user_message_v1


async def test_token_then_send_and_get(client: httpx.AsyncClient) -> None:
    token = await client.post(
        "/realms/demo/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": "demo-client",
              "client_secret": "demo-secret"},
    )
    assert token.status_code == 200, token.text
    auth = {"Authorization": f"Bearer {token.json()['access_token']}", "Tenant-Name": "demo"}
    sent = await client.post("/agents/echo/v1/message:send", json=user_message_v03("hi"),
                             headers=auth)
    assert sent.status_code == 200, sent.text
    task = sent.json()["task"]
    assert task["kind"] == "task" and task["status"]["state"] == "completed"
    got = await client.get(f"/agents/echo/v1/tasks/{task['id']}", params={"historyLength": 1},
                           headers={**auth, **V1})
    assert got.status_code == 200, got.text
    assert got.json()["status"]["state"] == "TASK_STATE_COMPLETED"
    assert len(got.json()["history"]) == 1


async def test_v1_send(client: httpx.AsyncClient) -> None:
    sent = await client.post("/agents/echo/v1/message:send", json=user_message_v1("hi"),
                             headers={**DEMO, **V1})
    assert sent.status_code == 200, sent.text
    assert sent.json()["task"]["artifacts"][0]["parts"][0]["text"] == "echo: hi"


async def test_start_up_objects_are_kept_out_of_full_gc_passes() -> None:
    """With gc_tuning (the default) start-up ends with gc.freeze(): the ~130k objects of
    modules, types and configuration are not traversed by every full collection; and
    collections run less often."""
    import gc

    from tests.conftest import make_settings, running_app

    thresholds = gc.get_threshold()
    gc.unfreeze()
    try:
        async with running_app(make_settings(gc_tuning=False)):
            assert gc.get_freeze_count() == 0
            assert gc.get_threshold() == thresholds
        async with running_app(make_settings(gc_tuning=True)):
            assert gc.get_freeze_count() > 10_000
            assert gc.get_threshold()[0] > thresholds[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
