"""The wire contract, checked identically on every transport with independent readers, against
the textbook (``--plain``) and the engineered lab alike."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import aiohttp
import pytest

from lab.contract import PATHS, PUSH_TRANSPORTS, TRANSPORTS
from lab.settings import Settings
from tests.conftest import SERVING, Lab
from tests.readers import read

STREAMS = ("stream", "sse", "websocket")

pytestmark = pytest.mark.parametrize("serving", SERVING)  # ids read test[sse-plain]


@pytest.fixture
def lab_settings(both_settings: Settings) -> Settings:
    """Every test here runs on the textbook and on the engineered path."""
    return both_settings


async def collect(lab: Lab, transport: str, count: int, since: int | None = 0, on=None) -> list[dict]:
    """Read ``count`` items from ``transport``; ``on(items)`` runs after each one."""
    items: list[dict] = []
    async with asyncio.timeout(10), aclosing(read(lab.session, lab.base, transport, since)) as stream:
        async for item in stream:
            items.append(item)
            if on is not None:
                on(items)
            if len(items) == count:
                break
    return items


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_in_order_without_gaps_or_duplicates(lab: Lab, transport: str) -> None:
    """Buffered then live messages arrive once each, in seq order."""
    lab.publish(10)

    def publish_live(items: list[dict]) -> None:
        if len(items) == 10:
            lab.publish(20)

    items = await collect(lab, transport, 30, on=publish_live)
    assert [m["seq"] for m in items] == list(range(1, 31))
    assert all(m["topic"] == "prices" and {"symbol", "price"} <= m["data"].keys() for m in items)


@pytest.mark.parametrize("transport", PUSH_TRANSPORTS)
async def test_resume_after_disconnect(lab: Lab, transport: str) -> None:
    """Reconnecting with the last seq continues exactly after it."""
    lab.publish(10)
    first = await collect(lab, transport, 10)
    lab.publish(10)
    second = await collect(lab, transport, 10, since=first[-1]["seq"])
    assert [m["seq"] for m in first + second] == list(range(1, 21))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_resume_older_than_buffer_reports_missed(make_lab, both_settings: Settings,
                                                       transport: str) -> None:
    """A resume point the buffer no longer holds is reported as missed, never silently."""
    lab = await make_lab(both_settings.replace(history=5))
    lab.publish(20)
    items = await collect(lab, transport, 6, since=2)
    assert items[0] == {"topic": "prices", "missed": 13}
    assert [m["seq"] for m in items[1:]] == [16, 17, 18, 19, 20]


@pytest.mark.parametrize("transport", STREAMS)
async def test_heartbeat_on_idle_stream(lab: Lab, transport: str) -> None:
    """A quiet stream still carries heartbeats (blank line, SSE comment, WebSocket ping)."""
    url = f"{lab.base}{PATHS[transport]}?topic=prices"
    async with asyncio.timeout(5):
        if transport == "websocket":
            async with lab.session.ws_connect(url, autoping=False) as ws:
                assert (await ws.receive()).type is aiohttp.WSMsgType.PING
        else:
            async with lab.session.get(url) as response:
                line = await response.content.readline()
                assert line == (b"\n" if transport == "stream" else b": heartbeat\n")


@pytest.mark.parametrize("transport", ["stream", "sse"])
async def test_no_heartbeat_on_a_busy_stream(make_lab, both_settings: Settings,
                                             transport: str) -> None:
    """Messages written straight from the topic count as traffic: a stream that keeps getting
    them sends no heartbeat (each gap here is a tenth of the heartbeat interval)."""
    lab = await make_lab(both_settings.replace(heartbeat=0.5))
    url = f"{lab.base}{PATHS[transport]}?topic=prices"
    async with asyncio.timeout(10), lab.session.get(url) as response:
        for i in range(30):  # 1.5 s: three heartbeat intervals
            lab.publish(1, start_price=100.0 + i)
            await asyncio.sleep(0.05)
        body = b""
        while body.count(b'"seq":') < 30:
            body += await response.content.readany()
    assert b": heartbeat" not in body and b"\n\n\n" not in body
    if transport == "stream":
        assert b"\n\n" not in body


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_no_store_and_stream_headers(lab: Lab, transport: str) -> None:
    """Every response says no-store; streams also disable proxy buffering."""
    lab.publish(1)
    url = f"{lab.base}{PATHS[transport]}?topic=prices&since=0"
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="} if transport == "websocket" else {}
    async with asyncio.timeout(5), lab.session.get(url, headers=headers) as response:
        assert response.status in (200, 101)
        assert response.headers["Cache-Control"] == "no-store"
        if transport in ("stream", "sse"):
            assert response.headers["X-Accel-Buffering"] == "no"


BAD_QUERIES = [
    pytest.param(transport, query, status, id=f"{transport}-{label}")
    for transport in TRANSPORTS
    for label, query, status in (
        ("since-word", "since=abc", 400),
        ("since-negative", "since=-1", 400),
        ("since-float", "since=1.5", 400),
        ("unknown-topic", "topic=nope", 404),
    )
] + [
    pytest.param("longpoll", "timeout=0", 400, id="longpoll-timeout-zero"),
    pytest.param("longpoll", "timeout=121", 400, id="longpoll-timeout-too-long"),
    pytest.param("longpoll", "timeout=soon", 400, id="longpoll-timeout-word"),
]


@pytest.mark.parametrize(("transport", "query", "status"), BAD_QUERIES)
async def test_bad_query_gets_json_reason(lab: Lab, transport: str, query: str, status: int) -> None:
    """Malformed queries get the contract's status and a JSON reason, and the server carries on."""
    async with lab.session.get(f"{lab.base}{PATHS[transport]}?{query}") as response:
        assert response.status == status
        assert "error" in await response.json()
    lab.publish(1)
    assert (await collect(lab, "poll", 1))[0]["seq"] == 1


async def test_bad_last_event_id_gets_400(lab: Lab) -> None:
    """A malformed Last-Event-ID header is a 400 with a reason."""
    headers = {"Last-Event-ID": "yesterday"}
    async with lab.session.get(f"{lab.base}/api/events", headers=headers) as response:
        assert response.status == 400
        assert "Last-Event-ID" in (await response.json())["error"]


async def test_poll_without_since_gives_latest_per_symbol(lab: Lab) -> None:
    """A first short poll returns the newest message of each symbol and the head."""
    for symbol, price in (("A", 1.0), ("B", 2.0), ("A", 3.0)):
        lab.hub.publish("prices", {"symbol": symbol, "price": price})
    async with lab.session.get(f"{lab.base}/api/poll") as response:
        body = await response.json()
    assert body["head"] == 3 and body["missed"] == 0
    assert [(m["seq"], m["data"]["symbol"]) for m in body["messages"]] == [(2, "B"), (3, "A")]


async def test_longpoll_times_out_empty(lab: Lab) -> None:
    """A long poll with no news answers an empty list at its timeout."""
    async with lab.session.get(f"{lab.base}/api/longpoll?since=0&timeout=0.05") as response:
        assert await response.json() == {"messages": [], "head": 0, "missed": 0}
