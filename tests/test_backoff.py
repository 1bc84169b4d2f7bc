"""The reconnect schedule, Retry-After, and a client resuming across a server restart."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable

import pytest

from clients import open_client
from clients.backoff import (
    Backoff,
    ceiling,
    delay_after,
    draw,
    parse_retry_after,
    schedule,
)
from clients.connection import ServerBusy
from clients.http11 import ResponseHead
from clients.httpbase import busy
from lab.app import create_app
from lab.hub import Hub
from lab.settings import Settings
from lab.site import Site, start_site
from lab.transports.common import HUB_KEY
from tests.conftest import QUIET
from tests.offline import OfflineClient

CEILINGS = [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
PUSHED = ("stream", "sse", "websocket")
"""The transports that resume into a live stream (a poll only asks for seqs beyond its resume
point, so it cannot see a restarted server's new sequence)."""


def test_ceiling_doubles_from_first_to_the_cap() -> None:
    """50 ms doubling, never above 1 s, even after very many attempts."""
    assert [ceiling(n) for n in range(7)] == CEILINGS
    assert ceiling(10_000) == 1.0
    with pytest.raises(ValueError):
        ceiling(-1)


def test_full_jitter_draws_anywhere_below_the_ceiling() -> None:
    """A draw is ``unit * ceiling``: 0 at unit 0, just under the ceiling at unit → 1; without
    jitter it is the ceiling whatever the unit."""
    assert draw(3, 0.0) == 0.0
    assert draw(3, 0.5) == pytest.approx(0.2)
    assert draw(3, 0.0, jitter=False) == draw(3, 0.99, jitter=False) == 0.4


def test_schedule_is_reproducible_and_spread() -> None:
    """The same seed gives the same waits; different seeds differ; each wait is in
    [0, ceiling); and seeded crowds' first waits cover the whole interval."""
    waits = schedule(7, random.Random(1))
    assert waits == schedule(7, random.Random(1)) != schedule(7, random.Random(2))
    assert all(0 <= w < c for w, c in zip(waits, CEILINGS, strict=True))
    firsts = [schedule(1, random.Random(seed))[0] for seed in range(200)]
    assert min(firsts) < 0.005 and max(firsts) > 0.045
    assert schedule(3, random.Random(1), jitter=False) == CEILINGS[:3]


def test_backoff_follows_the_schedule_and_resets() -> None:
    """Backoff gives the schedule's waits in turn; reset starts again from the first."""
    backoff = Backoff(rng=random.Random(5))
    assert [backoff.next() for _ in range(7)] == schedule(7, random.Random(5))
    assert backoff.attempt == 7
    backoff.reset()
    assert backoff.attempt == 0 and backoff.next() < 0.05


def test_retry_after_is_a_floor_under_the_draw() -> None:
    """The server's Retry-After is added to the jittered draw, not put in its place."""
    assert delay_after(0.3, None) == 0.3
    assert delay_after(0.3, 2.0) == 2.3
    backoff = Backoff(rng=random.Random(5))
    assert backoff.next(retry_after=4.0) == 4.0 + schedule(1, random.Random(5))[0]


def test_an_old_message_with_an_old_seq_is_a_duplicate_a_newer_one_a_new_sequence() -> None:
    """Seq 4 again with its own publish time is a duplicate (a lagging copy of the feed);
    seq 4 published after seq 5 was is a restarted server's: 3 unseen messages are gaps."""
    client = OfflineClient("http://127.0.0.1:1", since=0)
    for seq in (1, 2, 3, 4, 5):
        client._accept({"seq": seq, "t_us": 100 * seq})
    client._accept({"seq": 4, "t_us": 400})
    assert (client.stats().duplicates, client.stats().gaps) == (1, 0)
    client._accept({"seq": 4, "t_us": 900})
    client._accept({"seq": 5, "t_us": 1000})
    assert [r.seq for r in client._ready] == [1, 2, 3, 4, 5, 4, 5]
    assert (client.stats().duplicates, client.stats().gaps, client.last_seq) == (1, 3, 5)


@pytest.mark.parametrize(("value", "seconds"), [
    ("7", 7.0), (" 0 ", 0.0), ("100000", 300.0),
    ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0), ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
    (None, None), ("", None), ("-3", None), ("1.5", None), ("soon", None),
    ("Wed, 21 Oct 2015 07:28:10", None),
], ids=["seconds", "zero", "capped", "date", "date_past", "absent", "empty", "negative",
        "fraction", "word", "date_no_zone"])
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    """Delay-seconds or an HTTP date (RFC 9110 §10.2.3); anything else is ignored."""
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after(value, now=now) == seconds


@pytest.mark.parametrize("status", [429, 503])
def test_busy_answers_carry_their_retry_after(status: int) -> None:
    """A 429 or 503 head becomes a drop that remembers the header's wait."""
    drop = busy(ResponseHead(status, "Busy", {"retry-after": "3"}, 0))
    assert isinstance(drop, ServerBusy) and drop.retry_after == 3.0
    assert busy(ResponseHead(status, "Busy", {}, 0)).retry_after is None


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``predicate()`` holds, checking every few milliseconds; fail after ``timeout``."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def start_lab(settings: Settings, port: int = 0) -> Site:
    """A lab listening on ``port`` (0: any free one)."""
    settings = settings.replace(host="127.0.0.1", port=port)
    return await start_site(create_app(settings), settings, reuse_port=False)


def publish(site: Site, count: int) -> None:
    """Publish ``count`` prices into the lab of ``site``."""
    hub: Hub = site.runner.app[HUB_KEY]
    for i in range(count):
        hub.publish("prices", {"symbol": "ACME", "price": 100.0 + i})


@pytest.fixture
async def sites() -> AsyncIterator[list[Site]]:
    """Labs a test starts; all closed at its end."""
    opened: list[Site] = []
    yield opened
    for site in opened:
        await site.close()


@pytest.mark.parametrize("serving", ["plain", "fast"])
@pytest.mark.parametrize("transport", PUSHED)
async def test_resume_across_a_restart_counts_the_new_sequence(
        sites: list[Site], transport: str, serving: str) -> None:
    """A lab restarted on the same port starts its seqs again at 1: a client that resumes
    from seq 5 takes the new sequence's first message (seq 4, published after its seq 5, after
    3 it never saw) as a new start, counts those 3 as gaps, and delivers from there on."""
    settings = QUIET.replace(plain=serving == "plain")
    first = await start_lab(settings)
    sites.append(first)
    port = first.port
    publish(first, 5)
    client = open_client(transport, f"http://127.0.0.1:{port}", since=0)
    async with asyncio.timeout(20), client:
        got = [(await anext(client)).seq for _ in range(5)]
        await first.close()
        sites.remove(first)
        second = await start_lab(settings, port)
        sites.append(second)
        publish(second, 3)
        waiting = asyncio.ensure_future(anext(client))
        prices = second.runner.app[HUB_KEY]["prices"]
        # Publish the rest once the lab holds the resume: published before, they would pass
        # the resume point.
        await eventually(lambda: prices.subscriber_count > 0)
        publish(second, 2)
        got.append((await waiting).seq)
        stats = client.stats()
    assert got == [1, 2, 3, 4, 5, 4]
    assert stats.gaps == 3 and stats.duplicates == 0


@pytest.mark.parametrize("status", [429, 503])
async def test_a_busy_server_is_retried_after_its_retry_after(status: int) -> None:
    """A reconnect answered 429/503 with ``Retry-After: 1`` waits at least that second, then
    resumes from the last seq with ``Last-Event-ID`` (a server written byte by byte: one
    stream that ends after its first event, then the busy answer, then a stream that stays)."""
    asked: list[tuple[float, bytes]] = []
    first_read, ended = asyncio.Event(), asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        asked.append((asyncio.get_running_loop().time(), head))
        turn = len(asked)
        if turn == 2:
            writer.write(f"HTTP/1.1 {status} Busy\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
                         "Connection: close\r\n\r\n".encode())
        else:
            seq = 1 if turn == 1 else 2
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         b"Connection: close\r\n\r\n"
                         + f'id: {seq}\ndata: {{"seq": {seq}, "t_us": 1}}\n\n'.encode())
            await (first_read if turn == 1 else ended).wait()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncio.timeout(20), open_client("sse", f"http://127.0.0.1:{port}") as client:
            assert (await anext(client)).seq == 1
            first_read.set()
            assert (await anext(client)).seq == 2
    finally:
        ended.set()
        server.close()
        await server.wait_closed()
    assert [b"Last-Event-ID: 1" in head for _, head in asked] == [False, True, True]
    assert asked[2][0] - asked[1][0] >= 1.0
