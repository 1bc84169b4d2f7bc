"""Held long polls, textbook and engineered: one publish answers all, timeouts, every request
form, shutdown."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from lab.settings import Settings
from tests.conftest import SERVING, Lab
from tests.rawhttp import held, open_poll, read_answer, waiting

pytestmark = pytest.mark.parametrize("serving", SERVING)


@pytest.fixture
def lab_settings(both_settings: Settings) -> Settings:
    """Every test here runs on the textbook and on the engineered path."""
    return both_settings


async def test_one_publish_answers_every_held_poll_alike(lab: Lab) -> None:
    """20 held polls get the same bytes from one publish; the counters match the wire."""
    lab.publish(1)
    polls = [await open_poll(lab, "topic=prices&since=1") for _ in range(20)]
    await held(lab, 20)
    lab.publish(1)
    answers = [await read_answer(reader) for reader, _ in polls]
    assert len({head + body for head, _, body in answers}) <= 2  # a Date second may tick
    assert all(orjson.loads(body)["messages"][0]["seq"] == 2 for _, _, body in answers)
    assert waiting(lab) == 0
    counters = (await lab.stats())["transports"]["longpoll"]
    assert counters["messages_sent"] == 20 and counters["requests"] == 20
    assert counters["response_header_bytes"] == sum(len(head) for head, _, _ in answers)
    assert counters["body_bytes"] == sum(len(body) for _, _, body in answers)
    for _, writer in polls:
        writer.close()


@pytest.mark.parametrize(("tail", "keeps_alive"), [
    pytest.param("HTTP/1.1\r\nHost: t\r\n", True, id="http11-keepalive"),
    pytest.param("HTTP/1.1\r\nHost: t\r\nConnection: close\r\n", False, id="http11-close"),
    pytest.param("HTTP/1.0\r\n", False, id="http10"),
])
async def test_every_request_form_gets_the_same_answer(lab: Lab, tail: str,
                                                       keeps_alive: bool) -> None:
    """Pre-built (keep-alive) and ordinary (closing) answers carry the same headers and body."""
    lab.publish(1)
    reader, writer = await open_poll(lab, "since=1", tail)
    await held(lab, 1)
    lab.publish(1)
    _, headers, body = await read_answer(reader)
    assert headers["cache-control"] == "no-store"
    assert headers["content-type"] == "application/json"
    assert "date" in headers and headers["server"].startswith("Python/")
    assert orjson.loads(body) == {"messages": [orjson.loads(lab.hub["prices"].since(1)
                                                            .messages[0].json)],
                                  "head": 2, "missed": 0}
    if keeps_alive:  # the connection serves the next request
        writer.write(b"GET /api/longpoll?since=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        assert orjson.loads((await read_answer(reader))[2])["head"] == 2
    else:
        assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_each_timeout_group_expires_on_its_own(lab: Lab) -> None:
    """Polls with different timeouts answer empty in timeout order; the rest stay held."""
    (short, w1), (longer, w2), (patient, w3) = [
        await open_poll(lab, query) for query in ("since=0&timeout=0.05", "since=0&timeout=0.3",
                                                  "since=0")]
    first = asyncio.ensure_future(read_answer(short))
    second = asyncio.ensure_future(read_answer(longer))
    done, _ = await asyncio.wait({first, second}, return_when=asyncio.FIRST_COMPLETED)
    assert done == {first}
    assert orjson.loads((await second)[2]) == {"messages": [], "head": 0, "missed": 0}
    assert orjson.loads(first.result()[2]) == {"messages": [], "head": 0, "missed": 0}
    await held(lab, 1)
    lab.publish(1)
    assert orjson.loads((await read_answer(patient))[2])["head"] == 1
    for writer in (w1, w2, w3):
        writer.close()


async def test_shutdown_answers_held_polls_at_once(lab: Lab) -> None:
    """Shutting down answers each held poll with an empty list at once."""
    reader, writer = await open_poll(lab, "since=0")
    await held(lab, 1)
    await lab.site.close()
    assert orjson.loads((await read_answer(reader))[2])["messages"] == []
    writer.close()
