"""Shared fixtures: a lab server in-process with a quiet feed the tests drive by hand.

The server listens as ``python -m lab`` does (:func:`lab.site.start_site`):
every connection enters by the front door.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web

from lab.app import create_app
from lab.hub import Hub
from lab.settings import Settings
from lab.site import Site, start_site
from lab.transports.common import HUB_KEY

QUIET = Settings(rate=0.001, steady=True, heartbeat=0.2, refusal_pause_s=0.0)
"""A feed whose first tick is 1,000 s away: tests publish every message themselves; a chat
post over the limit is refused at once (the pause has a test of its own)."""

SERVING = ("plain", "fast")
"""The two ways the lab serves: the textbook transports alone (``--plain``), or engineered."""


class Lab:
    """A running lab server plus handles to publish into it and read its counters."""

    def __init__(self, site: Site, session: aiohttp.ClientSession) -> None:
        self.site = site
        self.session = session
        self.app: web.Application = site.runner.app
        self.host = "127.0.0.1"
        self.port = site.port
        self.base = f"http://{self.host}:{self.port}"

    @property
    def hub(self) -> Hub:
        """The server's hub."""
        return self.app[HUB_KEY]

    def publish(self, count: int, start_price: float = 100.0) -> None:
        """Publish ``count`` price messages."""
        for i in range(count):
            self.hub.publish("prices", {"symbol": "ACME", "price": start_price + i})

    async def stats(self) -> dict:
        """The server's ``/api/stats``."""
        async with self.session.get(f"{self.base}/api/stats") as r:
            return await r.json()


@pytest.fixture(params=SERVING)
def serving(request: pytest.FixtureRequest) -> str:
    """Each way the lab serves, in turn: a test that asks for it runs on both."""
    return str(request.param)


@pytest.fixture
def lab_settings() -> Settings:
    """Settings for the ``lab`` fixture; override in a test module to change them."""
    return QUIET


@pytest.fixture
def both_settings(serving: str) -> Settings:
    """The quiet settings, served plain or engineered (``lab_settings`` for modules that check
    both paths)."""
    return QUIET.replace(plain=serving == "plain")


@pytest.fixture
async def make_lab() -> AsyncIterator[Callable[[Settings], object]]:
    """Factory for labs with custom settings; all are closed at the end of the test."""
    opened: list[Lab] = []

    async def make(settings: Settings) -> Lab:
        settings = dataclasses.replace(settings, host="127.0.0.1", port=0)
        site = await start_site(create_app(settings), settings, reuse_port=False)
        opened.append(Lab(site, aiohttp.ClientSession()))
        return opened[-1]

    yield make
    for lab in opened:
        await lab.session.close()
        await lab.site.close()


@pytest.fixture
async def lab(make_lab, lab_settings: Settings) -> Lab:
    """A lab server with the quiet feed."""
    return await make_lab(lab_settings)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After a run with fuzz tests: how many generated inputs each property ran."""
    fuzzing = sys.modules.get("tests.fuzzing")  # imported only when fuzz tests were collected
    examples_run = getattr(fuzzing, "examples_run", {})
    if examples_run:
        terminalreporter.section("fuzzing")
        for name, count in sorted(examples_run.items()):
            terminalreporter.write_line(f"{name}: {count} inputs")
        terminalreporter.write_line(f"total: {sum(examples_run.values())} generated inputs")
