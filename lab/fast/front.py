"""The front door: plain poll GETs answered at the socket, everything else handed to aiohttp.

Every connection the server accepts starts with a :class:`FrontDoor`. While a
client sends only plain keep-alive ``GET /api/poll`` and ``GET /api/longpoll``
requests — what a poller sends, thousands of times a second — the front door
answers them itself, with pre-built responses (:mod:`lab.fast.answers`),
holding long polls in :class:`~lab.fast.held.HeldPolls`; the bytes on the wire
and the counters are those of the textbook handlers. The first request of any
other shape — another path or method, a query it would have to decode, a value
it would have to refuse, ``Connection: close``, a body, HTTP/1.0, an oversized
head — hands the connection, with every byte not yet answered, to aiohttp's
own protocol for good; aiohttp then answers it with the textbook handlers
(errors included).

Why: with 5,000 long polls at 10 messages/s, aiohttp's per-request pipeline (a
task and a request object per request, the router, finishing the response)
was about 80 % of the server's CPU, so the server ran at its limit and the
median poll waited in its queue.

Before anything else, the front door admits the connection or refuses it by
its client address (:mod:`lab.admission`), as the textbook entrance does.

Like aiohttp, the front door closes a connection idle for
:data:`KEEPALIVE_TIMEOUT_S`, answers requests in order (a request arriving
behind a held poll answers that poll at once), and stops reading while the
client does not read its answers.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

from aiohttp import web

from lab.admission import Admission
from lab.fast.answers import Answer, PollAnswers, write_answer
from lab.fast.held import Held, HeldPolls
from lab.hub import Hub, Topic
from lab.settings import Settings
from lab.stats import ServerStats
from lab.transports.common import is_seq
from lab.transports.longpoll import resume_point

log = logging.getLogger("lab.tcp")
access_log = logging.getLogger("lab.access")

KEEPALIVE_TIMEOUT_S = 75.0
"""Seconds an idle keep-alive connection stays open (aiohttp's default)."""

IDLE_SWEEP_S = 15.0
"""Seconds between checks for idle connections."""

READ_BUFFER_SIZE = 64 * 1024
"""Bytes one read may take. The doors read into one shared buffer and copy out what came:
asyncio's own reads allocate 256 KiB and shrink it, and the aiohttp handler a WebSocket gets
while that block is still alive was left next to a hole in the heap (+180 B of RSS per idle
socket at 5,000)."""

MAX_HEAD = 8190
"""Bytes of an unfinished request head the front door waits for before handing it on."""

REQUEST_LINE = re.compile(rb"GET /api/(long)?poll(?:\?([A-Za-z0-9_.=&-]*))? HTTP/1\.1\r\n")
"""A poll's request line whose query needs no decoding (no ``%``, ``+`` or ``;``)."""

HEADER_LINES = re.compile(rb"(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\x00-\x08\x0a-\x1f\x7f]*\r\n)+")
"""Well-formed header lines (a token, a colon, a value without control characters)."""

HANDED_ON_HEADERS = re.compile(
    rb"^(?:content-length|transfer-encoding|upgrade|expect|origin"
    rb"|connection(?!:[ \t]*keep-alive[ \t]*\r)):",
    re.IGNORECASE | re.MULTILINE,
)
"""Headers that make a request aiohttp's: a body, an upgrade, an ``Origin`` to check (see
:mod:`lab.origins`), or a ``Connection`` other than ``keep-alive``."""


@dataclass(frozen=True, slots=True)
class PollRequest:
    """A plain poll the front door answers: which transport, topic, resume point and timeout."""

    transport: str
    topic: Topic
    since: int | None
    timeout: float
    head_size: int


def parse_poll(head: bytes, hub: Hub, settings: Settings) -> PollRequest | None:
    """The poll ``head`` (a request head ending in a blank line) asks, or None for aiohttp.

    None for anything but a plain keep-alive HTTP/1.1 poll GET of a known topic with
    valid values: aiohttp answers the rest, refusals included.
    """
    line = REQUEST_LINE.match(head)
    if line is None or HEADER_LINES.fullmatch(head, line.end(), len(head) - 2) is None:
        return None
    if HANDED_ON_HEADERS.search(head, line.end()) is not None:
        return None
    query: dict[bytes, bytes] = {}
    for pair in (line[2] or b"").split(b"&"):
        if pair:
            key, _, value = pair.partition(b"=")
            query.setdefault(key, value)
    topic = hub.topics.get(query.get(b"topic", b"prices").decode())
    since_text = query.get(b"since", b"")
    if topic is None or since_text and not is_seq(since_text) or b"token" in query:
        return None  # a chat identity's poll: aiohttp's handlers keep it present
    timeout = settings.longpoll_default
    if line[1] is not None and query.get(b"timeout"):
        try:
            timeout = float(query[b"timeout"])
        except ValueError:
            return None
        if not 0 < timeout <= settings.longpoll_max:
            return None
    since = int(since_text) if since_text else None
    return PollRequest("longpoll" if line[1] else "poll", topic, since, timeout, len(head))


class FrontDoors:
    """What every front door shares: the hub, answers and held polls, and the open doors."""

    def __init__(self, server: web.Server, hub: Hub, settings: Settings, stats: ServerStats,
                 answers: PollAnswers, held_polls: HeldPolls, admission: Admission) -> None:
        self.server = server
        self.admission = admission
        self.hub = hub
        self.settings = settings
        self.stats = stats
        self.answers = answers
        self.held_polls = held_polls
        self.doors: set[FrontDoor] = set()
        self.read_buffer = memoryview(bytearray(READ_BUFFER_SIZE))
        self._sweeper: asyncio.TimerHandle | None = None

    def door(self) -> FrontDoor:
        """A protocol for one new connection (the factory ``loop.create_server`` calls)."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(IDLE_SWEEP_S, self._sweep)
        return FrontDoor(self)

    def _sweep(self) -> None:
        """Close the doors idle for longer than the keep-alive timeout."""
        loop = asyncio.get_running_loop()
        idle_since = loop.time() - KEEPALIVE_TIMEOUT_S
        for door in [d for d in self.doors if d.held is None and d.last_active < idle_since]:
            door.close()
        self._sweeper = loop.call_later(IDLE_SWEEP_S, self._sweep)

    def close(self) -> None:
        """Close every door still open (held polls are answered before, at the app's shutdown)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for door in list(self.doors):
            door.close()


class HeldSocket(Held):
    """A long poll held by a front door, answered straight to its socket."""

    __slots__ = ("door",)

    def __init__(self, door: FrontDoor, poll: PollRequest, since: int) -> None:
        super().__init__(poll.topic, since, poll.timeout)
        self.door = door

    def deliver(self, answer: Answer) -> None:
        """Write the answer; the door may take the next request."""
        self.door.held = None
        self.door.write(answer, "longpoll")


class FrontDoor(asyncio.BufferedProtocol):
    """One connection while it only polls; see the module's docstring."""

    __slots__ = ("_paused", "front", "held", "last_active", "pending", "transport")

    def __init__(self, front: FrontDoors) -> None:
        self.front = front
        self.transport: asyncio.Transport | None = None
        self.held: HeldSocket | None = None
        self.last_active = 0.0
        self.pending = b""  # the start of a request not yet complete
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Admit the connection (:mod:`lab.admission`: else it is refused) and register it."""
        assert isinstance(transport, asyncio.Transport)
        if not self.front.admission.admit(transport):
            return
        self.transport = transport
        self.last_active = asyncio.get_running_loop().time()
        self.front.doors.add(self)
        if log.isEnabledFor(logging.INFO):
            log.info("connected    %s", peer(transport))

    def get_buffer(self, sizehint: int) -> memoryview:
        """Where the socket's bytes are read to: one buffer every door shares."""
        return self.front.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        """Take what was read (a copy of its exact size) out of the shared buffer."""
        self.data_received(bytes(self.front.read_buffer[:nbytes]))

    def data_received(self, data: bytes) -> None:
        """Answer every complete poll request; hand anything else to aiohttp."""
        if self.pending:
            data, self.pending = self.pending + data, b""
        front = self.front
        start = 0
        while start < len(data):
            end = data.find(b"\r\n\r\n", start)
            if self._paused or (end < 0 and len(data) - start <= MAX_HEAD):
                # Not reading (the rest waits for resume_writing), or a head still arriving.
                self.pending = data[start:]
                return
            poll = parse_poll(data[start:end + 4], front.hub, front.settings) if end >= 0 else None
            if poll is None:
                self.hand_over(data[start:])
                return
            if self.held is not None:  # answers stay in order: the held poll answers first
                front.held_polls.answer_now(self.held)
            self.serve(poll)
            start = end + 4

    def serve(self, poll: PollRequest) -> None:
        """Count and answer one poll, or hold it."""
        front = self.front
        counters = front.stats[poll.transport]
        counters.requests += 1
        counters.request_header_bytes += poll.head_size
        topic = poll.topic
        if poll.transport == "poll":
            self.write(front.answers.answer(topic, poll.since), "poll")
            return
        since = resume_point(topic, poll.since)
        if topic.head > since:
            self.write(front.answers.answer(topic, since), "longpoll")
        else:
            self.held = HeldSocket(self, poll, since)
            front.held_polls.hold(self.held)

    def write(self, answer: Answer, transport: str) -> None:
        """Write one answer and count it."""
        write_answer(self.transport, answer, self.front.stats[transport])
        self.last_active = asyncio.get_running_loop().time()
        if access_log.isEnabledFor(logging.DEBUG):
            access_log.debug("%s %s answered at the front door, %d messages",
                             peer(self.transport), transport, answer.count)

    def hand_over(self, data: bytes) -> None:
        """Give the connection, and ``data`` not yet answered, to aiohttp for good."""
        transport = self.transport
        assert transport is not None
        if self.held is not None:
            self.front.held_polls.answer_now(self.held)
        self.front.doors.discard(self)
        handler = self.front.server()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if self._paused:
            handler.pause_writing()
            transport.resume_reading()
        handler.data_received(data)

    def pause_writing(self) -> None:
        """The client is not reading its answers: stop reading its requests."""
        self._paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        """The client reads again: answer what waited, and read again."""
        self._paused = False
        if self.transport is not None:
            self.transport.resume_reading()
            self.data_received(b"")

    def eof_received(self) -> bool:
        """The client finished sending: close once our answers are written."""
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection and any poll it held."""
        self.front.doors.discard(self)
        if self.held is not None:
            self.front.held_polls.drop(self.held)
            self.held = None
        if log.isEnabledFor(logging.INFO):
            log.info("disconnected %s", peer(self.transport))
        self.transport = None

    def close(self) -> None:
        """Close the connection (once what was written is sent)."""
        if self.transport is not None:
            self.transport.close()


def peer(transport: asyncio.BaseTransport | None) -> str:
    """``host:port`` of the other end, or ``?``."""
    address = transport.get_extra_info("peername") if transport is not None else None
    return f"{address[0]}:{address[1]}" if address else "?"
