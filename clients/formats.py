"""Content formats inside an HTTP payload, with no sockets: NDJSON lines, SSE events, poll bodies.

Each parser classifies the payload bytes it consumes into ``body_bytes`` (the JSON text of each
message or notice, exactly as the server wrote it) and ``framing_bytes`` (everything else: the
newline after an NDJSON line and blank heartbeat lines; SSE field names, ``id:`` lines, the
space after a colon, line ends, blank lines and comment heartbeats; a poll body's envelope
``{"messages":[``, commas, ``],"head":..,"missed":..}``). Bytes still waiting for the end of
their line are ``pending``.

Deliberately not supported: SSE's bare-CR line ends (the lab server and every browser-era
server use LF or CRLF) and multi-line ``data:`` events are joined with LF as the spec says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from .errors import RemoteProtocolError


def _lines(buffer: bytearray) -> list[bytes]:
    """Remove and return every complete LF-terminated line (terminator included)."""
    end = buffer.rfind(b"\n")
    if end < 0:
        return []
    block = bytes(buffer[:end])
    del buffer[: end + 1]
    return [line + b"\n" for line in block.split(b"\n")]


class NdjsonParser:
    """Splits a chunked stream's payload into lines; blank lines are heartbeats.

    Lines are split on LF wherever they fall, never on chunk boundaries.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.body_bytes = 0
        self.framing_bytes = 0

    @property
    def pending(self) -> int:
        """Bytes of a line whose newline has not arrived yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Consume payload bytes; return the complete non-blank lines, without line ends."""
        self._buffer += data
        out = []
        for line in _lines(self._buffer):
            text = line.rstrip(b"\r\n")
            self.framing_bytes += len(line) - len(text)
            if text:
                self.body_bytes += len(text)
                out.append(text)
        return out


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched Server-Sent Event: its ``id`` (if any), type and joined ``data``."""

    id: str | None
    event: str
    data: bytes


class SseParser:
    """The event-stream parser of the HTML spec (LF and CRLF line ends).

    ``last_event_id`` is what a browser would send back as ``Last-Event-ID``.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._data: list[bytes] = []
        self._event = ""
        self._id: str | None = None
        self._started = False
        self.last_event_id: str | None = None
        self.body_bytes = 0
        self.framing_bytes = 0

    @property
    def pending(self) -> int:
        """Bytes of a line whose end has not arrived yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[SseEvent]:
        """Consume payload bytes; return the events completed by a blank line."""
        if not self._started and data:
            self._started = True
            if data.startswith(b"\xef\xbb\xbf"):
                self.framing_bytes += 3
                data = data[3:]
        self._buffer += data
        events = []
        for line in _lines(self._buffer):
            text = line.rstrip(b"\r\n")
            if not text:
                self.framing_bytes += len(line)
                event = self._dispatch()
                if event is not None:
                    events.append(event)
                continue
            name, colon, value = text.partition(b":")
            if colon and value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                self._data.append(value)
                self.body_bytes += len(value)
                self.framing_bytes += len(line) - len(value)
                continue
            self.framing_bytes += len(line)
            if name == b"id" and b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
            elif name == b"event":
                self._event = value.decode("utf-8", "replace")
        return events

    def _dispatch(self) -> SseEvent | None:
        if self._id is not None:
            self.last_event_id = self._id
        event = None
        if self._data:
            event = SseEvent(self.last_event_id, self._event or "message", b"\n".join(self._data))
        self._data = []
        self._event = ""
        self._id = None
        return event


@dataclass(frozen=True, slots=True)
class PollBody:
    """A decoded poll / long-poll body with the exact wire size of each message."""

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
