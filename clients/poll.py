"""Short-poll client: ``GET /api/poll?topic=T[&since=N]`` every ``interval`` seconds.

Twin of ``lab/transports/poll.py``. Short polling has no spec of its own: it is plain
HTTP/1.1 (RFC 9112, parsed in ``clients.http11``), one GET and one complete answer at a time
on a persistent connection (RFC 9112 §9.3). The answer's body is the lab's contract
(``docs/contract.md``), ``{"messages": [...], "head": N, "missed": K}``; this module parses it
(:func:`parse_poll_body`) and owns the request/response loop (:class:`PollingClient`) that the
long-poll client reuses.

The short poll itself: the first request has no ``since`` (unless one was given), so the
server answers with the latest message of each symbol, a snapshot whose seq jumps are not
gaps. Every later request asks for everything after the last seq seen, on the same keep-alive
connection; a message that fell out of the server's buffer in between is reported in
``missed`` and counted as a gap. Polls run on a fixed clock (``start + k * interval``); a poll
that is late (slow server, reconnect) is sent at once, and missed ticks are skipped, not
bunched. After a drop the client reconnects with backoff and polls at once from the last seq.

Deliberately not done: conditional requests (the server sends ``Cache-Control: no-store`` and
no validators), pipelining or a second request in flight, and making up for skipped ticks.

Byte counting: requests as written, the response head and any chunk framing as in
``clients.httpbase``; inside the body, each message's JSON text is body and the envelope
(``{"messages":[``, commas, ``],"head":..,"missed":..}``) is framing.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import orjson

from lab.contract import PATHS

from .errors import RemoteProtocolError
from .http11 import Data, EndOfResponse
from .httpbase import HttpClient, PayloadParser
from .lifecycle import Event

POLL_TIMEOUT = 10.0
"""Seconds to wait for a poll response before treating the connection as dropped."""

# -- the poll body --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PollBody:
    """A parsed poll / long-poll body with the exact wire size of each message."""

    messages: list[tuple[dict, int]]
    head: int
    missed: int
    body_bytes: int
    framing_bytes: int


_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def _array_element_sizes(body: bytes) -> list[int]:
    """Byte length of every object directly inside the top-level object's array value."""
    sizes = []
    depth: list[bytes] = []
    start = 0
    for match in _TOKENS.finditer(body):
        token = match.group()
        if token.startswith(b'"'):
            continue
        if token in (b"{", b"["):
            if token == b"{" and depth == [b"{", b"["]:
                start = match.start()
            depth.append(token)
        else:
            if not depth:
                raise RemoteProtocolError("unbalanced JSON in poll body")
            depth.pop()
            if token == b"}" and depth == [b"{", b"["]:
                sizes.append(match.end() - start)
    return sizes


def parse_poll_body(body: bytes) -> PollBody:
    """Parse ``{"messages": [...], "head": N, "missed": K}`` and size each message on the wire."""
    try:
        parsed = orjson.loads(body)
        messages = parsed["messages"]
        head = int(parsed.get("head", 0))
        missed = int(parsed.get("missed", 0))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise RemoteProtocolError(f"bad poll body: {exc}") from None
    sizes = _array_element_sizes(body)
    if len(sizes) != len(messages) or not all(isinstance(m, dict) for m in messages):
        raise RemoteProtocolError("poll body: messages must be a list of objects")
    size = sum(sizes)
    return PollBody(list(zip(messages, sizes)), head, missed, size, len(body) - size)


class PollBodyParser(PayloadParser):
    """Collects one poll body at a time; :meth:`finish` parses and classifies it."""

    def feed(self, data: bytes) -> None:
        """Append payload bytes of the current response."""
        self._buffer += data

    def finish(self) -> PollBody:
        """The response ended: parse the body, add its byte classes, start over."""
        body = parse_poll_body(bytes(self._buffer))
        self._buffer.clear()
        self.body_bytes += body.body_bytes
        self.framing_bytes += body.framing_bytes
        return body


# -- one request, one answer ----------------------------------------------------------------


class PollingClient(HttpClient):
    """A client that sends one GET per answer on a keep-alive connection (short and long poll)."""

    payload_parser_class = PollBodyParser
    _payload_parser: PollBodyParser

    async def _exchange(self, target: str, timeout: float) -> PollBody:
        """One request/response on the keep-alive connection (opened if needed)."""
        if self._conn is not None and self._conn.closed:
            # The peer closed the idle keep-alive connection it had promised to keep (a cut,
            # a restart): a drop, so the new connection counts as a reconnect.
            self._fire(Event.DROPPED)
        if self._conn is None or self._conn.closed:
            await self._connect_http()
        self._send(target)
        async with asyncio.timeout(timeout):
            events = await self._read_head(target)
            self._opened()
            while True:
                for event in events:
                    if isinstance(event, Data):
                        self._payload_parser.feed(event.data)
                    elif isinstance(event, EndOfResponse):
                        body = self._payload_parser.finish()
                        if not event.keep_alive:
                            self._close_connection()
                        return body
                events = await self._read_events()

    def _accept_poll_body(self, body: PollBody, snapshot: bool) -> None:
        """Accept a poll body's messages; a snapshot (no resume point yet) has no gaps."""
        if body.missed:
            self._accept({"topic": self.topic, "missed": body.missed})
        for message, _size in body.messages:
            self._accept(message, snapshot)
        if snapshot:
            self._last_seq = max(self._last_seq or 0, body.head)


# -- the short poll -------------------------------------------------------------------------


class PollClient(PollingClient):
    """Polls on a fixed clock; see the module docstring."""

    name = "poll"

    def __init__(self, *args: object, interval: float = 1.0, **kwargs: object) -> None:
        if not interval > 0:
            raise ValueError(f"poll interval must be positive, got {interval}")
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.interval = interval
        self._next_poll = 0.0

    async def _open(self) -> None:
        await self._poll()

    async def _receive(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self._next_poll - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await self._poll()

    async def _poll(self) -> None:
        """Send one poll now and accept its answer; schedule the next tick."""
        now = asyncio.get_running_loop().time()
        self._next_poll += self.interval
        if self._next_poll <= now:
            self._next_poll = now + self.interval
        snapshot = self._last_seq is None
        target = self._target(PATHS["poll"], since=self._last_seq)
        self._accept_poll_body(await self._exchange(target, POLL_TIMEOUT), snapshot)
