"""The instructor's console, tried as a class would: the dashboard with the key in one
browser context, a student on the class link in another, both in a real headless Chromium.

The lab runs as its own process (``python -m lab`` with a class link and a known key);
every check waits on what a page shows, through Playwright's auto-waiting, never on sleeps.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest_browser import (  # noqa: F401  (fixtures, registered by being imported)
    PAGE_TIMEOUT_MS,
    browser_fixture,
    free_port,
    playwright_sync,
)

expect = playwright_sync.expect
pytestmark = pytest.mark.timeout(60)

KEY = "instructor-key-for-tests"
PUSH_PANELS = ("stream", "sse", "websocket")
CALM = {"delay_ms": 0, "jitter_ms": 0, "bandwidth_kbps": 0, "cut_every_s": 0,
        "refuse_upgrade": False, "buffering_proxy": False}


@dataclass(frozen=True)
class ClassLab:
    """A running lab: its direct URL, its class link and the instructor's dashboard URL."""

    direct: str
    class_link: str
    dashboard: str


def request(url: str, method: str = "GET", body: object = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """One JSON request with the standard library; (status, JSON answer)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(name="lab", scope="module")
def lab_fixture() -> Iterator[ClassLab]:
    """``python -m lab`` with a class link on a free port and a known instructor key."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lab", "--port", str(free_port()), "--class-port", "0",
         "--instructor-key", KEY, "--rate", "20", "--heartbeat", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert process.stdout is not None
    try:
        lines = [process.stdout.readline() for _ in range(3)]
        direct = re.search(r"serving on (http://\S+?)/?$", lines[0].strip())
        link = re.search(r"class link \(students\): (http://\S+?)/?$", lines[1].strip())
        dashboard = re.search(r"instructor: (http://\S+)$", lines[2].strip())
        assert direct and link and dashboard, f"the lab did not start: {lines!r}"
        yield ClassLab(direct[1], link[1], dashboard[1])
    finally:
        process.terminate()
        process.wait(5)
        process.stdout.close()


@pytest.fixture(autouse=True)
def calm_afterwards(lab: ClassLab) -> Iterator[None]:
    """Every test starts and ends on a calm network."""
    yield
    status, _ = request(f"{lab.direct}/api/network", "PUT", CALM,
                        {"Authorization": f"Bearer {KEY}"})
    assert status == 200


@pytest.fixture(name="open_page")
def open_page_fixture(browser: playwright_sync.Browser) -> Iterator:
    """Factory: ``open_page(url)`` in a browser context of its own; uncaught errors fail."""
    contexts: list[playwright_sync.BrowserContext] = []
    errors: list[str] = []

    def make(url: str) -> playwright_sync.Page:
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        return page

    yield make
    for context in contexts:
        context.close()
    assert errors == []


def latency_above(page: playwright_sync.Page, kinds: tuple[str, ...], ms: float,
                  timeout_ms: float) -> None:
    """Wait until each panel of `kinds` shows a latency above `ms`."""
    page.wait_for_function(
        """([kinds, ms]) => kinds.every((kind) => {
             const text = document.querySelector(
               `article[data-transport="${kind}"] [data-field=latency]`).textContent;
             return parseFloat(text) > ms;
           })""",
        arg=[list(kinds), ms], timeout=timeout_ms)


def test_a_delay_set_on_the_dashboard_reaches_the_students_push_panels(
        lab: ClassLab, open_page) -> None:
    """The instructor sets 150 ms; every push panel of a student on the class link then shows
    a latency above 150 ms, and the banner says why. (It takes under 3 s on a quiet machine;
    the wait allows a busy one more, so the verdict never depends on the machine's load.)"""
    student = open_page(lab.class_link + "/")
    for kind in PUSH_PANELS:
        expect(student.locator(f'article[data-transport="{kind}"] [data-field=latency]')
               ).to_have_text(re.compile(r"ms$"))
    dashboard = open_page(lab.dashboard)
    expect(dashboard).to_have_url(re.compile(r"/dashboard$"))  # the key left the address bar
    dashboard.fill("input[name=delay_ms]", "150")
    dashboard.click("#apply")
    expect(dashboard.locator("#console-status")).to_have_text("in force: delay 150 ms")
    latency_above(student, PUSH_PANELS, 150, timeout_ms=20_000)
    expect(student.locator("#network")).to_contain_text("delay 150 ms")
    expect(dashboard.locator("#plot-latency line.marker").first).to_be_attached()


def test_the_wire_view_shows_the_last_message_as_an_estimate(lab: ClassLab, open_page) -> None:
    """Opening a panel's wire view shows its last event in the transport's framing."""
    student = open_page(lab.class_link + "/?panels=sse,websocket")
    sse = student.locator('article[data-transport="sse"]')
    sse.locator("details.wire summary").click()
    expect(sse.locator("[data-field=wire]")).to_contain_text(re.compile(r"^id: \d+\ndata: \{"))
    expect(sse.locator("[data-field=wire-title]")).to_contain_text("estimate")


def test_refusing_upgrades_moves_the_chat_to_a_fallback_and_the_page_says_so(
        lab: ClassLab, open_page) -> None:
    """A visitor watching the chat on WebSocket ends on another transport, with the reason."""
    student = open_page(lab.class_link + "/?panels=none")
    transport = student.locator("#chat-transport")
    expect(transport).to_have_attribute("data-transport", "websocket")
    dashboard = open_page(lab.dashboard)
    dashboard.check("input[name=refuse_upgrade]")
    dashboard.click("#apply")
    expect(transport).to_have_attribute("data-transport", re.compile(r"^(sse|stream|longpoll)$"))
    expect(student.locator("#chat-reason")).to_contain_text("fell back to")
    expect(student.locator("#network")).to_contain_text("WebSocket upgrades refused")


def test_without_the_key_the_dashboard_is_read_only_and_a_change_is_403(
        lab: ClassLab, open_page) -> None:
    """No key in the URL: no controls; a PUT without the key is 403 and changes nothing."""
    dashboard = open_page(lab.direct + "/dashboard")
    expect(dashboard.locator("#read-only")).to_be_visible()
    expect(dashboard.locator("#console")).to_be_hidden()
    expect(dashboard.locator("#network-now")).to_contain_text(f"students open {lab.class_link}/")
    status = dashboard.evaluate("""async () => (await fetch('/api/network', {method: 'PUT',
        headers: {'Content-Type': 'application/json'}, body: '{"delay_ms": 400}'})).status""")
    assert status == 403
    assert request(f"{lab.direct}/api/network")[1]["delay_ms"] == 0


def test_a_visitor_who_has_not_joined_sees_what_others_post(lab: ClassLab, open_page) -> None:
    """The room is visible before joining: someone else's message shows, with the count."""
    student = open_page(lab.class_link + "/?panels=none")
    expect(student.locator("#chat-transport")).to_have_attribute("data-transport", "websocket")
    status, joined = request(f"{lab.direct}/api/chat/join", "POST", {"user": "grace"})
    assert status == 201
    status, _ = request(f"{lab.direct}/api/chat", "POST", {"text": "hello, class"},
                        {"Authorization": f"Bearer {joined['token']}"})
    assert status == 201
    expect(student.locator("#chat-log")).to_contain_text("grace: hello, class")
    expect(student.locator("#chat-online")).not_to_have_text("—")
    assert student.locator("#chat").get_attribute("data-state") == "out"


def test_the_dashboards_charts_draw(lab: ClassLab, open_page) -> None:
    """Every chart on the dashboard gets at least one non-empty line."""
    dashboard = open_page(lab.dashboard)
    for chart in ("latency", "requests", "bytes", "clients"):
        dashboard.wait_for_function(
            """(id) => [...document.querySelectorAll(`#${id} path`)]
                 .some((path) => (path.getAttribute('d') || '').length > 10)""",
            arg=f"plot-{chart}")


def test_the_demo_announces_its_step_on_the_page(browser: playwright_sync.Browser) -> None:
    """``python -m lab --demo``: a student on the class link sees the first step's
    announcement in the banner."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lab", "--port", str(free_port()), "--class-port", "0", "--demo"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    context = browser.new_context()
    try:
        lines = [process.stdout.readline() for _ in range(2)]
        link = re.search(r"class link \(students\): (http://\S+)$", lines[1].strip())
        assert link, f"the lab did not start: {lines!r}"
        page = context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        page.goto(link[1] + "?panels=none")
        expect(page.locator("#network [data-field=announcement]")).to_contain_text("Demo 1/7")
    finally:
        context.close()
        process.terminate()
        process.wait(5)
        process.stdout.close()
