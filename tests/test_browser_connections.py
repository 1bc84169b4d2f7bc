"""Three tabs of the page in one Chromium: over HTTP/1.1 (six connections per server) and over
HTTPS with HTTP/2 through a real nginx (one connection for everything).

Over HTTP/1.1 some panels cannot get a connection; each of them must say so and how to get
out, never sit silent. Through nginx over HTTP/2 every panel of every tab updates.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from lab.contract import TRANSPORTS
from tests.conftest_browser import (  # noqa: F401  (fixtures, registered by being imported)
    CHROMIUM_ARGS,
    browser_fixture,
    free_port,
    playwright_sync,
)
from tests.nginx import needs_nginx

pytestmark = [pytest.mark.timeout(90), needs_nginx]

TABS = 3
WAITING = "waiting for a free connection"

PANEL_STATES = """() => Object.fromEntries([...document.querySelectorAll('article[data-transport]')]
  .map((box) => [box.dataset.transport, {
    messages: Number(box.querySelector('[data-field="messages"]').textContent),
    status: box.querySelector('[data-field="status"]').textContent}]))"""

EVERY_PANEL_UPDATES_OR_SAYS_WHY = """([before, waiting]) => {
  const boxes = [...document.querySelectorAll('article[data-transport]')];
  return boxes.length > 0 && boxes.every((box) => {
    const messages = Number(box.querySelector('[data-field="messages"]').textContent);
    const status = box.querySelector('[data-field="status"]').textContent;
    return messages > before[box.dataset.transport].messages || status.includes(waiting);
  });
}"""


@dataclass(frozen=True)
class ProxiedLab:
    """The lab's own HTTP/1.1 URL and nginx's HTTPS one."""

    http: str
    https: str


@pytest.fixture(name="proxied_lab", scope="module")
def proxied_lab_fixture() -> Iterator[ProxiedLab]:
    """``python -m lab --proxy nginx`` on free ports with a fast feed, stopped by its PID."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lab", "--no-class-link", "--port", str(free_port()), "--rate", "20",
         "--heartbeat", "1", "--proxy", "nginx", "--proxy-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert process.stdout is not None
    try:
        lines = [process.stdout.readline() for _ in range(2)]
        http = re.search(r"serving on (http://\S+?)/", lines[0])
        https = re.search(r"(https://\S+?)/", lines[1])
        assert http and https, f"the lab did not start: {lines!r} (exit code {process.poll()})"
        yield ProxiedLab(http.group(1), https.group(1))
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()


def open_tabs(browser: playwright_sync.Browser, url: str) -> tuple[object, list]:
    """``TABS`` tabs of ``url`` in one browser context (one profile: one connection pool)."""
    context = browser.new_context(ignore_https_errors=True)
    context.set_default_timeout(20_000)
    tabs = []
    for _ in range(TABS):
        tab = context.new_page()
        tab.goto(url + "/", wait_until="commit")
        tabs.append(tab)
    return context, tabs


def test_over_http1_a_panel_without_a_connection_says_why(
    browser: playwright_sync.Browser, proxied_lab: ProxiedLab
) -> None:
    """Six connections for three tabs: every panel updates or says it waits for a connection."""
    context, tabs = open_tabs(browser, proxied_lab.http)
    try:
        for tab in tabs:
            tab.wait_for_selector("article[data-transport]")
        tabs[-1].wait_for_function(
            f"() => document.body.textContent.includes({WAITING!r})", polling=200
        )
        for tab in tabs:
            before = tab.evaluate(PANEL_STATES)
            tab.wait_for_function(EVERY_PANEL_UPDATES_OR_SAYS_WHY, arg=[before, WAITING],
                                  polling=200)
        waiting = [state["status"] for tab in tabs for state in tab.evaluate(PANEL_STATES).values()
                   if WAITING in state["status"]]
        assert waiting and all("python -m lab --proxy nginx" in text for text in waiting)
    finally:
        context.close()


def test_over_http2_through_nginx_every_panel_of_every_tab_updates(
    browser: playwright_sync.Browser, proxied_lab: ProxiedLab
) -> None:
    """One HTTP/2 connection carries every tab's streams: all panels update, none waits."""
    context, tabs = open_tabs(browser, proxied_lab.https)
    try:
        for tab in tabs:
            tab.wait_for_selector("article[data-transport]")
            assert tab.evaluate(
                "() => performance.getEntriesByType('navigation')[0].nextHopProtocol"
            ) == "h2"
        for tab in tabs:
            before = tab.evaluate(PANEL_STATES)
            assert sorted(before) == sorted(TRANSPORTS)
            tab.wait_for_function(EVERY_PANEL_UPDATES_OR_SAYS_WHY, arg=[before, "\x00"],
                                  polling=200)
            for state in tab.evaluate(PANEL_STATES).values():
                assert WAITING not in state["status"]
    finally:
        context.close()
