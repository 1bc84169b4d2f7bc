"""The bounded mailbox of one connection, and the slow-consumer policy; no I/O.

A connection owns a :class:`Mailbox` and attaches it to one or more topics of
the hub (:mod:`lab.hub`); publishing puts each message into it and never waits.
The mailbox's life is a small state machine, written down as data in
:data:`TRANSITIONS` (the style of h11): an owner that asks for something its
state does not allow is a bug, and raises at once.

Slow-consumer policy
--------------------
Every mailbox holds at most ``maxsize`` queued messages. A mailbox that is
already full when a new message arrives is *closed* with the reason
:data:`SLOW_CONSUMER`: it is detached from every topic, its queue is
discarded, and its owner ends the connection (WebSocket close 1013; a stream
simply ends). The client can reconnect and resume from its last ``seq``: the
ring buffer still holds what it missed, or the resume reports how many
messages are gone. So a slow subscriber never delays the others and never
costs more than ``maxsize`` messages of memory.
"""

from __future__ import annotations

import asyncio
import enum
from typing import Protocol

from lab.message import Message

SLOW_CONSUMER = "slow consumer: mailbox full"
"""The reason a mailbox gets when it overflows."""

LOST_UPSTREAM = "messages lost upstream: resume to learn how many"
"""The reason a mailbox gets when its topic skipped messages it can no longer have (a
broker's history trimmed or lost: :meth:`lab.hub.Topic.ingest`); its client resumes and
is told how many are gone."""

DEFAULT_MAILBOX_SIZE = 1_000


class State(enum.Enum):
    """Where a mailbox is in its life; :data:`TRANSITIONS` says how it moves."""

    STARTING = "starting"  # attached; the owner sends the resume backlog first, live messages queue
    IDLE = "idle"  # live and caught up: a message may be delivered at once
    QUEUED = "queued"  # messages wait and the owner has been told
    WRITING = "writing"  # the owner is writing a batch; new messages queue behind it
    CLOSED = "closed"


class Event(enum.Enum):
    """What happens to a mailbox."""

    GO_LIVE = "go live"  # the owner sent the backlog: live messages may flow
    QUEUE = "queue"  # a message (or a backlog) was queued
    TAKE = "take"  # the owner took everything queued
    DONE = "done"  # the owner found nothing more to write


TRANSITIONS: dict[State, dict[Event, State]] = {
    State.STARTING: {Event.QUEUE: State.STARTING, Event.GO_LIVE: State.IDLE},
    State.IDLE: {Event.QUEUE: State.QUEUED, Event.DONE: State.IDLE},
    State.QUEUED: {Event.QUEUE: State.QUEUED, Event.TAKE: State.WRITING, Event.DONE: State.IDLE},
    State.WRITING: {Event.QUEUE: State.WRITING, Event.TAKE: State.WRITING, Event.DONE: State.IDLE},
}
"""State → event → next state. Any state may close; a pair not listed is a bug in the owner."""


class Owner(Protocol):
    """The connection behind a mailbox, told of the two things it cannot ask about."""

    def queued(self) -> None:
        """Something was queued and nobody waits in ``get_batch`` (e.g. start a writer)."""

    def closed(self, reason: str) -> None:
        """The mailbox closed (e.g. abort a write that a client who stopped reading holds)."""


class TopicView(Protocol):
    """What a mailbox (and a group) sees of a topic that feeds it: :class:`lab.hub.Topic`."""

    name: str

    def detach(self, mailbox: Mailbox) -> None:
        """Stop delivering into ``mailbox``."""

    def hand_to(self, mailbox: Mailbox, group: Group) -> None:
        """Let ``group`` deliver to ``mailbox``."""

    def take_back(self, mailbox: Mailbox) -> None:
        """Deliver to ``mailbox`` one by one again."""


class Group(Protocol):
    """Delivers a topic's messages to many mailboxes at once (see :meth:`lab.hub.Topic.hand_to`)."""

    def add(self, mailbox: Mailbox) -> None:
        """Deliver to ``mailbox`` from the next message on."""

    def remove(self, mailbox: Mailbox) -> None:
        """Stop delivering to ``mailbox``."""

    def deliver(self, message: Message) -> None:
        """Deliver ``message`` to every member."""



class Mailbox:
    """A bounded queue of messages for one connection, fed by one or more topics.

    The owner writes what ``get_batch`` (or ``take``) hands it, everything
    queued at once, so several messages can share one write. See the module
    docstring for what happens when it overflows. A subclass may deliver a
    message at once instead of queueing it (:meth:`deliver_now`); the mailbox
    lets it only while ``IDLE``, so nothing overtakes a queued message.
    """

    __slots__ = ("_backlog", "_queue", "_waiter", "closed_reason", "maxsize", "owner", "state",
                 "topics")

    def __init__(self, maxsize: int = DEFAULT_MAILBOX_SIZE, owner: Owner | None = None) -> None:
        if maxsize < 1:
            raise ValueError("mailbox size must be at least 1")
        self.maxsize = maxsize
        self.owner = owner
        self.state = State.STARTING
        self._queue: list[Message] = []  # a list, not a deque: it is always taken whole
        self._backlog: list[Message] = []  # a resume backlog, ahead of the queue, not bounded
        self._waiter: asyncio.Future[None] | None = None
        self.closed_reason: str | None = None
        self.topics: list[TopicView] = []

    def __len__(self) -> int:
        return len(self._backlog) + len(self._queue)

    def _to(self, event: Event) -> None:
        try:
            self.state = TRANSITIONS[self.state][event]
        except KeyError:
            raise RuntimeError(f"mailbox cannot {event.value} while {self.state.value}") from None

    def deliver_now(self, message: Message) -> bool:
        """Hand ``message`` to the connection at once instead of queueing it; False if it cannot
        (this class never can)."""
        return False

    def go_live(self) -> None:
        """The owner sent the resume backlog: let live messages flow (queued ones first)."""
        self._to(Event.GO_LIVE)
        if self._queue or self._backlog:
            self._queued()

    def put(self, message: Message) -> bool:
        """Deliver or queue a message; close the mailbox instead if it is full. Never blocks."""
        state = self.state
        if state is State.IDLE and self.deliver_now(message):
            return True
        if state is State.CLOSED:
            return False
        if len(self._queue) >= self.maxsize:
            self.close(SLOW_CONSUMER)
            return False
        self._queue.append(message)
        if state is State.IDLE:
            self._queued()
        return True

    def put_backlog(self, messages: list[Message]) -> None:
        """Queue a resume backlog ahead of live messages. It is bounded by the topic's ring
        buffer and shares its message objects, so it does not count against ``maxsize``."""
        if self.state is not State.CLOSED and messages:
            self._backlog += messages
            if self.state is State.IDLE:
                self._queued()
            else:
                self._to(Event.QUEUE)

    def _queued(self) -> None:
        self._to(Event.QUEUE)
        if self._waiter is not None:
            _settle(self._waiter)
        elif self.owner is not None:
            self.owner.queued()

    def discard_topic(self, topic: str) -> None:
        """Drop queued messages of ``topic`` (after an unsubscribe)."""
        self._backlog = [m for m in self._backlog if m.topic != topic]
        self._queue = [m for m in self._queue if m.topic != topic]

    def take(self) -> list[Message]:
        """Everything queued so far, backlog first, without waiting (possibly nothing, which
        also tells the mailbox the previous batch is written)."""
        if self.state is State.CLOSED or self.state is State.STARTING:
            return []
        if self._backlog:
            batch, self._backlog = self._backlog + self._queue, []
        else:
            batch = self._queue
        self._queue = []
        self._to(Event.TAKE if batch else Event.DONE)
        return batch

    async def get_batch(self, timeout: float | None = None) -> list[Message]:
        """Wait until something is queued, the mailbox closes or ``timeout`` passes.

        Returns the whole queue; an empty list means the mailbox closed (see
        ``closed_reason``) or the timeout passed (time for a heartbeat).
        Calling it again tells the mailbox the previous batch is written.
        """
        batch = self.take()
        if batch or self.state is State.CLOSED:
            return batch
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = loop.call_later(timeout, _settle, waiter) if timeout is not None else None
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()
        return self.take()

    def close(self, reason: str) -> None:
        """Close the mailbox: detach from all topics, drop the queue, wake and tell the owner."""
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        self.closed_reason = reason
        for topic in list(self.topics):
            topic.detach(self)
        self._queue, self._backlog = [], []
        if self._waiter is not None:
            _settle(self._waiter)
        if self.owner is not None:
            self.owner.closed(reason)

    @property
    def is_closed(self) -> bool:
        """True once the mailbox was closed (overflow or shutdown)."""
        return self.state is State.CLOSED


def _settle(waiter: asyncio.Future[None]) -> None:
    """Wake whoever awaits ``waiter`` (unless a timeout or a close already did)."""
    if not waiter.done():
        waiter.set_result(None)
