"""The page on a lab of two nodes (``--broker``): when its node dies it moves to the other.

Real processes throughout: a redis-server, two ``python -m lab --broker`` nodes
and a headless Chromium (see ``tests/conftest_browser.py`` and
``tests/conftest_redis.py``); each skips with its reason when absent.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest_browser import (  # noqa: F401  (fixtures, registered by being imported)
    PAGE_TIMEOUT_MS,
    browser_fixture,
    playwright_sync,
)
from tests.conftest_redis import (  # noqa: F401  (fixtures, registered by being imported)
    RedisServer,
    free_port,
    redis_server_fixture,
)

expect = playwright_sync.expect

pytestmark = pytest.mark.timeout(90)


def start_node(redis_server: RedisServer, *flags: str) -> tuple[subprocess.Popen[str], str]:
    """A ``python -m lab --broker`` node on a free port: the process and its page URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lab", "--no-class-link", "--port", str(free_port()), "--broker", redis_server.url,
         "--log-level", "WARNING", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert process.stdout is not None
    match = re.search(r"serving on (http://\S+/)", process.stdout.readline())
    assert match, f"the node did not start (exit code {process.poll()})"
    return process, match.group(1)


@pytest.fixture(name="two_nodes")
def two_nodes_fixture(redis_server: RedisServer) -> Iterator[list[tuple[subprocess.Popen[str],
                                                                          str]]]:
    """A node that runs the feed and one that only serves; both stopped by PID at the end."""
    nodes = [start_node(redis_server, "--rate", "20", "--feed", "always"),
             start_node(redis_server, "--feed", "never")]
    yield nodes
    for process, _ in nodes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        process.wait(10)
        assert process.stdout is not None
        process.stdout.close()


def test_the_page_moves_to_another_node_and_resumes(
        browser: playwright_sync.Browser, two_nodes: list[tuple[subprocess.Popen[str], str]]
) -> None:
    """Kill the page's node: the page opens the other node's page resuming after its last seq."""
    (_, feeder_url), (victim, victim_url) = two_nodes
    context = browser.new_context()
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(victim_url + "?panels=websocket")
        messages = page.locator('article[data-transport="websocket"] [data-field="messages"]')
        expect(messages).not_to_have_text("0")
        victim.send_signal(signal.SIGKILL)
        page.wait_for_url(re.compile(re.escape(feeder_url) + r"\?.*since=\d+"), timeout=20_000)
        expect(messages).to_have_text(re.compile(r"^([1-9]\d+)$"))  # ten or more, on the new page
        missed = page.locator('article[data-transport="websocket"] [data-field="missed"]')
        expect(missed).to_have_text("0")
    finally:
        context.close()
