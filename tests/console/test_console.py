"""The web console in a real browser (Debian's Chromium), against live servers on both stores."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from a2a_server.agents.usage import Usage
from a2a_server.stores.base import Scope
from a2a_server.stores.redis import RedisStores, create_redis_client
from tests.conftest import ACME, DEMO, LiveServer, RedisProcess, user_message_v1
from tests.console.conftest import api, shot, sign_in_with_client, sign_in_with_key

pytestmark = pytest.mark.timeout(120)

StartConsole = Callable[..., LiveServer]


def test_console_is_served_with_a_same_origin_policy(start_console: StartConsole, backend: str) -> None:
    server = start_console(backend)
    with api(server, {}) as http:
        redirect = http.get("/console", follow_redirects=False)
        assert redirect.status_code == 308 and redirect.headers["location"] == "/console/"
        index = http.get("/console/")
        script = http.get("/console/js/main.js")
    assert index.status_code == 200 and "<main" in index.text
    csp = index.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert script.status_code == 200
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))


def test_sign_in_with_client_credentials_shows_the_agents_and_cards(
    start_console: StartConsole, backend: str, page: Page, screenshots: Path
) -> None:
    server = start_console(backend)
    sign_in_with_client(page, server, secret="wrong-secret")
    expect(page.get_by_role("alert")).to_contain_text("Sign-in refused")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(page, screenshots, f"sign-in-{backend}")

    page.get_by_label("Client secret").fill("demo-secret")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Agents", exact=True)).to_be_visible()
    echo = page.locator("[data-agent=echo]")
    expect(echo.get_by_role("heading", name="Echo")).to_be_visible()
    expect(echo).to_contain_text("Repeats the user's text.")  # a skill, from the card
    expect(echo).to_contain_text("HTTP+JSON")  # a binding
    expect(page.locator("[data-agent=conformance]")).to_be_visible()
    expect(page.get_by_text("Tenant demo · client demo-client")).to_be_visible()
    shot(page, screenshots, f"agents-{backend}")

    # The credentials are in this tab's session storage and nowhere in the URL.
    stored = page.evaluate("sessionStorage.getItem('a2a-console.session')")
    assert "demo-secret" in stored and "access_token" not in page.url and "secret" not in page.url
    assert page.evaluate("localStorage.length") == 0
    assert page.errors == []  # type: ignore[attr-defined]


def test_chat_with_echo_streams_events_in_one_context(
    start_console: StartConsole, backend: str, page: Page, screenshots: Path
) -> None:
    server = start_console(backend, slow_seconds=2)
    sign_in_with_client(page, server)
    page.get_by_role("link", name="Chat with Echo").click()
    message = page.get_by_role("textbox", name="Message")
    message.fill("hello slow world")
    page.get_by_role("button", name="Send").click()

    turn = page.locator(".turn").first
    # The events arrive one by one: the task is seen working before it completes.
    expect(turn.locator(".events li").nth(0)).to_contain_text("task · submitted")
    expect(turn.locator(".turn-head .badge")).to_have_text("working")
    expect(turn.locator(".events li").nth(1)).to_contain_text("status · working")
    expect(turn.locator(".artifact")).to_have_count(0)
    expect(turn.locator(".turn-head .badge")).to_have_text("completed")
    expect(turn.locator(".events li")).to_have_text(
        [re.compile("task · submitted"), re.compile("status · working"),
         re.compile("artifact · echo"), re.compile("status · completed")])
    expect(turn.locator(".artifact")).to_contain_text("echo: hello slow world")

    message.fill("and a second turn")
    page.get_by_role("button", name="Send").click()
    second = page.locator(".turn").nth(1)
    expect(second.locator(".turn-head .badge")).to_have_text("completed")
    expect(second.locator(".artifact")).to_contain_text("echo: and a second turn")
    shot(page, screenshots, f"chat-{backend}")

    first_id = turn.locator(".turn-head a").inner_text().removeprefix("task ")
    second_id = second.locator(".turn-head a").inner_text().removeprefix("task ")
    with api(server, DEMO) as http:
        tasks = [http.get(f"/agents/echo/v1/tasks/{i}").json() for i in (first_id, second_id)]
    assert first_id != second_id
    assert tasks[0]["contextId"] == tasks[1]["contextId"]  # multi-turn: one context
    expect(page.locator(".context-line a")).to_have_text(tasks[0]["contextId"])


def test_task_page_with_a_history_length_control(
    start_console: StartConsole, backend: str, page: Page, screenshots: Path
) -> None:
    server = start_console(backend, slow_seconds=0.2)
    with api(server, DEMO) as http:
        task = http.post("/agents/echo/v1/message:send", json=user_message_v1("slow hello")).json()["task"]
    sign_in_with_client(page, server)
    expect(page.get_by_role("heading", name="Agents", exact=True)).to_be_visible()
    page.goto(f"{server.url}/console/#/tasks?agent=echo")
    page.get_by_role("link", name=task["id"]).click()

    expect(page.get_by_role("heading", name=f"Task {task['id']}")).to_be_visible()
    expect(page.locator(".task-status .badge")).to_have_text("completed")
    expect(page.locator(".artifacts")).to_contain_text("echo: slow hello")
    history = page.locator(".history")
    expect(history.locator(".message")).to_have_count(2)  # the user's, "working slowly..."
    shot(page, screenshots, f"task-{backend}")

    page.get_by_label("History length").fill("1")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"historyLength=1$"))
    expect(history.locator(".message")).to_have_count(1)
    expect(history.locator(".message")).to_contain_text("working slowly...")  # the last one
    page.get_by_label("History length").fill("0")
    page.get_by_role("button", name="Show").click()
    expect(history.locator(".message")).to_have_count(0)
    expect(history).to_contain_text("0 message(s)")
    expect(page.get_by_role("button", name="Cancel task")).to_be_hidden()  # finished


def test_cancel_a_slow_task_from_the_chat(
    start_console: StartConsole, backend: str, page: Page
) -> None:
    server = start_console(backend, slow_seconds=120)  # only the cancel can end it in time
    sign_in_with_client(page, server)
    page.get_by_role("link", name="Chat with Echo").click()
    page.get_by_role("textbox", name="Message").fill("slow please")
    page.get_by_role("button", name="Send").click()
    turn = page.locator(".turn").first
    expect(turn.locator(".turn-head .badge")).to_have_text("working")
    page.get_by_role("button", name="Cancel task").click()
    expect(turn.locator(".turn-head .badge")).to_have_text("canceled")
    expect(page.get_by_role("button", name="Cancel task")).to_be_disabled()
    task_id = turn.locator(".turn-head a").inner_text().removeprefix("task ")
    with api(server, DEMO) as http:
        assert http.get(f"/agents/echo/v1/tasks/{task_id}").json()["status"]["state"] == "TASK_STATE_CANCELED"


def test_follow_a_running_task_started_elsewhere(
    start_console: StartConsole, backend: str, page: Page, screenshots: Path
) -> None:
    """On Redis the task runs on replica A and the console is on replica B; in memory the
    task is started by another client of the same server."""
    runner = start_console(backend, slow_seconds=4)
    viewer = start_console(backend) if backend == "redis" else runner
    with api(runner, DEMO) as http:
        body = {**user_message_v1("slow from elsewhere"), "configuration": {"returnImmediately": True}}
        task = http.post("/agents/echo/v1/message:send", json=body).json()["task"]
    sign_in_with_client(page, viewer)
    expect(page.get_by_role("heading", name="Agents", exact=True)).to_be_visible()
    page.goto(f"{viewer.url}/console/#/tasks/echo/{task['id']}")

    live = page.get_by_role("region", name="Live")
    expect(live).to_be_visible()
    expect(page.locator(".task-status .badge")).to_have_text("working")
    expect(live.locator(".events li").first).to_contain_text("task · working")  # the snapshot
    shot(page, screenshots, f"task-live-{backend}")
    expect(page.locator(".task-status .badge")).to_have_text("completed")
    expect(live.locator(".events li").last).to_contain_text("status · completed")
    expect(live).to_contain_text("The task has finished.")
    expect(page.locator(".artifacts")).to_contain_text("echo: slow from elsewhere")


def test_a_second_tenant_sees_none_of_the_first_tenants_tasks(
    start_console: StartConsole, backend: str, new_page: Callable[[], Page], screenshots: Path
) -> None:
    server = start_console(backend)
    with api(server, DEMO) as http:
        task = http.post("/agents/echo/v1/message:send", json=user_message_v1("demo's secret")).json()["task"]
    demo = new_page()
    sign_in_with_client(demo, server)
    demo.goto(f"{server.url}/console/#/tasks?agent=echo")
    expect(demo.locator("tr[data-task-id]")).to_have_count(1)

    acme = new_page()
    sign_in_with_key(acme, server, "acme", ACME["X-API-Key"])
    expect(acme.get_by_role("heading", name="Agents", exact=True)).to_be_visible()
    expect(acme.locator("[data-agent]")).to_have_count(1)  # acme may use echo only
    acme.get_by_role("link", name="Tasks", exact=True).first.click()
    expect(acme.get_by_role("heading", name="Tasks")).to_be_visible()
    expect(acme.get_by_text("No tasks match these filters.")).to_be_visible()
    expect(acme.locator("main")).not_to_contain_text("demo's secret")
    shot(acme, screenshots, f"isolation-acme-tasks-{backend}")

    acme.goto(f"{server.url}/console/#/tasks/echo/{task['id']}")
    expect(acme.get_by_role("alert")).to_contain_text("not found")
    acme.goto(f"{server.url}/console/#/contexts/echo/{task['contextId']}")
    expect(acme.get_by_role("alert")).to_contain_text("not found")
    expect(acme.locator("main")).not_to_contain_text("demo's secret")
    acme.goto(f"{server.url}/console/#/chat/echo")
    expect(acme.get_by_role("log", name="Conversation").locator(".message")).to_have_count(0)


def test_task_list_filters_and_pages(
    start_console: StartConsole, backend: str, page: Page, screenshots: Path
) -> None:
    server = start_console(backend, slow_seconds=120)
    with api(server, DEMO) as http:
        first = http.post("/agents/echo/v1/message:send", json=user_message_v1("task 0")).json()["task"]
        for i in range(1, 11):
            body = user_message_v1(f"task {i}", contextId=first["contextId"] if i < 3 else None)
            if i >= 3:
                del body["message"]["contextId"]
            http.post("/agents/echo/v1/message:send", json=body).raise_for_status()
        slow = {**user_message_v1("slow to cancel"), "configuration": {"returnImmediately": True}}
        canceled = http.post("/agents/echo/v1/message:send", json=slow).json()["task"]
        assert http.post(f"/agents/echo/v1/tasks/{canceled['id']}:cancel").status_code == 200

    sign_in_with_client(page, server)
    page.get_by_role("link", name="Tasks", exact=True).first.click()
    rows = page.locator("tr[data-task-id]")
    page.get_by_label("Agent").select_option("echo")
    page.get_by_label("Per page").select_option("10")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("status")).to_contain_text("12 task(s) match; showing 10 on page 1")
    expect(rows).to_have_count(10)
    shot(page, screenshots, f"tasks-{backend}")
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_role("status")).to_contain_text("showing 2 on page 2")
    expect(rows).to_have_count(2)
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    page.get_by_role("link", name="Previous page").click()
    expect(rows).to_have_count(10)

    page.get_by_label("State").select_option("TASK_STATE_CANCELED")
    page.get_by_role("button", name="Apply filters").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-task-id", canceled["id"])
    expect(rows.first.locator(".badge")).to_have_text("canceled")

    page.get_by_label("State").select_option("")
    page.get_by_label("Context ID").fill(first["contextId"])
    page.get_by_role("button", name="Apply filters").click()
    expect(rows).to_have_count(3)

    page.get_by_label("Context ID").fill("")
    in_an_hour = time.localtime(time.time() + 3600)
    page.get_by_label("Updated after").fill(time.strftime("%Y-%m-%dT%H:%M", in_an_hour))
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_text("No tasks match these filters.")).to_be_visible()


def test_a_context_with_its_tasks_and_delete_with_confirmation(
    start_console: StartConsole, backend: str, page: Page, screenshots: Path
) -> None:
    server = start_console(backend)
    with api(server, DEMO) as http:
        first = http.post("/agents/echo/v1/message:send", json=user_message_v1("first words")).json()["task"]
        http.post("/agents/echo/v1/message:send",
                  json=user_message_v1("second words", contextId=first["contextId"])).raise_for_status()
    sign_in_with_client(page, server)
    page.get_by_role("link", name="Contexts").click()
    page.get_by_label("Agent").select_option("echo")
    page.get_by_role("link", name=first["contextId"]).click()
    tasks = page.locator(".context-task")
    expect(tasks).to_have_count(2)
    expect(tasks.nth(0)).to_contain_text("first words")
    expect(tasks.nth(1)).to_contain_text("echo: second words")
    shot(page, screenshots, f"context-{backend}")

    page.get_by_role("button", name="Delete context…").click()
    dialog = page.get_by_role("dialog", name="Delete this context?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_have_count(0)
    expect(tasks.nth(0)).to_contain_text("first words")

    page.get_by_role("button", name="Delete context…").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete context").click()
    expect(page.get_by_role("status")).to_contain_text("was scrubbed")
    expect(tasks).to_have_count(2)  # ids and states are kept for audit
    expect(page.locator("main")).not_to_contain_text("first words")
    expect(page.locator("main")).not_to_contain_text("second words")
    with api(server, DEMO) as http:
        scrubbed = http.get(f"/agents/echo/v1/tasks/{first['id']}").json()
    assert "first words" not in str(scrubbed)


def test_a_client_tool_call_is_answered_in_the_same_task(
    start_console: StartConsole, backend: str, page: Page, screenshots: Path
) -> None:
    server = start_console(backend)
    sign_in_with_client(page, server)
    page.goto(f"{server.url}/console/#/chat/toolcall")
    page.get_by_role("textbox", name="Message").fill("Oslo")
    page.get_by_role("button", name="Send").click()
    form = page.get_by_role("form", name="Tool call get_weather")
    expect(form).to_contain_text('"city": "Oslo"')
    expect(page.locator(".turn-head .badge").first).to_have_text("input required")
    shot(page, screenshots, f"chat-tool-call-{backend}")
    form.get_by_label("Result of get_weather").fill("12 °C, light rain")
    form.get_by_role("button", name="Send tool result").click()

    second = page.locator(".turn").nth(1)
    expect(second.locator(".turn-head .badge")).to_have_text("completed")
    expect(second).to_contain_text("tool call-1 said: 12 °C, light rain")
    first_id = page.locator(".turn").nth(0).locator(".turn-head a").inner_text()
    assert second.locator(".turn-head a").inner_text() == first_id  # the same task
    with api(server, DEMO) as http:
        task = http.get(f"/agents/toolcall/v1/tasks/{first_id.removeprefix('task ')}").json()
    sent = task["history"][-1] if task["history"][-1]["role"] == "ROLE_USER" else task["history"][-2]
    assert sent["parts"][0]["data"] == {"type": "tool_result", "call_id": "call-1",
                                        "output": "12 °C, light rain"}


def test_a_refused_session_goes_back_to_sign_in(
    start_console: StartConsole, backend: str, page: Page
) -> None:
    server = start_console(backend)
    sign_in_with_key(page, server, "demo", DEMO["X-API-Key"])
    # The Agents page has made its calls (the heading comes before them): a call of its own
    # with the revoked key would sign out before the Tasks link is clicked.
    expect(page.locator("[data-agent=echo]")).to_be_visible()
    # The key stops being accepted (as if it were revoked): the next call answers 401.
    page.evaluate("""() => {
        const s = JSON.parse(sessionStorage.getItem('a2a-console.session'));
        sessionStorage.setItem('a2a-console.session', JSON.stringify({...s, apiKey: 'revoked'}));
    }""")
    page.get_by_role("link", name="Tasks", exact=True).first.click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("401")
    assert page.evaluate("sessionStorage.getItem('a2a-console.session')") is None


def test_an_unavailable_store_is_shown_as_503(
    live_server_factory: Callable[..., LiveServer], page: Page, tmp_path: Path
) -> None:
    redis = RedisProcess().start()  # this test's own Redis: it is stopped halfway
    try:
        server = live_server_factory("memory", redis_url=redis.url)
        with api(server, DEMO) as http:
            http.post("/agents/echo/v1/message:send", json=user_message_v1("hello")).raise_for_status()
        sign_in_with_key(page, server, "demo", DEMO["X-API-Key"])
        page.goto(f"{server.url}/console/#/tasks?agent=echo")
        expect(page.locator("tr[data-task-id]")).to_have_count(1)
        redis.stop()
        page.get_by_role("button", name="Apply filters").click()
        page.reload()
        expect(page.get_by_role("alert")).to_contain_text("Service unavailable (503)")
        expect(page.get_by_role("heading", name="Tasks")).to_be_visible()  # still signed in
    finally:
        redis.cleanup()


def test_usage_page_says_when_an_agent_has_no_usage(
    start_console: StartConsole, backend: str, page: Page, screenshots: Path
) -> None:
    server = start_console(backend)
    with api(server, DEMO) as http:
        answer = http.get("/agents/echo/usage")
    assert answer.status_code == 200 and answer.json()["days"] == []
    sign_in_with_client(page, server)
    page.get_by_role("link", name="Usage").click()
    expect(page.locator(".usage-agent[data-agent=echo]")).to_contain_text("No usage recorded yet.")
    shot(page, screenshots, f"usage-empty-{backend}")


def test_usage_chart_from_the_stores_counters(
    start_console: StartConsole, redis_url: str, page: Page, screenshots: Path
) -> None:
    """Counters written through the Redis store are what the usage route and the chart show."""
    server = start_console("redis")
    today = datetime.now(UTC).date()
    calls = [(today - timedelta(days=2), Usage(1200, 300, 0.0021)),
             (today - timedelta(days=1), Usage(800, 900, 0.0034)),
             (today, Usage(400, 100, 0.0007))]

    async def count() -> None:
        stores = RedisStores(create_redis_client(redis_url), lambda _name: None)
        await stores.start()
        try:
            for day, usage in calls:
                await stores.usage.add(Scope("demo", "echo"), usage, "standin-1", day=day)
        finally:
            await stores.close()

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's event loop
        pool.submit(asyncio.run, count()).result()
    sign_in_with_client(page, server)
    page.get_by_role("link", name="Usage").click()
    echo = page.locator(".usage-agent[data-agent=echo]")
    expect(echo.get_by_role("img", name="Tokens per day for echo")).to_be_visible()
    expect(echo.locator("rect.bar-input")).to_have_count(3)
    table = echo.get_by_role("table", name="Usage of echo")
    yesterday = (today - timedelta(days=1)).isoformat()
    expect(table.get_by_role("row", name=re.compile(yesterday))).to_contain_text("1700")
    expect(table.get_by_role("row", name=re.compile("^Total "))).to_contain_text("0.006200 USD")
    expect(page.locator(".usage-agent[data-agent=conformance]")).to_contain_text("No usage recorded yet.")
    shot(page, screenshots, "usage-chart")


UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button, a[href]')]
    .filter((el) => !el.closest('[hidden]'))
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                    && !el.textContent.trim())
    .map((el) => el.outerHTML)"""


LOW_CONTRAST = """() => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const el of document.querySelectorAll('body *')) {
    const hasText = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!el.offsetParent || el.disabled || !hasText) continue;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(`${el.tagName}.${el.className}: ${ratio.toFixed(2)}`);
  }
  return low;
}"""


def test_keyboard_labels_and_contrast(
    start_console: StartConsole, page: Page
) -> None:
    server = start_console("memory")
    page.goto(f"{server.url}/console")
    expect(page.get_by_label("Tenant")).to_be_focused()
    assert page.evaluate(UNLABELLED) == []
    page.keyboard.type("demo")
    page.keyboard.press("Tab")  # the method: OAuth2 client credentials (checked)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Client ID")).to_be_focused()
    page.keyboard.type("demo-client")
    page.keyboard.press("Tab")
    page.keyboard.type("demo-secret")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Agents", exact=True)).to_be_focused()
    # Each page puts the focus on its heading (the chat: on the message box).
    for view in ("agents", "tasks?agent=echo", "contexts", "usage", "chat/echo"):
        page.goto(f"{server.url}/console/#/{view}")
        chat = view.startswith("chat")
        focused = page.get_by_role("textbox", name="Message") if chat else page.locator("main h1")
        expect(focused).to_be_focused()
        assert page.evaluate(UNLABELLED) == [], view
        assert page.evaluate(LOW_CONTRAST) == [], view  # WCAG AA: text at least 4.5:1
    page.keyboard.type("typed, sent with Ctrl+Enter")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".turn .artifact")).to_contain_text("echo: typed, sent with Ctrl+Enter")


def test_chunked_data_and_file_artifacts_and_usage(
    start_console: StartConsole, backend: str, page: Page, screenshots: Path
) -> None:
    server = start_console(backend)
    sign_in_with_client(page, server)
    page.goto(f"{server.url}/console/#/chat/artifacts")
    page.get_by_role("textbox", name="Message").fill("show me")
    page.get_by_role("button", name="Send").click()
    story = page.locator(".turn [data-artifact-id=story]")
    # The chunks are shown as they come: the artifact grows, marked as streaming until the last.
    expect(story.locator(".parts")).to_have_text("one ")
    expect(story.locator(".streaming")).to_be_visible()
    expect(story.locator(".parts")).to_have_text("one two ")
    expect(story.locator(".parts")).to_have_text("one two three")
    expect(story.locator(".streaming")).to_have_count(0)
    turn = page.locator(".turn").first
    expect(turn.locator(".turn-head .badge")).to_have_text("completed")
    expect(turn.locator(".events li", has_text="(append, last chunk)")).to_have_count(1)
    expect(turn.locator(".part-data pre")).to_contain_text('"count": 42')
    with page.expect_download() as download:
        turn.get_by_role("link", name="hello.txt (text/plain)").click()
    assert Path(download.value.path()).read_bytes() == b"hello file"

    turn.locator(".turn-head a").click()
    usage = page.locator(".metadata .usage")
    expect(usage).to_contain_text("total tokens")
    expect(usage).to_contain_text("42")
    expect(usage).to_contain_text("0.000420 USD")
    expect(usage).to_contain_text("stand-in-model")
    shot(page, screenshots, f"task-artifacts-{backend}")


def test_a_direct_message_answer_without_a_task(
    start_console: StartConsole, backend: str, page: Page
) -> None:
    server = start_console(backend)
    sign_in_with_client(page, server)
    page.goto(f"{server.url}/console/#/chat/direct")
    page.get_by_role("textbox", name="Message").fill("just say it")
    page.get_by_role("button", name="Send").click()
    turn = page.locator(".turn").first
    expect(turn.locator(".turn-head")).to_have_text("direct message (no task)")
    expect(turn.locator(".message-agent")).to_contain_text("direct: just say it")
    expect(turn.locator(".events li")).to_have_text(["message"])
    expect(page.get_by_role("button", name="Cancel task")).to_be_disabled()
    expect(page.locator(".context-line a")).to_have_count(1)  # the exchange has a context


def test_an_expiring_token_is_renewed_with_the_client_credentials(
    start_console: StartConsole, backend: str, page: Page
) -> None:
    server = start_console(backend, token_ttl_seconds=20)  # within the console's 30 s margin
    sign_in_with_client(page, server)
    expect(page.get_by_role("heading", name="Agents", exact=True)).to_be_visible()
    session = "JSON.parse(sessionStorage.getItem('a2a-console.session')).token"
    first = page.evaluate(session)
    page.get_by_role("link", name="Tasks", exact=True).first.click()
    expect(page.get_by_role("heading", name="Tasks")).to_be_visible()
    # The heading comes before the page's first API call, which renews the token: wait for it.
    page.wait_for_function(f"first => {session} !== first", arg=first, timeout=15_000)
    assert page.evaluate(session) != first  # a new token, fetched before the old one expired
    expect(page.get_by_role("alert")).to_have_count(0)
