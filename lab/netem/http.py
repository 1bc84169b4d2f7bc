"""Just enough HTTP/1.1 framing for the relay's two proxy behaviours, with no I/O.

`HttpScanner` follows message boundaries in one direction of a connection
(request heads, Content-Length and chunked bodies, 101 tunnels). On top of it:

* `UpgradeGate` (client→server, ``no_upgrade`` mode) holds each request head
  until it is complete, then either releases it or, for ``Upgrade: websocket``,
  refuses it: none of that request's bytes are forwarded, and the relay answers
  `REFUSAL` (403, ``Connection: close``) itself, as corporate proxies do. Given
  the client's address (`forwarded_for`), it names it in ``X-Forwarded-For`` of
  every head it releases, as a reverse proxy does.
* `ResponseBuffer` (server→client, ``buffer_bytes`` mode) holds response bytes
  until N bytes have accumulated or a response ends, as a buffering reverse
  proxy does; it then releases everything held and starts holding again.

Bytes that do not look like HTTP switch the scanner to "opaque": the gate
passes them, the buffer holds them as it would a body that ends at close.
After a 101 response (or a request carrying ``Upgrade``) the scanner follows a
"tunnel": the gate and the buffer both pass it at once, as nginx does.

Deliberately not done: HEAD responses are not recognised (the scanner would
expect their announced body; the lab serves none), pipelined requests are not
reordered, nothing is validated beyond what framing needs.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

__all__ = ["REFUSAL", "Head", "HttpScanner", "Part", "ResponseBuffer", "Segment", "UpgradeGate"]

_REFUSAL_BODY = b"upgrade refused by proxy: this network does not allow WebSocket\n"
REFUSAL = (
    b"HTTP/1.1 403 Forbidden\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: " + str(len(_REFUSAL_BODY)).encode() + b"\r\n"
    b"Connection: close\r\n"
    b"\r\n" + _REFUSAL_BODY
)
"""The relay's own answer to a refused WebSocket upgrade."""

_MAX_HEAD = 64 * 1024
_MAX_LINE = 4096
_REQUEST_LINE = re.compile(rb"[A-Z]+ \S+ HTTP/1\.[01]")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})(?: .*)?")


class Part(enum.Enum):
    """Which part of the stream a segment belongs to."""

    HEAD = "head"
    BODY = "body"
    OPAQUE = "opaque"  # not HTTP: passed through unparsed
    TUNNEL = "tunnel"  # after a 101 response or a request carrying Upgrade


class _State(enum.Enum):
    HEAD = enum.auto()
    LENGTH = enum.auto()
    CHUNK_SIZE = enum.auto()
    CHUNK_DATA = enum.auto()
    TRAILER = enum.auto()
    UNTIL_CLOSE = enum.auto()
    OPAQUE = enum.auto()
    TUNNEL = enum.auto()


_BODY_STATES = frozenset(
    {_State.LENGTH, _State.CHUNK_SIZE, _State.CHUNK_DATA, _State.TRAILER, _State.UNTIL_CLOSE}
)

@dataclass(frozen=True, slots=True)
class Head:
    """A parsed request or response head (start line and headers)."""

    start_line: bytes
    headers: dict[str, list[str]]
    status: int | None  # None for a request

    def values(self, name: str) -> list[str]:
        """Comma-separated tokens of every header called `name`, lower-cased."""
        return [
            token.strip().lower()
            for value in self.headers.get(name, [])
            for token in value.split(",")
        ]

    @property
    def is_websocket_upgrade(self) -> bool:
        """True for a request asking to switch to WebSocket."""
        return self.status is None and "websocket" in self.values("upgrade")


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of bytes within one part; `head` is set on the segment completing a head."""

    data: bytes
    part: Part
    head: Head | None = None
    ends_message: bool = False


def _parse_head(raw: bytes, is_response: bool) -> Head | None:
    lines = raw.split(b"\r\n")
    start = lines[0]
    status = None
    if is_response:
        match = _STATUS_LINE.fullmatch(start)
        if not match:
            return None
        status = int(match[1])
    elif not _REQUEST_LINE.fullmatch(start):
        return None
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            return None
        headers.setdefault(name.strip().decode("latin-1").lower(), []).append(
            value.strip().decode("latin-1")
        )
    return Head(start, headers, status)


@dataclass
class HttpScanner:
    """Splits one direction of an HTTP/1.1 connection into head and body segments."""

    is_response: bool
    _state: _State = _State.HEAD
    _buf: bytearray = field(default_factory=bytearray)  # head or chunk line so far
    _remaining: int = 0  # body or chunk bytes (chunk: including its CRLF) still to come

    def feed(self, data: bytes) -> list[Segment]:
        """Consume `data`; return it cut into segments at every head and message boundary."""
        segments: list[Segment] = []
        pos = 0
        while pos < len(data):
            if self._state in (_State.OPAQUE, _State.TUNNEL):
                part = Part.TUNNEL if self._state is _State.TUNNEL else Part.OPAQUE
                segments.append(Segment(data[pos:], part))
                break
            if self._state is _State.HEAD:
                end, head, ended = self._scan_head(data, pos)
                opaque = self._state is _State.OPAQUE and head is None
                segments.append(Segment(data[pos:end], Part.OPAQUE if opaque else Part.HEAD,
                                        head, ended))
                pos = end
                continue
            start, ended = pos, False
            while pos < len(data) and not ended and self._state in _BODY_STATES:
                pos, ended = self._scan_body(data, pos)
            segments.append(Segment(data[start:pos], Part.BODY, ends_message=ended))
        return segments

    def _scan_head(self, data: bytes, pos: int) -> tuple[int, Head | None, bool]:
        """Advance through a head; return (end, head if completed here, message ended)."""
        if not self._buf:
            while pos < len(data) and data[pos] in b"\r\n" and not self.is_response:
                pos += 1  # empty lines before a request are allowed
        old = len(self._buf)
        self._buf += data[pos:]
        first = self._buf[:1]
        looks_http = first == b"H" if self.is_response else first.isupper()
        if first and not looks_http:
            return self._go_opaque(len(data))
        idx = self._buf.find(b"\r\n\r\n", max(0, old - 3))
        if idx < 0:
            if len(self._buf) > _MAX_HEAD:
                return self._go_opaque(len(data))
            return len(data), None, False
        end = pos + idx + 4 - old
        head = _parse_head(bytes(self._buf[:idx]), self.is_response)
        del self._buf[:]
        if head is None:
            self._state = _State.OPAQUE
            return end, None, False
        return end, head, self._after_head(head)

    def _go_opaque(self, end: int) -> tuple[int, None, bool]:
        self._state = _State.OPAQUE
        del self._buf[:]
        return end, None, False

    def _after_head(self, head: Head) -> bool:
        """Pick the body framing for `head`; True if the message ends with its head."""
        status = head.status
        if status == 101 or (status is None and head.headers.get("upgrade")):
            self._state = _State.TUNNEL
            return True
        if status is not None and (100 <= status < 200 or status in (204, 304)):
            return True
        if "chunked" in head.values("transfer-encoding"):
            self._state = _State.CHUNK_SIZE
            return False
        lengths = head.values("content-length")
        if lengths and lengths[0].isdigit():
            self._remaining = int(lengths[0])
            if self._remaining:
                self._state = _State.LENGTH
            return not self._remaining
        if status is not None:
            self._state = _State.UNTIL_CLOSE
        return status is None

    def _scan_body(self, data: bytes, pos: int) -> tuple[int, bool]:
        """Advance through body framing; return (new pos, message ended)."""
        state = self._state
        if state is _State.UNTIL_CLOSE:
            return len(data), False
        if state in (_State.LENGTH, _State.CHUNK_DATA):
            take = min(self._remaining, len(data) - pos)
            self._remaining -= take
            if self._remaining:
                return pos + take, False
            self._state = _State.HEAD if state is _State.LENGTH else _State.CHUNK_SIZE
            return pos + take, state is _State.LENGTH
        nl = data.find(b"\n", pos)
        if nl < 0:
            self._buf += data[pos:]
            if len(self._buf) > _MAX_LINE:
                self._go_opaque(len(data))
            return len(data), False
        line = bytes(self._buf + data[pos:nl]).rstrip(b"\r")
        del self._buf[:]
        if state is _State.TRAILER:
            if not line:
                self._state = _State.HEAD
                return nl + 1, True
            return nl + 1, False
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            self._go_opaque(len(data))
            return nl + 1, False
        if size:
            self._state, self._remaining = _State.CHUNK_DATA, size + 2
        else:
            self._state = _State.TRAILER
        return nl + 1, False


_FORWARDED_LINE = re.compile(rb"\r\nX-Forwarded-For:[^\r\n]*", re.IGNORECASE)


def forwarded(head: bytes | bytearray, address: str) -> bytes:
    """A complete request `head` naming `address` in ``X-Forwarded-For``, as the first proxy
    does: whatever the client claimed there is dropped, so the header cannot be spoofed."""
    head = _FORWARDED_LINE.sub(b"", bytes(head))
    return head[:-2] + b"X-Forwarded-For: " + address.encode("ascii") + b"\r\n\r\n"


@dataclass
class UpgradeGate:
    """Client→server filter that refuses WebSocket upgrades (``no_upgrade`` mode)."""

    _scanner: HttpScanner = field(default_factory=lambda: HttpScanner(is_response=False))
    _held: bytearray = field(default_factory=bytearray)
    refused: bool = False
    enabled: bool = True  # False: scan only (the relay's conditions may turn it on later)
    tunnelled: bool = False  # an upgrade went through: the connection is a tunnel now
    forwarded_for: str | None = None  # the client's address, to name in each request head

    def feed(self, data: bytes) -> bytes:
        """Return the bytes that may be forwarded now; sets `refused` on an upgrade.

        Once refused, every later byte is swallowed: the relay closes the connection.
        """
        out = bytearray()
        for segment in self._scanner.feed(data) if not self.refused else []:
            if segment.part is not Part.HEAD:
                out += self._held + segment.data
                del self._held[:]
                continue
            self._held += segment.data
            if segment.head is None:
                continue
            if segment.head.is_websocket_upgrade and not self.enabled:
                self.tunnelled = True
            elif segment.head.is_websocket_upgrade:
                self.refused = True
                del self._held[:]
                break
            out += self._held if self.forwarded_for is None else forwarded(self._held,
                                                                            self.forwarded_for)
            del self._held[:]
        return bytes(out)

    def finish(self) -> bytes:
        """The client ended: release a partial head still held, unless refused."""
        out = b"" if self.refused else bytes(self._held)
        del self._held[:]
        return out


@dataclass
class ResponseBuffer:
    """Server→client filter that holds bytes until `limit` or a response's end.

    A `limit` of None holds nothing (the scanner still follows the responses, so a
    limit set later applies from the next byte on).
    """

    limit: int | None
    _scanner: HttpScanner = field(default_factory=lambda: HttpScanner(is_response=True))
    _held: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> bytes:
        """Hold `data`; return whatever must be released now (possibly nothing)."""
        out = bytearray()
        for segment in self._scanner.feed(data):
            self._held += segment.data
            if segment.ends_message or segment.part is Part.TUNNEL:
                out += self._held
                del self._held[:]
        if self.limit is None or len(self._held) >= self.limit:
            out += self._held
            del self._held[:]
        return bytes(out)

    @property
    def held(self) -> int:
        """Bytes held back right now."""
        return len(self._held)

    def finish(self) -> bytes:
        """The upstream side ended: release everything still held."""
        out = bytes(self._held)
        del self._held[:]
        return out
