"""Topic-based publish/subscribe with resume buffers and bounded mailboxes.

The hub is the one place where messages get their identity: a per-topic
``seq`` that starts at 1 and rises by exactly one, a publish time ``t_us``, and
the JSON bytes every transport writes (encoded once, in :class:`Message`).

Transports attach a :class:`Mailbox` to a topic and drain it; long polls
listen to a topic's new messages (``Topic.listeners``). Its only I/O is the
direct fan-out below: writes to sockets that transports linked to it.

Slow-consumer policy
--------------------
Every live subscriber owns a :class:`Mailbox` holding at most ``maxsize``
messages. Publishing never waits for a subscriber: it appends to each mailbox
and returns. A mailbox that is already full when a new message arrives is
*closed* with the reason :data:`SLOW_CONSUMER`; it is detached from every topic,
its backlog is discarded, and its owner ends the connection (WebSocket close
1013, a stream or SSE response simply ends). The client can reconnect and
resume from its last ``seq``: the ring buffer still holds what it missed, or
the resume reports how many messages are gone. So a slow subscriber never
delays the others and never costs more than ``maxsize`` messages of memory.

Direct fan-out
--------------
A subscriber that keeps up costs one ``write`` on its socket per message and
nothing else: a mailbox linked to its socket (:meth:`Mailbox.link_socket`) is
moved into its topic's direct group once nothing is queued for it and its
socket's buffer is empty. The topic then writes the pre-built wire unit to the
whole group in one loop of ``os.write`` calls on the sockets' descriptors,
with no check per write, and counts the group's writes once. Two rules keep
that safe, and both are enforced when something happens, not at every write
(touching each connection's transport object on every send cost about a tenth
of a fan-out at 5,000 sockets): a mailbox leaves its direct groups the moment
its transport holds unsent bytes, so the stream's bytes stay in order, and when
the connection is lost, which asyncio reports before it closes the socket, so
a descriptor is never written after it could be reused (:class:`DirectGuard`).
A socket that cannot take the whole unit leaves the group at once: the unsent
rest goes to its transport, or the message to its mailbox, and the mailbox's
bound and policy apply as before until it is back in step.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from array import array
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

SLOW_CONSUMER = "slow consumer: mailbox full"
"""The reason a mailbox gets when it overflows."""

DEFAULT_HISTORY = 10_000
DEFAULT_MAILBOX_SIZE = 1_000


def now_us() -> int:
    """Wall-clock time in integer microseconds since the Unix epoch."""
    return time.time_ns() // 1_000


def chunk(data: bytes) -> bytes:
    """``data`` as one HTTP/1.1 chunk (size line, data, CRLF)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def ws_text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented RFC 6455 text frame (server to client)."""
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 65536:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload


@dataclass(frozen=True, slots=True)
class Frames:
    """Complete wire units of one message, shared by every subscriber of a transport."""

    ndjson: bytes  # an HTTP/1.1 chunk holding the NDJSON line
    sse: bytes  # an HTTP/1.1 chunk holding the SSE event
    ws: bytes  # an unmasked RFC 6455 text frame (server frames are the same for everyone)


@dataclass(frozen=True, slots=True)
class Wire:
    """One transport's part in the direct fan-out: the unit it writes and how it counts.

    ``frame`` names a field of :class:`Frames`; ``sent(message, unit, n)`` hears
    once per message how many sockets took ``unit`` whole. Equal wires (same
    frame, same counting method) share one direct group in a topic.
    """

    frame: str
    sent: Callable[[Message, bytes, int], None]


def socket_fd(transport: asyncio.BaseTransport | None) -> int:
    """``transport``'s socket descriptor, or -1 when writing to it would bypass something (TLS,
    a pipe, a test double), the transport is already closing, or its protocol is not a plain
    :class:`asyncio.Protocol` (which :class:`DirectGuard` must stand in for)."""
    if transport is None or transport.is_closing():
        return -1
    sock = transport.get_extra_info("socket")
    if sock is None or sock.type != socket.SOCK_STREAM or transport.get_extra_info("sslcontext"):
        return -1
    protocol = transport.get_protocol()
    if not isinstance(protocol, asyncio.Protocol) or isinstance(protocol, asyncio.BufferedProtocol):
        return -1
    return int(sock.fileno())


class DirectGuard(asyncio.Protocol):
    """Stands between a linked socket's transport and its own protocol, passing everything on.

    It takes the mailbox out of the direct fan-out at the two moments a
    direct write would go wrong: when the transport starts holding unsent
    bytes (``pause_writing``, which a write-buffer high-water mark of 0 makes
    asyncio call at the first such byte) and when the connection is lost
    (asyncio closes the socket only after ``connection_lost``).
    """

    __slots__ = ("inner", "mailbox")

    def __init__(self, inner: asyncio.Protocol, mailbox: Mailbox) -> None:
        self.inner = inner
        self.mailbox = mailbox

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Passed on."""
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        """Passed on."""
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        """Passed on."""
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        """Unsent bytes wait in the transport: no direct write until they are out."""
        self.mailbox.step_out()
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        """Passed on (the mailbox steps back in on its own, see :meth:`Mailbox.in_step`)."""
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket is about to close: out of the direct fan-out first."""
        self.mailbox.step_out()
        self.inner.connection_lost(exc)


@dataclass(frozen=True, slots=True)
class Message:
    """One published message: the contract's JSON, encoded once.

    ``ndjson`` and ``sse`` frame those bytes for the chunked stream and for
    Server-Sent Events. ``frames`` are the complete wire units the fan-out
    writes to every live subscriber; they are built on first use while the
    message is published and released after it (see :meth:`Topic.publish`),
    so the ring buffer keeps only the JSON.
    """

    topic: str
    seq: int
    t_us: int
    data: Mapping[str, Any]
    json: bytes = field(repr=False)
    _frames: Frames | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def build(cls, topic: str, seq: int, t_us: int, data: Mapping[str, Any]) -> Message:
        """Encode a message once for every transport."""
        encoded = orjson.dumps({"topic": topic, "seq": seq, "t_us": t_us, "data": data})
        # orjson's result keeps its ~4 KB working buffer alive; the ring buffer holds
        # thousands of these, so keep an exact-size copy instead (measured: 5.1 → 1.2 KB).
        return cls(topic, seq, t_us, data, b"%s" % encoded)

    @property
    def ndjson(self) -> bytes:
        """The NDJSON line."""
        return self.json + b"\n"

    @property
    def sse(self) -> bytes:
        """The SSE event, with ``id:`` = seq."""
        return b"id: %d\ndata: %s\n\n" % (self.seq, self.json)

    @property
    def frames(self) -> Frames:
        """The shared wire units, built once (a cache: the message itself never changes)."""
        if self._frames is None:
            frames = Frames(chunk(self.ndjson), chunk(self.sse), ws_text_frame(self.json))
            object.__setattr__(self, "_frames", frames)
        return self._frames  # type: ignore[return-value]

    def release_frames(self) -> None:
        """Drop the cached wire units once the live fan-out is done."""
        object.__setattr__(self, "_frames", None)


class Mailbox:
    """A bounded queue of messages for one connection, fed by one or more topics.

    See the module docstring for what happens when it overflows. ``get_batch``
    hands the owner everything queued so far, so a writer can flush several
    messages in one write.

    Transports subclass it and override three hooks (one object per
    connection, no callbacks: thousands of idle sockets each hold one):

    - ``write_now(message)``, the fast path: write one message straight to the
      connection without blocking, or return False when the connection's send
      buffer is full. ``put`` tries it only once ``fast`` is set, while nothing
      is queued and the owner is not still writing its last batch, so order
      is kept; otherwise, or when it declines, the message is queued under the
      same bound as always. Publishing thus costs one write per subscriber and
      no task switch while subscribers keep up.
    - ``closed(reason)``, once, when the mailbox closes (e.g. to abort a write
      that a client which stopped reading would hold forever);
    - ``queued()``, when something was queued and nobody waits in
      ``get_batch`` (e.g. to start a writer task only when one is needed).
    """

    __slots__ = (
        "_backlog", "_draining", "_queue", "_waiter", "closed_reason", "fast", "fd", "maxsize", "topics",
        "transport", "wire",
    )

    def __init__(self, maxsize: int = DEFAULT_MAILBOX_SIZE) -> None:
        if maxsize < 1:
            raise ValueError("mailbox size must be at least 1")
        self.maxsize = maxsize
        self._queue: list[Message] = []  # a list, not a deque: it is always drained whole
        self._backlog: list[Message] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._draining = False  # the owner holds a batch it has not finished writing
        self.closed_reason: str | None = None
        self.topics: list[Topic] = []
        self.fast = False
        self.transport: asyncio.Transport | None = None  # the connection's, if it has one
        self.wire: Wire | None = None  # set while the direct fan-out may write to ``fd``
        self.fd = -1

    def __len__(self) -> int:
        return len(self._backlog or ()) + len(self._queue)

    def write_now(self, message: Message) -> bool:
        """Fast-path hook: write ``message`` to the connection now; False if it cannot."""
        return False

    def closed(self, reason: str) -> None:
        """Hook called once when the mailbox closes."""

    def queued(self) -> None:
        """Hook called when a message was queued and no owner is waiting for it."""

    def link_socket(self, wire: Wire, transport: asyncio.Transport | None) -> None:
        """Keep the connection's ``transport`` and let topics write ``wire``'s units straight
        to its socket while it keeps up (see "Direct fan-out" above); a transport without a
        plain socket is kept but not linked."""
        self.transport = transport
        self.fd = socket_fd(transport)
        self.wire = wire if self.fd >= 0 else None
        if transport is not None and self.wire is not None:
            transport.set_protocol(DirectGuard(transport.get_protocol(), self))  # type: ignore[arg-type]
            transport.set_write_buffer_limits(high=0)  # the first unsent byte pauses writing

    def step_out(self) -> None:
        """Leave every direct group until back in step (no error if in none)."""
        for topic in self.topics:
            topic.leave_direct(self)

    def unlink(self) -> None:
        """End direct writes for good, before a close frame or the end of a stream: every later
        message goes through :meth:`put`."""
        self.step_out()
        self.wire = None

    def in_step(self) -> bool:
        """Whether the next message may skip :meth:`put`: linked, live, nothing queued or being
        written, and no unsent bytes in the transport."""
        transport = self.transport
        return (
            self.wire is not None
            and transport is not None
            and self.fast
            and self.closed_reason is None
            and not self._queue
            and not self._backlog
            and not self._draining
            and not transport.is_closing()
            and not transport.get_write_buffer_size()
        )

    @property
    def is_closed(self) -> bool:
        """True once the mailbox was closed (overflow or shutdown)."""
        return self.closed_reason is not None

    def put(self, message: Message) -> bool:
        """Deliver or queue a message; close the mailbox instead if it is full. Never blocks."""
        if self.closed_reason is not None:
            return False
        if (
            self.fast
            and not self._queue
            and not self._backlog
            and not self._draining
            and self.write_now(message)
        ):
            return True
        if len(self._queue) >= self.maxsize:
            self.close(SLOW_CONSUMER)
            return False
        self._queue.append(message)
        self._wake()
        return True

    def put_backlog(self, messages: list[Message]) -> None:
        """Queue a resume backlog ahead of live messages.

        The backlog is bounded by the topic's ring buffer and shares its
        message objects, so it does not count against ``maxsize``.
        """
        if self.closed_reason is None and messages:
            self._backlog = (self._backlog or []) + messages
            self._wake()

    def discard_topic(self, topic: str) -> None:
        """Drop queued messages of ``topic`` (after an unsubscribe)."""
        if self._backlog:
            self._backlog = [m for m in self._backlog if m.topic != topic]
        self._queue = [m for m in self._queue if m.topic != topic]

    def close(self, reason: str) -> None:
        """Close the mailbox: detach from all topics, drop the backlog, wake the owner."""
        if self.closed_reason is not None:
            return
        self.closed_reason = reason
        for topic in list(self.topics):
            topic.detach(self)
        self._queue = []
        self._backlog = None
        self._wake()
        self.closed(reason)

    def get_nowait(self) -> list[Message]:
        """Everything queued so far, backlog first (possibly nothing)."""
        batch = self._backlog + self._queue if self._backlog else self._queue
        self._backlog = None
        self._queue = []
        return batch

    def take(self) -> list[Message]:
        """Like ``get_batch`` without waiting: the queue now, possibly empty.

        For owners that run a writer only while something is queued (see
        ``queued``); an empty result also means the previous batch is done.
        """
        batch = self.get_nowait()
        self._draining = bool(batch)
        return batch

    async def get_batch(self, timeout: float | None = None) -> list[Message]:
        """Wait until something is queued, the mailbox closes or ``timeout`` passes.

        Returns the whole queue; an empty list means the mailbox closed (see
        ``closed_reason``) or the timeout passed (time for a heartbeat).
        Calling it again tells the mailbox the previous batch is written.
        """
        self._draining = False
        if self._queue or self._backlog or self.closed_reason is not None:
            return self.take()
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        timer = loop.call_later(timeout, self._wake) if timeout is not None else None
        try:
            await self._waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()
        return self.take()

    def _wake(self) -> None:
        if self._waiter is not None:
            if not self._waiter.done():
                self._waiter.set_result(None)
        else:
            self.queued()


class DirectGroup:
    """The mailboxes one topic writes one wire's unit to directly, and their descriptors.

    The hot loop walks :attr:`fds`, the descriptors packed in one array, and
    touches no per-connection Python object: at thousands of sockets, each
    such object is a cache (and often a TLB) miss of its own. The descriptors
    are in ascending order, which is about the order the kernel accepted the
    connections and allocated their socket structures in, so each send finds
    its neighbour's kernel memory close by (a send cost 6–8 % less than in
    the order mailboxes joined, in paired runs at 5,000 sockets). The array
    is rebuilt at the first fan-out after the members change, which happens
    as clients come and go, not per message.
    """

    __slots__ = ("_fds", "members")

    def __init__(self) -> None:
        self.members: dict[Mailbox, int] = {}  # mailbox → its socket's descriptor
        self._fds: array[int] | None = None

    def __len__(self) -> int:
        return len(self.members)

    def __contains__(self, mailbox: object) -> bool:
        return mailbox in self.members

    def add(self, mailbox: Mailbox, fd: int) -> None:
        """Write to ``fd`` for ``mailbox`` from the next fan-out on."""
        self.members[mailbox] = fd
        self._fds = None

    def discard(self, mailbox: Mailbox) -> bool:
        """Stop writing for ``mailbox``; whether it was a member."""
        if self.members.pop(mailbox, None) is None:
            return False
        self._fds = None
        return True

    @property
    def fds(self) -> array[int]:
        """Every member's descriptor, in ascending order, in one packed array."""
        if self._fds is None:
            self._fds = array("i", sorted(self.members.values()))
        return self._fds

    def by_fd(self) -> dict[int, Mailbox]:
        """Each member by its descriptor (built on demand: only a socket that fell behind
        needs it)."""
        return {fd: mailbox for mailbox, fd in self.members.items()}


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

    def __init__(
        self,
        name: str,
        history: int = DEFAULT_HISTORY,
        key_field: str | None = None,
        clock: Callable[[], int] = now_us,
    ) -> None:
        if history < 1:
            raise ValueError("history must be at least 1")
        self.name = name
        self.key_field = key_field
        self.head = 0
        self._clock = clock
        self._ring: deque[Message] = deque(maxlen=history)
        self._latest: dict[Any, Message] = {}
        self._mailboxes: set[Mailbox] = set()  # fed one by one through Mailbox.put
        self._direct: dict[Wire, DirectGroup] = {}
        self.closed = False
        # Called with every new message (e.g. to replicate it to worker processes).
        self.listeners: list[Callable[[Message], None]] = []

    def __hash__(self) -> int:
        return id(self)

    @property
    def subscriber_count(self) -> int:
        """Number of attached mailboxes."""
        return len(self._mailboxes) + sum(map(len, self._direct.values()))

    def is_direct(self, mailbox: Mailbox) -> bool:
        """Whether ``mailbox`` is in a direct group (its messages skip :meth:`Mailbox.put`)."""
        return mailbox.wire is not None and mailbox in self._direct.get(mailbox.wire, ())

    def subscribers(self) -> list[Mailbox]:
        """Every attached mailbox, direct or not."""
        return [*self._mailboxes, *(m for group in self._direct.values() for m in group.members)]

    def publish(self, data: Mapping[str, Any]) -> Message:
        """Give ``data`` the next seq and a timestamp, buffer it and fan it out."""
        message = Message.build(self.name, self.head + 1, self._clock(), data)
        self._deliver(message)
        return message

    def ingest(self, message: Message) -> None:
        """Take a message sequenced elsewhere (a replica of the primary's hub).

        The first message sets the starting point; after that seq must rise by one.
        """
        if self.head and message.seq != self.head + 1:
            raise ValueError(f"{self.name}: expected seq {self.head + 1}, got {message.seq}")
        self._deliver(message)

    def _deliver(self, message: Message) -> None:
        self.head = message.seq
        self._ring.append(message)
        key = message.data.get(self.key_field) if self.key_field else None
        self._latest[key] = message
        for listener in self.listeners:
            listener(message)
        # A copy taken first: an overflowing mailbox detaches itself, and a socket that
        # leaves a direct group gets this message there, not again here.
        one_by_one = tuple(self._mailboxes)
        for wire, group in self._direct.items():
            if group:
                self._write_direct(message, wire, group)
        for mailbox in one_by_one:
            mailbox.put(message)
            if mailbox.in_step():
                self._mailboxes.discard(mailbox)
                direct = self._direct.setdefault(mailbox.wire, DirectGroup())  # type: ignore[arg-type]
                direct.add(mailbox, mailbox.fd)
        message.release_frames()

    def _write_direct(self, message: Message, wire: Wire, group: DirectGroup) -> None:
        """Write ``wire``'s unit of ``message`` to every socket of ``group``: the hot loop."""
        unit = getattr(message.frames, wire.frame)
        size = len(unit)
        write = os.write
        behind: list[tuple[int, int]] = []
        # No check per write: DirectGuard takes a socket out of the group before it could
        # hold unsent bytes or be closed.
        for fd in group.fds:
            try:
                written = write(fd, unit)
            except OSError:  # full (EAGAIN), or a dead peer that the transport will report
                written = 0
            if written != size:
                behind.append((fd, written))
        wire.sent(message, unit, len(group) - sum(1 for _, written in behind if not written))
        if not behind:
            return
        by_fd = group.by_fd()
        for fd, written in behind:
            mailbox = by_fd[fd]
            group.discard(mailbox)
            self._mailboxes.add(mailbox)
            if written:
                mailbox.transport.write(unit[written:])  # type: ignore[union-attr]  # the rest, first
            else:
                mailbox.put(message)

    def leave_direct(self, mailbox: Mailbox) -> None:
        """Feed ``mailbox`` through :meth:`Mailbox.put` again (no error if it was not direct)."""
        wire = mailbox.wire
        group = self._direct.get(wire) if wire is not None else None
        if group is not None and group.discard(mailbox):
            self._mailboxes.add(mailbox)

    def close(self) -> None:
        """Mark the topic closed (used at shutdown); publishing still works."""
        self.closed = True

    def attach(self, mailbox: Mailbox) -> None:
        """Deliver every future message of this topic into ``mailbox``."""
        if mailbox.is_closed:
            raise ValueError("cannot attach a closed mailbox")
        if self not in mailbox.topics:
            self._mailboxes.add(mailbox)
            mailbox.topics.append(self)

    def detach(self, mailbox: Mailbox) -> None:
        """Stop delivering into ``mailbox`` (no error if it was not attached)."""
        self.leave_direct(mailbox)
        self._mailboxes.discard(mailbox)
        if self in mailbox.topics:
            mailbox.topics.remove(self)

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
            messages = [self._ring[i] for i in range(start, len(self._ring))]
            return Backlog(messages, 0, self.head)
        return Backlog(list(self._ring), oldest - seq - 1, self.head)

    def latest(self) -> list[Message]:
        """The newest message per key (per symbol), in seq order."""
        return sorted(self._latest.values(), key=lambda m: m.seq)


class Hub:
    """The set of topics the lab publishes: ``prices`` and ``chat``."""

    TOPICS: tuple[tuple[str, str | None], ...] = (("prices", "symbol"), ("chat", None))

    def __init__(self, history: int = DEFAULT_HISTORY, clock: Callable[[], int] = now_us) -> None:
        self.topics: dict[str, Topic] = {
            name: Topic(name, history, key_field, clock) for name, key_field in self.TOPICS
        }

    def __getitem__(self, name: str) -> Topic:
        return self.topics[name]

    def __contains__(self, name: object) -> bool:
        return name in self.topics

    def publish(self, topic: str, data: Mapping[str, Any]) -> Message:
        """Publish ``data`` on ``topic``."""
        return self.topics[topic].publish(data)

    def close(self, reason: str) -> None:
        """Close every topic and every attached mailbox (used at shutdown)."""
        for topic in self.topics.values():
            topic.close()
            for mailbox in topic.subscribers():
                mailbox.close(reason)
