"""Push notifications delivered from the outbox to a real webhook receiver process."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from a2a_server.stores.base import Scope
from tests.conftest import ACME, REPO, running_app
from tests.push.conftest import (
    AUTH,
    BASE,
    CHUNKED,
    FAST,
    OPEN,
    Received,
    Receiver,
    message,
    send,
    state_of,
    version_of,
    with_webhook,
)

Opener = Callable[..., Any]


def _of(task_id: str) -> Callable[[Received], bool]:
    return lambda r: r.delivery_id.startswith(f"{task_id}:")


async def _log(http: httpx.AsyncClient, task_id: str, config_id: str = "hook",
               headers: dict[str, str] | None = None) -> httpx.Response:
    return await http.get(f"{BASE}/tasks/{task_id}/pushNotificationConfigs/{config_id}/deliveries",
                          headers=headers or AUTH)


async def _until_log(http: httpx.AsyncClient, task_id: str, check: Callable[[dict[str, Any]], bool],
                     seconds: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        response = await _log(http, task_id)
        if response.status_code == 200 and check(response.json()):
            return response.json()  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"delivery log never matched: {response.text}")
        await asyncio.sleep(0.05)


async def test_notifications_arrive_in_commit_order_once_each(
        push_client: Opener, receiver: Receiver) -> None:
    async with push_client() as http:
        task = await send(http, with_webhook(CHUNKED, receiver.url, token="secret-token"))
        got = await receiver.until(lambda r: any(state_of(x.json) == "TASK_STATE_COMPLETED"
                                                 for x in r))
    mine = [r for r in got if _of(task["id"])(r)]
    assert [version_of(r) for r in mine] == sorted(version_of(r) for r in mine)
    assert len({r.delivery_id for r in mine}) == len(mine) == 5
    kinds = [next(iter(r.json)) for r in mine]
    assert kinds == ["task", "statusUpdate", "artifactUpdate", "artifactUpdate", "statusUpdate"]
    assert [state_of(r.json) for r in mine][-1] == "TASK_STATE_COMPLETED"
    assert all(r.headers["x-a2a-notification-token"] == "secret-token" for r in mine)


async def test_a_receiver_down_then_up_gets_everything_in_order_once(
        push_client: Opener, receiver: Receiver) -> None:
    receiver.stop()
    async with push_client() as http:
        task = await send(http, with_webhook(OPEN, receiver.url))
        for _ in range(3):  # follow-ups while the webhook is down
            await send(http, message(OPEN, task["id"]))
        log = await _until_log(http, task["id"], lambda j: j["state"] == "retrying"
                               and len(j["attempts"]) >= 2)
        assert log["attempts"][0]["status"] is None and log["attempts"][0]["error"]
        assert log["nextRetryAt"] is not None
        receiver.start()
        await receiver.until(lambda r: len(r) >= 5)
        final = await _until_log(http, task["id"], lambda j: j["delivered"] == 5)
        await asyncio.sleep(0.3)  # nothing more arrives
        got = receiver.received()
    assert len(got) == 5  # the task, input-required, and input-required after each follow-up
    assert len({r.delivery_id for r in got}) == 5
    assert [version_of(r) for r in got] == sorted(version_of(r) for r in got)
    assert final["state"] == "ok" and final["nextRetryAt"] is None


async def test_retry_after_of_a_429_is_honoured(push_client: Opener, receiver: Receiver) -> None:
    receiver.script({"status": 429, "headers": {"Retry-After": "1"}})
    async with push_client(push_retry_max_seconds=5) as http:
        task = await send(http, with_webhook(CHUNKED, receiver.url))
        got = await receiver.until(lambda r: len(r) >= 6)
        log = (await _log(http, task["id"])).json()
    first, again = got[0], got[1]
    assert first.answered == 429 and again.delivery_id == first.delivery_id
    throttled = next(a for a in log["attempts"] if a["status"] == 429)
    waited = _ms(throttled["nextRetryAt"]) - _ms(throttled["at"])
    assert waited >= 1000  # the delay chosen honours Retry-After (not a measured time)
    assert len({r.delivery_id for r in got if r.answered == 200}) == 5


async def test_a_final_4xx_marks_the_config_and_the_next_notification_still_goes(
        push_client: Opener, receiver: Receiver) -> None:
    receiver.script({"status": 400}, {"status": 404})
    async with push_client() as http:
        task = await send(http, with_webhook(OPEN, receiver.url))  # two notifications
        failed = await _until_log(http, task["id"], lambda j: len(j["attempts"]) == 2)
        assert failed["state"] == "failed" and failed["reason"] == "HTTP 404"
        assert [a["nextRetryAt"] for a in failed["attempts"]] == [None, None]
        await send(http, message(OPEN, task["id"]))
        ok = await _until_log(http, task["id"], lambda j: j["state"] == "ok")
    got = receiver.received()
    assert [r.answered for r in got] == [400, 404, 200]  # neither refused one was sent again
    assert len({r.delivery_id for r in got}) == 3
    assert [a["status"] for a in ok["attempts"]] == [200, 404, 400]  # newest first
    assert ok["lastError"] == "HTTP 404" and ok["reason"] is None


async def test_a_redirect_is_not_followed(push_client: Opener, receiver: Receiver) -> None:
    receiver.script({"status": 302, "headers": {"Location": receiver.url + "/elsewhere"}})
    async with push_client() as http:
        task = await send(http, with_webhook(OPEN, receiver.url))
        log = await _until_log(http, task["id"], lambda j: j["delivered"] == 1)
    assert log["lastError"] == "HTTP 302: redirects are not followed"
    assert [r.path for r in receiver.received()] == ["/hook", "/hook"]  # never /hook/elsewhere


async def test_a_trickling_receiver_is_cut_off_and_retried(
        push_client: Opener, receiver: Receiver) -> None:
    receiver.script({"status": 200, "trickle": 5})
    async with push_client(push_timeout_seconds=0.5) as http:
        task = await send(http, with_webhook(OPEN, receiver.url))
        log = await _until_log(http, task["id"], lambda j: j["delivered"] == 2)
    cut = log["attempts"][-1]
    assert cut["status"] is None and "within 0.5 s" in cut["error"]
    assert log["attempts"][0]["status"] == 200


async def test_the_delivery_log_is_the_tenants_own(push_client: Opener, receiver: Receiver) -> None:
    async with push_client() as http:
        task = await send(http, with_webhook(OPEN, receiver.url))
        log = await _until_log(http, task["id"], lambda j: j["delivered"] == 2)
        other = await _log(http, task["id"], headers={**ACME, "A2A-Version": "1.0"})
        missing = await _log(http, task["id"], config_id="nope")
        unknown = await _log(http, "no-such-task")
    assert log["taskId"] == task["id"] and log["configId"] == "hook"
    attempt = log["attempts"][0]
    assert attempt["status"] == 200 and attempt["error"] is None
    assert [a["deliveryId"] for a in log["attempts"]] == [
        r.delivery_id for r in reversed(receiver.received())]
    assert attempt["at"].endswith("Z")
    assert other.status_code == 404 and unknown.status_code == 404
    assert missing.status_code == 404


async def test_an_inline_config_of_a_task_its_first_commit_finishes_is_stored_and_served(
        backend: str, settings_for: Callable[..., Any], receiver: Receiver) -> None:
    # The config rides on the task's first commit (no write of its own) and the commit's
    # events are queued for it though they are not logged (nobody can be subscribed yet).
    body = message("tck-complete-task")
    body["configuration"] = {"taskPushNotificationConfig": {"url": receiver.url,
                                                            "token": "t-1"}}
    async with running_app(settings_for(backend, **FAST)) as app, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        task = await send(http, body)
        listed = await http.get(f"{BASE}/tasks/{task['id']}/pushNotificationConfigs",
                                headers=AUTH)
        got = await receiver.until(lambda r: len([x for x in r if _of(task["id"])(x)]) >= 2)
        await asyncio.sleep(0.2)  # nothing more comes
        stores, scope = app.state.server.stores, Scope("demo", "conformance")
        if backend == "redis":
            logged = await stores.client.exists(stores.tasks._keys(scope, task["id"]).events)
        else:
            logged = stores.events._logs.get((scope.owner, task["id"]))
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert listed.status_code == 200, listed.text
    configs = listed.json()["configs"]
    assert [(c["id"], c["url"], c["token"], c["taskId"]) for c in configs] == [
        (task["id"], receiver.url, "t-1", task["id"])]  # the id defaults to the task's
    mine = [r for r in receiver.received() if _of(task["id"])(r)]
    assert len(got) >= 2 and len(mine) == 2
    assert [next(iter(r.json)) for r in mine] == ["task", "statusUpdate"]
    assert [version_of(r) for r in mine] == [(1, 1), (2, 1)]
    assert not logged


async def test_a_task_without_configs_queues_nothing(push_client: Opener,
                                                     receiver: Receiver) -> None:
    async with push_client() as http:
        task = await send(http, message(CHUNKED))
        configs = f"{BASE}/tasks/{task['id']}/pushNotificationConfigs"
        await http.post(configs, json={"id": "late", "url": receiver.url}, headers=AUTH)
        await asyncio.sleep(0.3)
    assert receiver.received() == []  # events committed before the config are not replayed


def _ms(stamp: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


async def test_a_slow_webhook_does_not_hold_up_another_tenant(
        backend: str, settings_for: Callable[..., Any], receiver: Receiver,
        tmp_path: Path) -> None:
    tenants = tmp_path / "tenants"
    shutil.copytree(REPO / "tenants", tenants)
    acme = tenants / "acme.yaml"
    acme.write_text(acme.read_text().replace('agents: ["echo"]', 'agents: ["*"]'))
    fast = Receiver(tmp_path / "fast.jsonl").start()
    receiver.script(*({"delay": 2} for _ in range(4)))  # demo's webhook answers slowly
    settings = settings_for(backend, **{**FAST, "push_per_tenant": 1, "push_timeout_seconds": 5,
                                        "tenants_dir": tenants})
    try:
        async with running_app(settings) as app, httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
            for _ in range(2):
                await send(http, with_webhook(OPEN, receiver.url))
            await send(http, with_webhook(OPEN, fast.url),
                       headers={**ACME, "A2A-Version": "1.0"})
            await fast.until(lambda r: len(r) == 2)
            slow_so_far = len(receiver.received())
            await receiver.until(lambda r: len(r) == 4)
    finally:
        fast.stop()
    assert slow_so_far < 4  # acme's notifications did not wait for demo's slow webhook


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    from a2a_server.push.deliverer import PushOptions, backoff_s, retry_after

    options = PushOptions(retry_base_s=1, retry_max_s=60, max_age_s=3600)
    for failures, ceiling in ((1, 1), (2, 2), (5, 16), (20, 60)):
        delays = {backoff_s(failures, options, None) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays) and len(delays) > 1
    assert backoff_s(1, options, 120) == 120  # Retry-After beyond the usual ceiling
    assert backoff_s(1, options, 10**6) == 3600  # but not beyond the notification's age
    assert retry_after("7", 0) == 7
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470) == 10
    assert retry_after("soon", 0) is None and retry_after(None, 0) is None


async def test_the_url_policy_is_checked_again_at_delivery(
        backend: str, settings_for: Callable[..., Any], receiver: Receiver) -> None:
    from a2a.server.context import ServerCallContext
    from a2a.types.a2a_pb2 import TaskPushNotificationConfig

    from a2a_server.stores.base import SCOPE_KEY, Scope

    strict = {k: v for k, v in FAST.items() if k != "push_url_allowlist"}  # loopback refused
    async with running_app(settings_for(backend, **strict)) as app, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        task = await send(http, message(OPEN))
        # As if the URL had passed at registration and its name now pointed at loopback.
        scope = Scope("demo", "conformance")
        await app.state.server.stores.push_configs.set_info(
            task["id"], TaskPushNotificationConfig(id="hook", url=receiver.url),
            ServerCallContext(state={SCOPE_KEY: scope}))
        await send(http, message(OPEN, task["id"]))
        log = await _until_log(http, task["id"], lambda j: j["state"] == "retrying")
    assert log["reason"] == "URL refused by the push URL policy"
    assert log["attempts"][0]["status"] is None
    assert receiver.received() == []


async def test_a_notification_is_given_up_after_the_max_age(
        push_client: Opener, receiver: Receiver) -> None:
    receiver.stop()
    async with push_client(push_max_age_seconds=0.5) as http:
        task = await send(http, with_webhook(OPEN, receiver.url))
        log = await _until_log(http, task["id"], lambda j: j["state"] == "failed")
        receiver.start()
        await send(http, message(OPEN, task["id"]))  # a new notification still goes
        await receiver.until(lambda r: len(r) >= 1)
        await asyncio.sleep(0.3)
    assert log["reason"] == "gave up: not delivered within 0.5 s"
    assert [version_of(r) for r in receiver.received()] == [(3, 1)]  # the old ones are gone
