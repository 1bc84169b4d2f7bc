"""The front door: poll GETs answered at the socket, anything else handed to aiohttp in order."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from lab.fast import front
from tests.conftest import Lab
from tests.rawhttp import held, open_poll, read_answer

POLL = b"GET /api/poll?since=0 HTTP/1.1\r\nHost: t\r\n\r\n"
STATS = b"GET /api/stats HTTP/1.1\r\nHost: t\r\n\r\n"


async def connect(lab: Lab) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw keep-alive connection to the lab."""
    return await asyncio.open_connection(lab.host, lab.port)


def status(head: bytes) -> int:
    """The status code of a response head."""
    return int(head.split(b" ", 2)[1])


@pytest.mark.parametrize("split", [
    pytest.param(None, id="pipelined"),
    pytest.param(20, id="split-request-line"),
    pytest.param(len(POLL) - 1, id="split-blank-line"),
])
async def test_polls_and_other_requests_share_a_connection_in_order(
        lab: Lab, split: int | None) -> None:
    """Polls, then a request aiohttp answers, then polls again: every answer, in order."""
    lab.publish(3)
    reader, writer = await connect(lab)
    everything = POLL + STATS + POLL
    writer.write(everything[:split])
    await writer.drain()
    if split is not None:  # the first request in pieces: the rest follows once the server has one
        async with asyncio.timeout(5):
            while not any(door.pending for door in lab.site.delivery.front.doors):
                await asyncio.sleep(0.005)
        writer.write(everything[split:])
    answers = [await read_answer(reader) for _ in range(3)]
    assert [status(head) for head, _, _ in answers] == [200, 200, 200]
    first, stats, last = (orjson.loads(body) for _, _, body in answers)
    assert first == last and [m["seq"] for m in first["messages"]] == [1, 2, 3]
    assert stats["transports"]["poll"]["requests"] == 1  # the poll before it, counted
    assert stats["transports"]["poll"]["request_header_bytes"] == len(POLL)
    assert not lab.site.delivery.front.doors  # the stats request handed the connection over
    writer.close()


@pytest.mark.parametrize(("request_bytes", "expected", "reason"), [
    pytest.param(b"GET /api/poll?since=x HTTP/1.1\r\nHost: t\r\n\r\n", 400, "since must be",
                 id="bad-since"),
    pytest.param(b"GET /api/poll?topic=nope HTTP/1.1\r\nHost: t\r\n\r\n", 404, "unknown topic",
                 id="unknown-topic"),
    pytest.param(b"GET /api/longpoll?timeout=0 HTTP/1.1\r\nHost: t\r\n\r\n", 400,
                 "timeout must be", id="bad-timeout"),
    pytest.param(b"POST /api/poll HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405,
                 "not allowed", id="wrong-method"),
    pytest.param(b"GET /api/poll?" + b"x" * 9000 + b" HTTP/1.1\r\n\r\n", 400, None,
                 id="oversized"),
])
async def test_what_the_front_door_refuses_aiohttp_answers(
        lab: Lab, request_bytes: bytes, expected: int, reason: str | None) -> None:
    """A request the front door does not take gets aiohttp's answer (the lab's JSON reason where
    a handler refuses it); the server goes on serving."""
    reader, writer = await connect(lab)
    writer.write(request_bytes)
    head, _, body = await read_answer(reader)
    assert status(head) == expected
    if reason is not None:
        assert reason in orjson.loads(body)["error"]
    writer.close()
    async with lab.session.get(f"{lab.base}/api/poll") as response:
        assert response.status == 200


async def test_a_request_behind_a_held_poll_answers_the_poll_first(lab: Lab) -> None:
    """A second request on a held poll's connection answers the held poll (empty) at once."""
    reader, writer = await open_poll(lab, "since=0")
    await held(lab, 1)
    writer.write(POLL)
    held_answer, poll_answer = await read_answer(reader), await read_answer(reader)
    assert orjson.loads(held_answer[2]) == {"messages": [], "head": 0, "missed": 0}
    assert status(poll_answer[0]) == 200
    await held(lab, 0)
    writer.close()


async def test_a_client_leaving_while_held_is_forgotten(lab: Lab) -> None:
    """A held poll whose client closes is dropped; the next publish answers the others."""
    _, gone = await open_poll(lab, "since=0")
    staying, writer = await open_poll(lab, "since=0")
    await held(lab, 2)
    gone.close()
    await held(lab, 1)
    lab.publish(1)
    assert orjson.loads((await read_answer(staying))[2])["head"] == 1
    writer.close()


async def test_idle_connections_close_but_held_polls_do_not(
        lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection idle past the keep-alive timeout is closed; one holding a poll is not."""
    monkeypatch.setattr(front, "KEEPALIVE_TIMEOUT_S", 0.1)
    monkeypatch.setattr(front, "IDLE_SWEEP_S", 0.05)
    lab.site.delivery.front.close()  # no door is open yet: the next one starts a sweeper of this period
    idle, idle_writer = await connect(lab)
    idle_writer.write(POLL)
    await read_answer(idle)
    waiting, waiting_writer = await open_poll(lab, "since=0&timeout=0.5")
    assert await asyncio.wait_for(idle.read(), 5) == b""  # closed by the server
    answer = await read_answer(waiting)  # the held poll times out normally, not closed early
    assert orjson.loads(answer[2])["messages"] == []
    idle_writer.close()
    waiting_writer.close()


async def test_a_client_not_reading_is_not_answered_into_memory(lab: Lab) -> None:
    """Thousands of pipelined polls from a client that does not read: the server stops
    answering (and reading) at its write limit, then answers every one once the client reads."""
    lab.publish(50)  # each answer is ~5 KB: 2,000 of them far exceed the sockets' buffers
    reader, writer = await connect(lab)
    writer.write(POLL * 2000)
    await writer.drain()
    async with asyncio.timeout(5):
        while not any(door.pending for door in lab.site.delivery.front.doors):
            await asyncio.sleep(0.005)
    (door,) = lab.site.delivery.front.doors
    assert door.transport is not None
    high_water = door.transport.get_write_buffer_limits()[1]
    assert door.transport.get_write_buffer_size() <= high_water + 8 * 1024
    answers = [await read_answer(reader) for _ in range(2000)]
    assert {status(head) for head, _, _ in answers} == {200}
    assert (await lab.stats())["transports"]["poll"]["requests"] == 2000
    writer.close()


BROWSER_HEADERS = (b"Host: 127.0.0.1:8080\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
                   b"Accept: */*\r\nConnection: keep-alive\r\nSec-Fetch-Mode: cors\r\n")


@pytest.mark.parametrize(("head", "taken"), [
    pytest.param(b"GET /api/poll HTTP/1.1\r\n" + BROWSER_HEADERS, ("poll", None, 30.0),
                 id="browser-poll"),
    pytest.param(b"GET /api/longpoll?since=7&timeout=2.5&since=9&_=1 HTTP/1.1\r\nHost: t\r\n",
                 ("longpoll", 7, 2.5), id="first-value-wins-unknown-keys-ignored"),
    pytest.param(b"GET /api/poll HTTP/1.1\r\nHost: t\r\nConnection: close\r\n", None,
                 id="connection-close"),
    pytest.param(b"GET /api/poll HTTP/1.1\r\nHost: t\r\nconnection: Upgrade\r\n", None,
                 id="connection-upgrade"),
    pytest.param(b"GET /api/poll HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n", None,
                 id="body"),
    pytest.param(b"GET /api/poll HTTP/1.0\r\nHost: t\r\n", None, id="http10"),
    pytest.param(b"HEAD /api/poll HTTP/1.1\r\nHost: t\r\n", None, id="head"),
    pytest.param(b"GET /api/poll?topic=pri%63es HTTP/1.1\r\nHost: t\r\n", None,
                 id="percent-encoded"),
    pytest.param(b"GET /api/poll HTTP/1.1\r\nHost t\r\n", None, id="malformed-header"),
    pytest.param(b"GET /api/poll HTTP/1.1\r\n", None, id="no-headers"),
    pytest.param(b"GET /api/longpoll?timeout=nan HTTP/1.1\r\nHost: t\r\n", None, id="nan"),
])
async def test_which_requests_the_front_door_takes(
        lab: Lab, head: bytes, taken: tuple[str, int | None, float] | None) -> None:
    """Only plain keep-alive HTTP/1.1 poll GETs with values it need not decode or refuse."""
    poll = front.parse_poll(head + b"\r\n", lab.hub, lab.site.delivery.front.settings)
    if taken is None:
        assert poll is None
    else:
        assert poll is not None
        assert (poll.transport, poll.since, poll.timeout) == taken
        assert poll.head_size == len(head) + 2
