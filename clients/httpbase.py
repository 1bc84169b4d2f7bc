"""What the poll, long-poll, stream and SSE clients share: HTTP/1.1 GETs on a counted connection.

Read ``clients.http11`` (the protocol, no sockets) first, then this module, then one transport
module: ``poll`` and ``longpoll`` (one answer per request), ``stream`` and ``sse`` (one long
answer per connection, :class:`StreamingClient`).

Byte counting: requests are written by hand (``clients.http11.build_request``) on a counted
connection (``clients.connection``), and each request's bytes are added to
``request_header_bytes`` as written. The response parser counts the response head and the
chunk framing; the transport's :class:`PayloadParser` (a poll body, NDJSON lines, SSE events)
splits the payload into body and framing. Those counters together are the current
connection's classification; whatever was received but not yet parsed when the connection
ends counts as header bytes (inside a response head) or framing (anywhere else).

Status policy: 200 is good; 5xx (including a relay's 502 when the server is down) is a drop,
retried like a reset; so is 429 (too many requests), and a 429 or 503 may say with
``Retry-After`` how long to wait first (see ``clients.backoff``); any other status raises
``HandshakeRefused``, since retrying would not help.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Iterable

from .backoff import parse_retry_after
from .base import HEADER_TIMEOUT, BaseClient
from .connection import ConnectionDropped, ServerBusy
from .errors import HandshakeRefused, ServerUnavailable
from .http2 import Http2Session
from .http11 import (
    Data,
    EndOfResponse,
    ResponseEvent,
    ResponseHead,
    ResponseParser,
    build_request,
)
from .tls import TlsConnection


def take_lines(buffer: bytearray) -> list[bytes]:
    """Remove and return every complete LF-terminated line of ``buffer`` (terminator included).

    NDJSON and SSE both split on the line end wherever it falls, never on chunk boundaries.
    """
    end = buffer.rfind(b"\n")
    if end < 0:
        return []
    block = bytes(buffer[:end])
    del buffer[: end + 1]
    return [line + b"\n" for line in block.split(b"\n")]


BUSY = (429, 503)
"""Statuses that mean "come back later": retried, after ``Retry-After`` when given."""


def busy(head: ResponseHead) -> ServerBusy:
    """The drop for a ``429`` or ``503`` answer, carrying its ``Retry-After`` in seconds."""
    return ServerBusy(f"HTTP {head.status} {head.reason}",
                      parse_retry_after(head.headers.get("retry-after")))


class PayloadParser:
    """Base of the parsers that classify a response's payload (after the transfer coding).

    Each subclass adds a ``feed`` that takes payload bytes and returns what they complete.
    ``body_bytes`` counts the JSON text of each message or notice exactly as the server wrote
    it, ``framing_bytes`` everything else it consumed; bytes still waiting for the end of their
    line (or body) are ``pending``.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.body_bytes = 0
        self.framing_bytes = 0

    @property
    def pending(self) -> int:
        """Payload bytes fed but not yet classified."""
        return len(self._buffer)


class HttpClient(BaseClient):
    """A :class:`BaseClient` that speaks HTTP GET on one connection at a time: HTTP/1.1, or
    HTTP/2 with ``http2=True`` (negotiated by ALPN over ``https:``, prior knowledge, "h2c",
    over ``http:``), one stream at a time (``clients.http2``)."""

    accept: str = "application/json"
    """The request's ``Accept`` header: the media type of the transport's payload."""

    payload_parser_class: type[PayloadParser]
    """The parser of the transport's payload; each connection gets a fresh one."""

    def __init__(self, *args: object, http2: bool = False, **kwargs: object) -> None:
        self.http2 = http2
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._response_parser: ResponseParser | Http2Session = self._new_wire()
        self._payload_parser = self.payload_parser_class()

    def _alpn(self) -> list[str]:
        return ["h2"] if self.http2 else ["http/1.1"]

    def _new_wire(self) -> ResponseParser | Http2Session:
        """A response parser (HTTP/1.1) or a session (HTTP/2) for a new connection."""
        if self.http2:
            return Http2Session("https" if self._tls else "http", self._hostport)
        return ResponseParser()

    def _classified(self) -> tuple[int, int, int]:
        response, payload = self._response_parser, self._payload_parser
        return (
            response.header_bytes,
            payload.body_bytes,
            response.framing_bytes + payload.framing_bytes,
        )

    def _pending_is_header(self) -> bool:
        return self._response_parser.in_header and self._payload_parser.pending == 0

    async def _connect_http(self) -> None:
        """Open a new connection with a fresh response parser and payload parser."""
        conn = await self._connect()
        if self.http2 and isinstance(conn, TlsConnection) and conn.alpn != "h2":
            raise ServerUnavailable(f"{self.url} does not offer HTTP/2 (ALPN chose {conn.alpn})")
        self._response_parser = self._new_wire()
        self._payload_parser = self.payload_parser_class()

    def _send(self, target: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        """Write one GET request, counting it (over HTTP/2: its HPACK header block)."""
        fields = [("Accept", self.accept), *headers]
        wire = self._response_parser
        if isinstance(wire, ResponseParser):
            self._write_request(build_request(target, self._hostport, fields))
            return
        assert self._conn is not None
        data, header_block = wire.request(target, fields)
        self._conn.write(data)
        self._tally.requests += 1
        self._tally.request_header_bytes += header_block

    async def _read_events(self) -> list[ResponseEvent]:
        """Read one chunk from the socket and parse it (EOF ends a read-until-close body)."""
        assert self._conn is not None
        try:
            data = await self._conn.read()
        except ConnectionDropped:
            events = self._response_parser.feed_eof()
            if not events:
                raise
            return events
        self._stamp()
        events = self._response_parser.feed(data)
        if isinstance(self._response_parser, Http2Session):
            owed = self._response_parser.outgoing()  # acknowledgements, flow-control credit
            if owed:
                self._conn.write(owed)
        return events

    async def _goodbye(self) -> None:
        """HTTP/2: cancel any stream, send GOAWAY, read until the server closes (HTTP/1.1
        between requests has nothing to say)."""
        if isinstance(self._response_parser, Http2Session):
            assert self._conn is not None
            self._conn.write(self._response_parser.goodbye())
            self._conn.write_eof()
            while True:
                await self._read_events()

    async def _read_head(self, target: str) -> list[ResponseEvent]:
        """Read until the response head; check its status; return the events after it."""
        while True:
            events = await self._read_events()
            for index, event in enumerate(events):
                if isinstance(event, ResponseHead):
                    self._check(event, target)
                    return events[index + 1 :]

    def _check(self, head: ResponseHead, target: str) -> None:
        """Apply the status policy (module docstring) to a response head."""
        if head.status == 200:
            return
        if head.status in BUSY:
            raise busy(head)
        if head.status >= 500:
            raise ConnectionDropped(f"HTTP {head.status} {head.reason}")
        raise HandshakeRefused(
            f"{self.name}: HTTP {head.status} {head.reason} for GET {target}", head.status
        )


class StreamingClient(HttpClient):
    """One long response per connection (chunked NDJSON or SSE); its end is a drop."""

    @abstractmethod
    def _request(self) -> tuple[str, list[tuple[str, str]]]:
        """The target and extra headers of the next (re)connection's request."""

    @abstractmethod
    def _feed_payload(self, data: bytes) -> None:
        """Feed payload bytes to the payload parser and accept what it completes."""

    async def _open(self) -> None:
        await self._connect_http()
        target, headers = self._request()
        self._send(target, headers)
        async with asyncio.timeout(HEADER_TIMEOUT):
            events = await self._read_head(target)
        self._opened()
        self._handle(events)

    async def _receive(self) -> None:
        self._handle(await self._read_events())

    async def _goodbye(self) -> None:
        """Half-close (HTTP/2: after GOAWAY), then read until the server ends the connection,
        so totals are final."""
        assert self._conn is not None
        if isinstance(self._response_parser, Http2Session):
            self._conn.write(self._response_parser.goodbye())
        self._conn.write_eof()
        while True:
            events = await self._read_events()
            for event in events:
                if isinstance(event, Data):
                    self._feed_payload(event.data)

    def _handle(self, events: list[ResponseEvent]) -> None:
        """Feed the payload on; the end of the response means the server dropped the stream."""
        ended = False
        for event in events:
            if isinstance(event, Data):
                self._feed_payload(event.data)
            elif isinstance(event, EndOfResponse):
                ended = True
        if ended:
            raise ConnectionDropped("the server ended the stream")
