"""Topic-based publish/subscribe with resume buffers and bounded mailboxes; no I/O.

The hub is the one place where messages get their identity: a per-topic
``seq`` that starts at 1 and rises by exactly one, a publish time ``t_us``, and
the JSON bytes every transport writes (encoded once, in :class:`Message`). How
those bytes are framed is each transport's business (:mod:`lab.transports`).

A connection owns a :class:`Mailbox` and attaches it to one or more topics;
publishing puts each message into every attached mailbox. A *group* (anything
with ``add``, ``remove`` and ``deliver``) may take over the delivery for many
mailboxes at once (:meth:`Topic.hand_to`): the engineered path's direct fan-out
is one. A mailbox in a group stays attached (it counts, it closes at shutdown).

The slow-consumer policy is the mailbox's (:mod:`lab.mailbox`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from lab.contract import TOPICS, now_us
from lab.mailbox import DEFAULT_MAILBOX_SIZE, LOST_UPSTREAM, SLOW_CONSUMER, Group, Mailbox
from lab.message import Message

__all__ = ["DEFAULT_HISTORY", "DEFAULT_MAILBOX_SIZE", "LOST_UPSTREAM", "SLOW_CONSUMER", "Backlog",
           "Group", "Hub", "Mailbox", "Message", "Topic"]

DEFAULT_HISTORY = 10_000


@dataclass(frozen=True, slots=True)
class Backlog:
    """Buffered messages after a resume point, and how many are gone for good."""

    messages: list[Message]
    missed: int
    head: int


class Topic:
    """One ordered stream of messages: seq counter, ring buffer, live subscribers.

    ``key_field`` names the data field that identifies an instrument (``symbol``
    for prices); :meth:`latest` returns the newest message per key.
    """

    def __init__(self, name: str, history: int = DEFAULT_HISTORY, key_field: str | None = None,
                 clock: Callable[[], int] = now_us) -> None:
        if history < 1:
            raise ValueError("history must be at least 1")
        self.name = name
        self.key_field = key_field
        self.head = 0
        self._clock = clock
        self._ring: deque[Message] = deque(maxlen=history)
        self._latest: dict[Any, Message] = {}
        self._one_by_one: set[Mailbox] = set()  # fed through Mailbox.put
        self._grouped: dict[Mailbox, Group] = {}  # fed by their group
        self._groups: dict[Group, None] = {}
        self.listeners: list[Callable[[Message], None]] = []
        """Called with every new message, before the mailboxes get it (e.g. to release held
        long polls, or to replicate it to worker processes)."""

    def __hash__(self) -> int:
        return id(self)

    @property
    def subscriber_count(self) -> int:
        """Number of attached mailboxes."""
        return len(self._one_by_one) + len(self._grouped)

    def subscribers(self) -> list[Mailbox]:
        """Every attached mailbox."""
        return [*self._one_by_one, *self._grouped]

    def publish(self, data: Mapping[str, Any]) -> Message:
        """Give ``data`` the next seq and a timestamp, buffer it and fan it out."""
        message = Message.build(self.name, self.head + 1, self._clock(), data)
        self._deliver(message)
        return message

    def ingest(self, message: Message, after_loss: bool = False) -> None:
        """Take a message sequenced elsewhere (a replica of the primary's or the broker's hub).

        The first message sets the starting point; after that seq must rise by one.
        With ``after_loss`` seq may jump ahead: the messages between are gone
        upstream (a broker's history trimmed or lost). Loss is never silent: the
        ring buffer starts over, so a resume from before the jump reports them
        as ``missed``, and every attached mailbox is closed with
        :data:`LOST_UPSTREAM` so that its client resumes and is told.
        """
        if self.head and message.seq != self.head + 1:
            if not (after_loss and message.seq > self.head + 1):
                raise ValueError(f"{self.name}: expected seq {self.head + 1}, got {message.seq}")
            self._ring.clear()
            for mailbox in self.subscribers():
                mailbox.close(LOST_UPSTREAM)
        self._deliver(message)

    def _deliver(self, message: Message) -> None:
        self.head = message.seq
        self._ring.append(message)
        self._latest[message.data.get(self.key_field) if self.key_field else None] = message
        for listener in self.listeners:
            listener(message)
        # A copy first: a mailbox that leaves its group while the group delivers this message
        # got it there, and an overflowing mailbox detaches itself.
        one_by_one = tuple(self._one_by_one)
        for group in self._groups:
            group.deliver(message)
        for mailbox in one_by_one:
            mailbox.put(message)

    def attach(self, mailbox: Mailbox) -> None:
        """Deliver every future message of this topic into ``mailbox``."""
        if mailbox.is_closed:
            raise ValueError("cannot attach a closed mailbox")
        if self not in mailbox.topics:
            self._one_by_one.add(mailbox)
            mailbox.topics.append(self)

    def detach(self, mailbox: Mailbox) -> None:
        """Stop delivering into ``mailbox`` (no error if it was not attached)."""
        self.take_back(mailbox)
        self._one_by_one.discard(mailbox)
        if self in mailbox.topics:
            mailbox.topics.remove(self)

    def hand_to(self, mailbox: Mailbox, group: Group) -> None:
        """Let ``group`` deliver to the attached ``mailbox`` from the next message on."""
        if mailbox in self._one_by_one:
            self._one_by_one.discard(mailbox)
            self._grouped[mailbox] = group
            self._groups.setdefault(group)
            group.add(mailbox)

    def take_back(self, mailbox: Mailbox) -> None:
        """Deliver to ``mailbox`` one by one again (no error if no group delivered to it)."""
        group = self._grouped.pop(mailbox, None)
        if group is not None:
            group.remove(mailbox)
            self._one_by_one.add(mailbox)

    def since(self, seq: int) -> Backlog:
        """Every buffered message with a seq above ``seq``, and how many are gone.

        ``seq`` beyond the head is treated as the head (nothing newer yet).
        """
        seq = max(0, min(seq, self.head))
        if not self._ring:
            return Backlog([], 0, self.head)
        oldest = self._ring[0].seq
        if seq + 1 >= oldest:
            start = seq + 1 - oldest
            return Backlog([self._ring[i] for i in range(start, len(self._ring))], 0, self.head)
        return Backlog(list(self._ring), oldest - seq - 1, self.head)

    def latest(self) -> list[Message]:
        """The newest message per key (per symbol), in seq order."""
        return sorted(self._latest.values(), key=lambda m: m.seq)


class Hub:
    """The set of topics the lab publishes: ``prices`` and ``chat``."""

    KEY_FIELDS: ClassVar[dict[str, str]] = {"prices": "symbol"}
    """The data field that names an instrument, for the topics that have one."""

    def __init__(self, history: int = DEFAULT_HISTORY, clock: Callable[[], int] = now_us) -> None:
        self.topics: dict[str, Topic] = {
            name: Topic(name, history, self.KEY_FIELDS.get(name), clock) for name in TOPICS
        }

    def __getitem__(self, name: str) -> Topic:
        return self.topics[name]

    def __contains__(self, name: object) -> bool:
        return name in self.topics

    def publish(self, topic: str, data: Mapping[str, Any]) -> Message:
        """Publish ``data`` on ``topic``."""
        return self.topics[topic].publish(data)

    def close(self, reason: str) -> None:
        """Close every attached mailbox (used at shutdown); publishing still works."""
        for topic in self.topics.values():
            for mailbox in topic.subscribers():
                mailbox.close(reason)
