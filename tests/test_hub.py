"""The hub and the mailbox on their own: sequencing, resume buffers, the mailbox's states and the
slow-consumer policy, no sockets."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from lab.hub import (
    DEFAULT_MAILBOX_SIZE,
    LOST_UPSTREAM,
    SLOW_CONSUMER,
    Hub,
    Mailbox,
    Message,
    Topic,
)
from lab.mailbox import TRANSITIONS, Event, State


def tick_clock() -> int:
    """A fake clock that never changes, so messages are comparable."""
    return 1_764_160_000_000_000


def test_seq_rises_by_one_per_topic() -> None:
    """Each topic numbers its messages 1, 2, 3 … independently."""
    hub = Hub(clock=tick_clock)
    seqs = [hub.publish("prices", {"symbol": "A", "price": 1.0}).seq for _ in range(3)]
    assert seqs == [1, 2, 3]
    assert hub.publish("chat", {"kind": "message"}).seq == 1


def test_message_is_encoded_once() -> None:
    """A message carries the contract's JSON, compact, built once."""
    message = Message.build("prices", 7, 123, {"symbol": "A", "price": 1.5})
    assert message.json == b'{"topic":"prices","seq":7,"t_us":123,"data":{"symbol":"A","price":1.5}}'
    assert orjson.loads(message.json)["seq"] == 7


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


def test_a_replica_refuses_a_jump_unless_told_messages_were_lost() -> None:
    """ingest takes seq + 1; a jump only ``after_loss``, which tells every resume and socket."""
    topic = Topic("prices", history=10)
    for seq in (5, 6, 7):
        topic.ingest(Message.build("prices", seq, 0, {}))
    with pytest.raises(ValueError, match="expected seq 8, got 10"):
        topic.ingest(Message.build("prices", 10, 0, {}))
    with pytest.raises(ValueError, match="expected seq 8, got 7"):
        topic.ingest(Message.build("prices", 7, 0, {}), after_loss=True)
    mailbox = Mailbox(4)
    topic.attach(mailbox)
    topic.ingest(Message.build("prices", 10, 0, {}), after_loss=True)
    assert mailbox.closed_reason == LOST_UPSTREAM and topic.subscriber_count == 0
    backlog = topic.since(6)
    assert ([m.seq for m in backlog.messages], backlog.missed, backlog.head) == ([10], 3, 10)
    assert Message.from_json(topic.since(9).messages[0].json) == topic.since(9).messages[0]


def test_latest_keeps_one_message_per_symbol() -> None:
    """``latest`` is the newest message of each symbol, in seq order."""
    topic = Topic("prices", key_field="symbol", clock=tick_clock)
    for symbol in "ABAB":
        topic.publish({"symbol": symbol, "price": 1.0})
    assert [m.seq for m in topic.latest()] == [3, 4]


class Recording:
    """A mailbox owner that writes down what it is told."""

    def __init__(self) -> None:
        self.told: list[str] = []

    def queued(self) -> None:
        self.told.append("queued")

    def closed(self, reason: str) -> None:
        self.told.append(reason)


def live(maxsize: int = DEFAULT_MAILBOX_SIZE, owner: Recording | None = None) -> Mailbox:
    """A mailbox whose owner already sent its backlog."""
    mailbox = Mailbox(maxsize, owner)
    mailbox.go_live()
    return mailbox


def test_full_mailbox_is_closed_and_detached_without_touching_others() -> None:
    """Slow-consumer policy: overflow closes that mailbox only; the others keep everything."""
    topic = Topic("prices", clock=tick_clock)
    owner = Recording()
    slow, keeping_up = live(3, owner), live(3)
    topic.attach(slow)
    topic.attach(keeping_up)
    received: list[int] = []
    for i in range(10):
        topic.publish({"symbol": "A", "price": float(i)})
        received += [m.seq for m in keeping_up.take()]
    assert received == list(range(1, 11))
    assert slow.closed_reason == SLOW_CONSUMER and owner.told == ["queued", SLOW_CONSUMER]
    assert slow.state is State.CLOSED and len(slow) == 0 and topic.subscriber_count == 1


def test_backlog_goes_first_and_does_not_count_against_the_limit() -> None:
    """A resume backlog larger than the mailbox is delivered ahead of live messages."""
    topic = Topic("prices", clock=tick_clock)
    for i in range(5):
        topic.publish({"symbol": "A", "price": float(i)})
    mailbox = Mailbox(maxsize=2)
    topic.attach(mailbox)
    mailbox.put_backlog(topic.since(0).messages)
    topic.publish({"symbol": "A", "price": 9.0})
    mailbox.go_live()
    assert mailbox.state is State.QUEUED
    assert [m.seq for m in mailbox.take()] == [1, 2, 3, 4, 5, 6]
    assert not mailbox.is_closed


def test_the_mailbox_walks_its_transition_table() -> None:
    """Starting → idle → queued → writing → idle, as the table says, and the owner is told once
    per wake-up; a step the table does not list is refused."""
    owner = Recording()
    mailbox = Mailbox(10, owner)
    topic = Topic("prices", clock=tick_clock)
    topic.attach(mailbox)
    topic.publish({"symbol": "A", "price": 1.0})
    assert mailbox.state is State.STARTING and owner.told == []  # the backlog goes first
    with pytest.raises(RuntimeError, match="cannot take while starting"):
        mailbox._to(Event.TAKE)
    mailbox.go_live()
    assert mailbox.state is State.QUEUED and owner.told == ["queued"]
    topic.publish({"symbol": "A", "price": 2.0})
    assert owner.told == ["queued"]  # already told
    assert [m.seq for m in mailbox.take()] == [1, 2] and mailbox.state is State.WRITING
    topic.publish({"symbol": "A", "price": 3.0})
    assert mailbox.state is State.WRITING and owner.told == ["queued"]  # the writer takes it next
    assert [m.seq for m in mailbox.take()] == [3]
    assert mailbox.take() == [] and mailbox.state is State.IDLE
    mailbox.close("bye")
    assert mailbox.state is State.CLOSED and owner.told == ["queued", "bye"]
    assert not mailbox.put(Message.build("prices", 9, 0, {})) and mailbox.take() == []


def test_every_state_but_closed_has_a_row_and_every_target_is_a_state() -> None:
    """The transition table is complete: closing is the only step allowed everywhere."""
    assert set(TRANSITIONS) == set(State) - {State.CLOSED}
    assert all(target in State for row in TRANSITIONS.values() for target in row.values())


def test_a_mailbox_that_delivers_at_once_does_so_only_when_idle() -> None:
    """``deliver_now`` is tried only while nothing is queued or being written, so nothing
    overtakes a queued message."""

    class AtOnce(Mailbox):
        def __init__(self) -> None:
            super().__init__(10)
            self.delivered: list[int] = []
            self.accept = True

        def deliver_now(self, message: Message) -> bool:
            if self.accept:
                self.delivered.append(message.seq)
            return self.accept

    topic = Topic("prices", clock=tick_clock)
    mailbox = AtOnce()
    topic.attach(mailbox)
    topic.publish({"symbol": "A", "price": 1.0})  # starting: queued
    mailbox.go_live()
    topic.publish({"symbol": "A", "price": 2.0})  # queued behind 1
    assert mailbox.delivered == [] and [m.seq for m in mailbox.take()] == [1, 2]
    topic.publish({"symbol": "A", "price": 3.0})  # still writing: queued
    assert mailbox.take() != [] and mailbox.take() == []
    topic.publish({"symbol": "A", "price": 4.0})  # idle: at once
    mailbox.accept = False
    topic.publish({"symbol": "A", "price": 5.0})  # declined: queued
    assert mailbox.delivered == [4] and [m.seq for m in mailbox.take()] == [5]


async def test_get_batch_wakes_on_publish_and_on_timeout() -> None:
    """A waiting owner wakes with the queued messages, or empty-handed at its timeout."""
    topic = Topic("prices", clock=tick_clock)
    mailbox = live()
    topic.attach(mailbox)
    assert await mailbox.get_batch(timeout=0.01) == []
    waiter = asyncio.ensure_future(mailbox.get_batch())
    async with asyncio.timeout(1):
        while mailbox.state is State.IDLE and mailbox._waiter is None:
            await asyncio.sleep(0)
    topic.publish({"symbol": "A", "price": 1.0})
    assert [m.seq for m in await asyncio.wait_for(waiter, 1)] == [1]


async def test_closing_wakes_a_waiting_owner() -> None:
    """Shutdown closes every mailbox; an owner waiting in ``get_batch`` wakes with nothing."""
    hub = Hub(clock=tick_clock)
    mailbox = live()
    hub["prices"].attach(mailbox)
    waiter = asyncio.ensure_future(mailbox.get_batch())
    async with asyncio.timeout(1):
        while mailbox._waiter is None:
            await asyncio.sleep(0)
    hub.close("shutdown")
    assert await asyncio.wait_for(waiter, 1) == [] and mailbox.closed_reason == "shutdown"
    assert hub["prices"].subscriber_count == 0


def test_a_group_delivers_for_its_members_and_gives_them_back() -> None:
    """A group handed a mailbox delivers to it instead of the topic; taking it back (or
    detaching it) ends that, and it still counts as a subscriber meanwhile."""

    class Group:
        def __init__(self) -> None:
            self.members: set[Mailbox] = set()
            self.delivered: list[int] = []

        def add(self, mailbox: Mailbox) -> None:
            self.members.add(mailbox)

        def remove(self, mailbox: Mailbox) -> None:
            self.members.discard(mailbox)

        def deliver(self, message: Message) -> None:
            self.delivered += [message.seq] * len(self.members)

    topic = Topic("prices", clock=tick_clock)
    group, mailbox = Group(), live()
    topic.attach(mailbox)
    topic.hand_to(mailbox, group)
    topic.publish({"symbol": "A", "price": 1.0})
    assert group.delivered == [1] and len(mailbox) == 0 and topic.subscriber_count == 1
    topic.take_back(mailbox)
    topic.publish({"symbol": "A", "price": 2.0})
    assert group.delivered == [1] and [m.seq for m in mailbox.take()] == [2]
    topic.hand_to(mailbox, group)
    topic.detach(mailbox)
    assert not group.members and topic.subscriber_count == 0


def test_bad_sizes_are_refused() -> None:
    """A mailbox or history of size zero is a configuration error."""
    with pytest.raises(ValueError):
        Mailbox(0)
    with pytest.raises(ValueError):
        Topic("prices", history=0)
