"""HTTP/1.1 plumbing shared by the poll, long-poll, stream and SSE clients.

Requests are written by hand (``clients.http11``) on a counted connection (``clients.connection``):
each request's bytes are added to ``request_header_bytes`` as written. The response parser
counts header and chunk framing; a payload parser (:class:`PollBodyParser`, ``NdjsonParser``,
``SseParser``) splits the payload into body and framing. Those counters together are the
current connection's classification; whatever was received but not yet parsed when the
connection ends counts as header bytes (inside a head) or framing (anywhere else).

Status policy: 200 is good; 5xx (including a relay's 502 when the server is down) is a drop,
retried like a reset; any other status raises ``HandshakeRefused``, since retrying would not help.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol

from .base import HEADER_TIMEOUT, BaseClient, Event
from .connection import ConnectionDropped
from .errors import HandshakeRefused
from .formats import PollBody, parse_poll_body
from .http11 import (
    Data,
    EndOfResponse,
    ResponseEvent,
    ResponseHead,
    ResponseParser,
    build_request,
)


class PayloadParser(Protocol):
    """What the HTTP client needs of the parser that classifies its response payloads."""

    body_bytes: int
    framing_bytes: int

    @property
    def pending(self) -> int:
        """Payload bytes fed but not yet classified."""
        ...


class PollBodyParser:
    """Collects one poll body at a time; :meth:`finish` decodes and classifies it."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.body_bytes = 0
        self.framing_bytes = 0

    @property
    def pending(self) -> int:
        """Bytes of a body whose end has not arrived yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        """Append payload bytes of the current response."""
        self._buffer += data

    def finish(self) -> PollBody:
        """The response ended: decode the body, add its byte classes, start over."""
        body = parse_poll_body(bytes(self._buffer))
        self._buffer.clear()
        self.body_bytes += body.body_bytes
        self.framing_bytes += body.framing_bytes
        return body


class HttpClient(BaseClient):
    """A :class:`BaseClient` that speaks HTTP/1.1 GET on one connection at a time."""

    accept: str = "application/json"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._response_parser = ResponseParser()
        self._payload_parser: PayloadParser = self._new_payload_parser()

    def _new_payload_parser(self) -> PayloadParser:
        """A fresh payload parser for a new connection."""
        return PollBodyParser()

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
        await self._connect()
        self._response_parser = ResponseParser()
        self._payload_parser = self._new_payload_parser()

    def _send(self, target: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        """Write one GET request, counting it."""
        assert self._conn is not None
        request = build_request(target, self._hostport, [("Accept", self.accept), *headers])
        self._conn.write(request)
        self._tally.requests += 1
        self._tally.request_header_bytes += len(request)

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
        return self._response_parser.feed(data)

    async def _read_head(self, target: str) -> list[ResponseEvent]:
        """Read until the response head; check its status; return the events after it."""
        while True:
            events = await self._read_events()
            for index, event in enumerate(events):
                if isinstance(event, ResponseHead):
                    self._check(event, target)
                    return events[index + 1 :]

    def _check(self, head: ResponseHead, target: str) -> None:
        if head.status == 200:
            return
        if head.status >= 500:
            raise ConnectionDropped(f"HTTP {head.status} {head.reason}")
        raise HandshakeRefused(
            f"{self.name}: HTTP {head.status} {head.reason} for GET {target}", head.status
        )

    async def _exchange(self, target: str, timeout: float) -> PollBody:
        """One request/response on the keep-alive connection (opened if needed)."""
        if self._conn is not None and self._conn.closed:
            # The peer closed the idle keep-alive connection it had promised to keep (a cut,
            # a restart): a drop, so the new connection counts as a reconnect.
            self._fire(Event.DROPPED)
        if self._conn is None or self._conn.closed:
            await self._connect_http()
        assert isinstance(self._payload_parser, PollBodyParser)
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


class StreamingClient(HttpClient):
    """One long response per connection (chunked NDJSON or SSE); its end is a drop."""

    def _request(self) -> tuple[str, list[tuple[str, str]]]:
        """The target and extra headers of the next (re)connection's request."""
        raise NotImplementedError

    def _feed_payload(self, data: bytes) -> None:
        """Feed payload bytes to the payload parser and accept what it completes."""
        raise NotImplementedError

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
        """Half-close, then read until the server ends the connection, so totals are final."""
        assert self._conn is not None
        self._conn.write_eof()
        while True:
            events = await self._read_events()
            for event in events:
                if isinstance(event, Data):
                    self._feed_payload(event.data)

    def _handle(self, events: list[ResponseEvent]) -> None:
        ended = False
        for event in events:
            if isinstance(event, Data):
                self._feed_payload(event.data)
            elif isinstance(event, EndOfResponse):
                ended = True
        if ended:
            raise ConnectionDropped("the server ended the stream")
