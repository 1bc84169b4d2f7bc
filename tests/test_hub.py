"""The hub on its own: sequencing, resume buffers and the slow-consumer policy, no sockets."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from lab.hub import SLOW_CONSUMER, Hub, Mailbox, Message, Topic


def tick_clock() -> int:
    """A fake clock that never changes, so messages are comparable."""
    return 1_764_160_000_000_000


def test_seq_rises_by_one_per_topic() -> None:
    """Each topic numbers its messages 1, 2, 3 … independently."""
    hub = Hub(clock=tick_clock)
    seqs = [hub.publish("prices", {"symbol": "A", "price": 1.0}).seq for _ in range(3)]
    assert seqs == [1, 2, 3]
    assert hub.publish("chat", {"kind": "message"}).seq == 1


def test_message_is_encoded_once_per_framing() -> None:
    """JSON, NDJSON, SSE, chunk and frame bytes agree with the contract; frames are shared."""
    message = Message.build("prices", 7, 123, {"symbol": "A", "price": 1.5})
    assert orjson.loads(message.json) == {
        "topic": "prices", "seq": 7, "t_us": 123, "data": {"symbol": "A", "price": 1.5},
    }
    assert message.ndjson == message.json + b"\n"
    assert message.sse == b"id: 7\ndata: " + message.json + b"\n\n"
    frames = message.frames
    assert frames is message.frames  # built once, shared
    size = len(message.ndjson)
    assert frames.ndjson == b"%x\r\n" % size + message.ndjson + b"\r\n"
    assert frames.ws == bytes((0x81, len(message.json))) + message.json
    message.release_frames()
    assert message.frames == frames and message.frames is not frames


def test_since_returns_everything_newer_and_counts_what_is_gone() -> None:
    """A resume inside the buffer loses nothing; one older than it reports the loss."""
    topic = Topic("prices", history=5, clock=tick_clock)
    for i in range(12):
        topic.publish({"symbol": "A", "price": float(i)})
    inside = topic.since(9)
    assert [m.seq for m in inside.messages] == [10, 11, 12] and inside.missed == 0
    outside = topic.since(2)
    assert [m.seq for m in outside.messages] == [8, 9, 10, 11, 12] and outside.missed == 5
    assert topic.since(12).messages == [] and topic.since(99).messages == []


def test_latest_keeps_one_message_per_symbol() -> None:
    """``latest`` is the newest message of each symbol, in seq order."""
    topic = Topic("prices", key_field="symbol", clock=tick_clock)
    for symbol in "ABAB":
        topic.publish({"symbol": symbol, "price": 1.0})
    assert [m.seq for m in topic.latest()] == [3, 4]


def test_full_mailbox_is_closed_and_detached_without_touching_others() -> None:
    """Slow-consumer policy: overflow closes that mailbox only; the others keep everything."""
    topic = Topic("prices", clock=tick_clock)
    closed_with: list[str] = []

    class Recording(Mailbox):
        def closed(self, reason: str) -> None:
            closed_with.append(reason)

    slow, fast = Recording(maxsize=3), Mailbox(maxsize=3)
    topic.attach(slow)
    topic.attach(fast)
    received: list[int] = []
    for i in range(10):
        topic.publish({"symbol": "A", "price": float(i)})
        received += [m.seq for m in fast.get_nowait()]
    assert received == list(range(1, 11))
    assert slow.closed_reason == SLOW_CONSUMER and closed_with == [SLOW_CONSUMER]
    assert len(slow) == 0 and topic.subscriber_count == 1


def test_backlog_goes_first_and_does_not_count_against_the_limit() -> None:
    """A resume backlog larger than the mailbox is delivered ahead of live messages."""
    topic = Topic("prices", clock=tick_clock)
    for i in range(5):
        topic.publish({"symbol": "A", "price": float(i)})
    mailbox = Mailbox(maxsize=2)
    mailbox.put_backlog(topic.since(0).messages)
    topic.attach(mailbox)
    topic.publish({"symbol": "A", "price": 9.0})
    assert [m.seq for m in mailbox.get_nowait()] == [1, 2, 3, 4, 5, 6]
    assert not mailbox.is_closed


async def test_get_batch_wakes_on_publish_and_on_timeout() -> None:
    """A waiting owner wakes with the queued messages, or empty-handed at its timeout."""
    topic = Topic("prices", clock=tick_clock)
    mailbox = Mailbox()
    topic.attach(mailbox)
    assert await mailbox.get_batch(timeout=0.01) == []
    waiter = asyncio.ensure_future(mailbox.get_batch())
    await asyncio.sleep(0)  # let the owner start waiting; it is not a synchronisation sleep
    topic.publish({"symbol": "A", "price": 1.0})
    assert [m.seq for m in await asyncio.wait_for(waiter, 1)] == [1]


def test_bad_sizes_are_refused() -> None:
    """A mailbox or history of size zero is a configuration error."""
    with pytest.raises(ValueError):
        Mailbox(0)
    with pytest.raises(ValueError):
        Topic("prices", history=0)
