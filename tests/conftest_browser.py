"""Fixtures for the browser tests: a real ``python -m lab`` process and a headless Chromium.

Imported by ``tests/test_browser.py`` only (not a conftest pytest loads by
itself). Chromium is Playwright's own build when installed, otherwise the
system's (Debian package ``chromium``); with neither, the tests skip and say
how to get one.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SYSTEM_CHROMIUMS = ("chromium", "chromium-browser", "/usr/bin/chromium")
PAGE_TIMEOUT_MS = 10_000


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chromium_path(playwright: playwright_sync.Playwright) -> str | None:
    """Playwright's Chromium if installed, else the system's; None when there is none."""
    bundled = Path(playwright.chromium.executable_path)
    if bundled.is_file():
        return str(bundled)
    for name in SYSTEM_CHROMIUMS:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(name="lab_url", scope="module")
def lab_url_fixture() -> Iterator[str]:
    """A real lab server process with a fast feed; its base URL (no trailing slash)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lab", "--no-class-link", "--port", str(free_port()), "--rate", "20",
         "--heartbeat", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert process.stdout is not None
    try:
        line = process.stdout.readline()
        match = re.search(r"serving on (http://\S+?)/?$", line.strip())
        assert match, f"the lab did not start: {line!r} (exit code {process.poll()})"
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(5)
        process.stdout.close()


@pytest.fixture(name="browser", scope="module")
def browser_fixture() -> Iterator[playwright_sync.Browser]:
    """A headless Chromium for the module; skips when none is installed."""
    with playwright_sync.sync_playwright() as playwright:
        path = chromium_path(playwright)
        if path is None:
            pytest.skip(
                "no Chromium: run `playwright install chromium` or `apt-get install chromium`"
            )
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Watch:
    """What a page reported that a user would call broken: console errors, uncaught errors, dialogs."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def attach(self, page: playwright_sync.Page) -> None:
        """Start recording ``page``'s errors and dismissing (and recording) its dialogs."""
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog: playwright_sync.Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@dataclass
class OpenPage:
    """A page in its own browser context, with its watch."""

    context: playwright_sync.BrowserContext
    page: playwright_sync.Page
    watch: Watch


PageOpener = Callable[..., OpenPage]
"""``open_page(path="/", init_script=None, width=1280) -> OpenPage``."""


@pytest.fixture(name="open_page")
def open_page_fixture(browser: playwright_sync.Browser, lab_url: str) -> Iterator[PageOpener]:
    """Factory: ``open_page(path, init_script=None, width=1280)`` in a fresh context; closed after."""
    opened: list[OpenPage] = []

    def make(path: str = "/", init_script: str | None = None, width: int = 1280) -> OpenPage:
        context = browser.new_context(viewport={"width": width, "height": 900})
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        watch = Watch()
        watch.attach(page)
        page.goto(lab_url + path)
        result = OpenPage(context, page, watch)
        opened.append(result)
        return result

    yield make
    for item in opened:
        item.context.close()


@pytest.fixture(name="classroom", scope="module")
def classroom_fixture(browser: playwright_sync.Browser, lab_url: str) -> Iterator[OpenPage]:
    """One classroom page shared by the module's panel tests (its panels run all along)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    page.goto(lab_url + "/")
    yield OpenPage(context, page, watch)
    context.close()
