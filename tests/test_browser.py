"""The classroom page, the chat room and the dashboard in a real headless Chromium.

The lab runs as its own process (see ``tests/conftest_browser.py``); every
check waits on what the page shows, through Playwright's auto-waiting
``expect``, never on sleeps.
"""

from __future__ import annotations

import re

import pytest

from lab.contract import TRANSPORTS
from tests.conftest_browser import (  # noqa: F401  (fixtures, registered by being imported)
    OpenPage,
    PageOpener,
    browser_fixture,
    classroom_fixture,
    lab_url_fixture,
    open_page_fixture,
    playwright_sync,
)

expect = playwright_sync.expect
expect.set_options(timeout=10_000)

pytestmark = pytest.mark.timeout(60)

CHAT_TRANSPORTS = tuple(reversed(TRANSPORTS))
"""Every transport, in the order of the chat form's "Receive on" choices."""
CHAT_ONLY = "/?panels=none"
SERVER_ONLINE_IS = (
    "async (n) => (await (await fetch('/api/stats')).json()).topics.chat.online === n"
)
PAYLOAD = "<img src=x onerror=alert(1)>"

# Makes every WebSocket ask for a path the server does not upgrade, so the
# handshake really fails (HTTP 404) the way a refusing proxy makes it fail.
REFUSE_WEBSOCKETS = """
const RealWebSocket = window.WebSocket;
window.WebSocket = class extends RealWebSocket {
  constructor(url, protocols) { super(String(url).replace("/ws", "/ws-refused"), protocols); }
};
"""


def panel(page: playwright_sync.Page, transport: str) -> playwright_sync.Locator:
    """The panel of one transport."""
    return page.locator(f'article[data-transport="{transport}"]')


def join(item: OpenPage, user: str, via: str) -> None:
    """Join the chat from the keyboard: type a name, pick a transport, press Enter."""
    page = item.page
    page.select_option("#chat-via", via)
    page.fill("#chat-user", user)
    page.press("#chat-user", "Enter")
    expect(page.locator("#chat")).to_have_attribute("data-state", "in")


def say(item: OpenPage, text: str) -> None:
    """Type a message and press Enter."""
    item.page.fill("#chat-text", text)
    item.page.press("#chat-text", "Enter")


def online(item: OpenPage) -> int:
    """The online count the page shows."""
    return int(item.page.locator("#chat-online").text_content())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_panel_updates(classroom: OpenPage, transport: str) -> None:
    """The panel shows a price that then changes, with requests, latency and nothing missed."""
    box = panel(classroom.page, transport)
    price = box.locator('[data-field="price"]')
    expect(price).to_have_text(re.compile(r"^\d+\.\d{4}$"))
    expect(price).not_to_have_text(price.text_content())
    expect(box.locator('[data-field="requests"]')).not_to_have_text("0")
    expect(box.locator('[data-field="latency"]')).to_have_text(re.compile(r"^-?\d+\.\d ms$"))
    expect(box.locator('[data-field="bytes"]')).not_to_have_text("0 B")
    expect(box.locator('[data-field="missed"]')).to_have_text("0")
    assert classroom.watch.errors == []


def test_pause_and_resume_from_the_keyboard(classroom: OpenPage) -> None:
    """Space pauses the stream panel, Enter resumes it on a new request without loss."""
    box = panel(classroom.page, "stream")
    button = box.locator('[data-action="pause"]')
    status = box.locator('[data-field="status"]')
    expect(status).to_have_attribute("data-state", "open")
    requests = int(box.locator('[data-field="requests"]').text_content())
    button.focus()
    classroom.page.keyboard.press("Space")
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(status).to_have_attribute("data-state", "paused")
    classroom.page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(status).to_have_attribute("data-state", "open")
    expect(box.locator('[data-field="requests"]')).to_have_text(str(requests + 1))
    expect(box.locator('[data-field="missed"]')).to_have_text("0")
    assert classroom.watch.errors == []


@pytest.mark.parametrize("via", CHAT_TRANSPORTS)
def test_two_people_chat(open_page: PageOpener, via: str) -> None:
    """Two browsers chat: each sees the other join, talk and leave, with the online count."""
    ada, bob = open_page(CHAT_ONLY), open_page(CHAT_ONLY)
    join(ada, f"ada-{via}", via)
    expect(ada.page.locator("#chat-log")).to_contain_text(f"ada-{via} joined")
    before = online(ada)
    join(bob, f"bob-{via}", via)
    expect(ada.page.locator("#chat-log")).to_contain_text(f"bob-{via} joined")
    expect(ada.page.locator("#chat-online")).to_have_text(str(before + 1))
    expect(bob.page.locator("#chat-online")).to_have_text(str(before + 1))
    expect(bob.page.locator("#chat-transport")).to_have_attribute("data-transport", via)

    say(bob, f"hello over {via}")
    expect(ada.page.locator("#chat-log")).to_contain_text(f"bob-{via}: hello over {via}")
    expect(bob.page.locator("#chat-text")).to_have_value("")

    bob.page.click("#chat-leave")
    expect(ada.page.locator("#chat-log")).to_contain_text(f"bob-{via} left")
    expect(ada.page.locator("#chat-online")).to_have_text(str(before))
    ada.page.click("#chat-leave")
    expect(ada.page.locator("#chat")).to_have_attribute("data-state", "out")
    # A socket's leave lands on the server after the page moved on; let it, so
    # the next test's count starts from a settled room.
    ada.page.wait_for_function(SERVER_ONLINE_IS, arg=before - 1, polling=100)
    assert ada.watch.errors == [] and bob.watch.errors == []


def test_injection_payload_stays_text(open_page: PageOpener) -> None:
    """Markup in a name or a message shows literally: no element is made, no script runs."""
    eve = open_page(CHAT_ONLY)
    join(eve, "<b>eve</b>", "websocket")
    say(eve, PAYLOAD)
    log = eve.page.locator("#chat-log")
    expect(log.locator(".chat-text").last).to_have_text(PAYLOAD)
    expect(log).to_contain_text("<b>eve</b>: " + PAYLOAD)
    assert log.locator("img, b b").count() == 0
    assert eve.watch.dialogs == []
    assert eve.watch.errors == []


@pytest.mark.parametrize("via", ["longpoll", "sse"])
def test_an_http_chat_user_posts_with_the_token_join_gave(open_page: PageOpener, via: str
                                                          ) -> None:
    """Joining over HTTP gets a token; the post sends it as ``Authorization: Bearer``, and the
    receiving connection carries it as ``?token=`` (so it keeps the name present)."""
    item = open_page(CHAT_ONLY)
    posts: list[dict[str, str]] = []
    gets: list[str] = []
    item.page.on("request", lambda r: posts.append(r.headers) if r.url.endswith("/api/chat")
                 else gets.append(r.url) if "topic=chat" in r.url else None)
    with item.page.expect_response(lambda r: r.url.endswith("/api/chat/join")) as joined:
        join(item, f"tok-{via}", via)
    token = joined.value.json()["token"]
    say(item, "with a token")
    expect(item.page.locator("#chat-log")).to_contain_text(f"tok-{via}: with a token")
    assert posts and posts[-1]["authorization"] == f"Bearer {token}"
    assert any(f"token={token}" in url for url in gets)
    item.page.click("#chat-leave")
    expect(item.page.locator("#chat")).to_have_attribute("data-state", "out")


@pytest.mark.parametrize("via", ["websocket", "longpoll"])
def test_a_name_in_use_is_refused_with_the_reason(open_page: PageOpener, via: str) -> None:
    """A second visitor choosing a name someone holds is told so and stays out."""
    first, second = open_page(CHAT_ONLY), open_page(CHAT_ONLY)
    join(first, f"taken-{via}", "sse")
    second.page.select_option("#chat-via", via)
    second.page.fill("#chat-user", f"taken-{via}")
    second.page.press("#chat-user", "Enter")
    expect(second.page.locator("#chat-status")).to_contain_text("already in the chat")
    expect(second.page.locator("#chat")).to_have_attribute("data-state", "out")
    first.page.click("#chat-leave")
    expect(first.page.locator("#chat")).to_have_attribute("data-state", "out")


def test_chat_falls_back_when_websocket_is_refused(open_page: PageOpener) -> None:
    """With every WebSocket upgrade failing, the chat moves to SSE by itself, says why, and works."""
    item = open_page("/", init_script=REFUSE_WEBSOCKETS)
    join(item, "walled", "websocket")
    expect(item.page.locator("#chat-transport")).to_have_attribute("data-transport", "sse")
    expect(item.page.locator("#chat-transport")).to_have_text(re.compile("SSE"))
    expect(item.page.locator("#chat-reason")).to_contain_text("WebSocket")
    expect(item.page.locator("#chat-reason")).to_contain_text("fell back to")
    say(item, "still here")
    expect(item.page.locator("#chat-log")).to_contain_text("walled: still here")
    expect(panel(item.page, "websocket").locator('[data-field="status"]')).to_have_attribute(
        "data-state", "retrying"
    )


def test_dashboard_counts_clients(classroom: OpenPage, open_page: PageOpener) -> None:
    """The dashboard shows the classroom page's open streams and a live request rate."""
    dash = open_page("/dashboard")
    for transport in ("stream", "sse", "websocket"):
        cell = dash.page.locator(f'tr[data-transport="{transport}"] [data-field="open"]')
        expect(cell).to_have_text(re.compile(r"^[1-9]\d*$"))
    rate = dash.page.locator('tr[data-transport="longpoll"] [data-field="requests"]')
    expect(rate).to_have_text(re.compile(r"^(?!0\.0$)\d+\.\d$"))
    expect(dash.page.locator("#summary")).to_contain_text("online")
    assert dash.watch.errors == []


@pytest.mark.parametrize(
    ("path", "filled"),
    [("/", 'article[data-transport="websocket"]'), ("/dashboard", 'tr[data-transport="websocket"]')],
    ids=["classroom", "dashboard"],
)
def test_readable_at_phone_width(open_page: PageOpener, path: str, filled: str) -> None:
    """At 375 px the page, once filled in, does not scroll sideways."""
    item = open_page(path, width=375)
    expect(item.page.locator(filled)).to_be_visible()
    width = item.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375


@pytest.mark.parametrize("via", ["websocket", "sse"])
def test_closing_the_tab_leaves(open_page: PageOpener, via: str) -> None:
    """Closing a tab leaves the chat: the socket closes, or the page sends a leave beacon."""
    ada, bob = open_page(CHAT_ONLY), open_page(CHAT_ONLY)
    join(ada, f"ada-tab-{via}", via)
    join(bob, f"bob-tab-{via}", via)
    expect(ada.page.locator("#chat-log")).to_contain_text(f"bob-tab-{via} joined")
    bob.page.close(run_before_unload=True)
    expect(ada.page.locator("#chat-log")).to_contain_text(f"bob-tab-{via} left")


# The poll panel's first answer is a 503 with "Retry-After: 2"; each of its polls' start is
# recorded (the panel's requests are the ones that can be aborted: they carry a signal).
REFUSE_FIRST_POLL = """
window.pollTimes = [];
const realFetch = window.fetch;
window.fetch = (input, init) => {
  if (String(input).startsWith("/api/poll?") && init && init.signal) {
    window.pollTimes.push(performance.now());
    if (window.pollTimes.length === 1) {
      return Promise.resolve(new Response('{"error": "too many open connections"}', {
        status: 503, headers: {"Retry-After": "2", "Content-Type": "application/json"}}));
    }
  }
  return realFetch(input, init);
};
"""


def test_a_panel_waits_at_least_the_servers_retry_after(open_page: PageOpener) -> None:
    """Told "503, Retry-After: 2", the poll panel says it is retrying and asks again no sooner
    than 2 s later (a busy machine can only make it later), then carries on."""
    item = open_page("/?panels=poll", init_script=REFUSE_FIRST_POLL)
    page = item.page
    expect(panel(page, "poll").locator('[data-field="status"]')).to_have_attribute(
        "data-state", "retrying")
    page.wait_for_function("window.pollTimes.length >= 2")
    first, second = page.evaluate("window.pollTimes.slice(0, 2)")
    assert second - first >= 2000
    expect(panel(page, "poll").locator('[data-field="status"]')).to_have_attribute(
        "data-state", "open")
