"""Differential fuzzing: a lab served plain and one served fast give every request the same answer.

The textbook transports (``--plain``) and the engineered path must behave
alike; ``tests/test_same_bytes.py`` compares their bytes for the requests the
lab expects. Here both get the same generated requests, right and wrong, and
must answer each with the same status and content type (bodies carry each
server's own feed, so they are not compared).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzzing import BUDGETS, exchange, run_property
from tests.liveserver import LiveLab
from tests.test_fuzz_http import request_bytes, requests

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveLab, LiveLab]]:
    """A lab served plain and one served fast."""
    folder = Path(tmp_path_factory.mktemp("pair"))
    plain = LiveLab("plain", folder / "plain.log")
    try:
        fast = LiveLab("fast", folder / "fast.log")
        try:
            yield plain, fast
        finally:
            fast.stop()
    finally:
        plain.stop()


def check_same(pair: tuple[LiveLab, LiveLab], request: dict) -> None:
    """Both labs answer ``request`` with the same status and content type (a held long poll
    is not compared: when each answers depends on its own feed)."""
    hold = request["path"] == "/api/longpoll"
    plain, fast = (exchange(lab, request_bytes(request), hold) for lab in pair)
    if hold and (plain is None or fast is None):
        return
    assert (plain is None) == (fast is None), (plain, fast, request)
    if plain is not None and fast is not None:
        assert plain.status == fast.status, (plain, fast, request)
        assert plain.headers.get("content-type") == fast.headers.get("content-type")


@pytest.mark.parametrize("budget", BUDGETS)
def test_plain_and_fast_answer_alike(pair, budget: int, request: pytest.FixtureRequest) -> None:
    """Random methods, paths, queries, headers and bodies: the same status either way."""
    run_property(request.node.name, requests(), lambda r: check_same(pair, r), budget)


@pytest.mark.parametrize("where", ["query", "header"])
def test_an_oversized_head_gets_the_same_answer(pair, where: str) -> None:
    """A request whose head is over aiohttp's 8,190-byte line limit, sent in one piece, gets
    the same answer plain and fast."""
    filler = "a" * 9_000
    head = (f"GET /api/poll?x={filler} HTTP/1.1\r\nHost: x\r\n\r\n" if where == "query" else
            f"GET /api/poll HTTP/1.1\r\nHost: x\r\nX-Filler: {filler}\r\n\r\n")
    plain, fast = (exchange(lab, head.encode(), hold=False) for lab in pair)
    assert plain is not None and fast is not None
    assert plain.status == fast.status
