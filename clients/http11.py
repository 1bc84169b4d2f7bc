"""HTTP/1.1 for the clients, with no sockets: build GET requests, parse responses byte by byte.

Follows RFC 9112, "HTTP/1.1" (message syntax), as far as a GET-only client needs it:

- a request is a request line, header field lines and a blank line, each ended by CRLF
  (§2.1, §3, §5): :func:`build_request`;
- a response head is a status line (§4), field lines (§5) and a blank line:
  :class:`ResponseHead`;
- the body's length is decided as §6.3 says: none after a 1xx, 204 or 304 status; the
  chunked transfer coding if ``Transfer-Encoding`` names it; else ``Content-Length``; else
  the body runs until the server closes the connection;
- the chunked coding (§7.1): a chunk-size line in hex (chunk extensions after ``;`` are
  ignored), that many bytes of data and a CRLF, again and again, then a last chunk of size
  0, optional trailer fields and a blank line;
- the connection persists after a response unless it says ``Connection: close`` or comes from
  HTTP/1.0 (§9.3).

Written by hand (not aiohttp's client) because the lab must classify every byte exactly:
:class:`ResponseParser` counts the response head (status line, header lines and the blank
line) in ``header_bytes``, the chunked transfer coding (chunk-size lines, the CRLF after each
chunk, the last chunk and trailers) in ``framing_bytes``, and hands the payload on as
:class:`Data` events for a payload parser (NDJSON, SSE, a poll body) to classify further.
Bytes fed but not yet classified are ``pending``. After a ``101 Switching Protocols`` head it
stops and ``take_rest()`` returns the bytes that belong to the new protocol (WebSocket).

Deliberately not done: request bodies, ``Expect: 100-continue``, pipelining, content codings
(the client never sends ``Accept-Encoding``), transfer codings other than chunked, obsolete
line folding in header fields, and TLS.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, auto

from .errors import RemoteProtocolError

MAX_HEAD = 64 * 1024
MAX_CHUNK_LINE = 4096
USER_AGENT = "right-now-lab-client/0.1"


def build_request(target: str, host: str, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """A GET request as it goes on the wire: request line, ``Host``, extra headers, blank line."""
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", f"User-Agent: {USER_AGENT}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """A parsed status line and header block; ``headers`` keys are lower-case."""

    status: int
    reason: str
    headers: dict[str, str]
    size: int


@dataclass(frozen=True, slots=True)
class Data:
    """A piece of the response payload, after the transfer coding was removed."""

    data: bytes


@dataclass(frozen=True, slots=True)
class EndOfResponse:
    """The response body is complete; on a keep-alive connection the next response may follow."""

    keep_alive: bool


ResponseEvent = ResponseHead | Data | EndOfResponse
_PROGRESS = object()


class _State(Enum):
    """Where the parser is: in a head, a sized body, the parts of a chunked body (§7.1), a body
    that ends at close, or past a 101 (no longer HTTP)."""

    HEAD = auto()
    LENGTH = auto()
    CHUNK_SIZE = auto()
    CHUNK_DATA = auto()
    CHUNK_CRLF = auto()
    TRAILERS = auto()
    UNTIL_CLOSE = auto()
    SWITCHED = auto()


class ResponseParser:
    """Incremental parser for a sequence of HTTP/1.1 responses on one connection."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._state = _State.HEAD
        self._remaining = 0
        self._keep_alive = True
        self._end_due = False
        self.header_bytes = 0
        self.framing_bytes = 0
        self.payload_bytes = 0

    @property
    def pending(self) -> int:
        """Bytes fed but not classified yet (a partial head line or chunk-size line)."""
        return len(self._buffer)

    @property
    def in_header(self) -> bool:
        """True while a response head is being read (pending bytes are header bytes)."""
        return self._state is _State.HEAD

    def feed(self, data: bytes) -> list[ResponseEvent]:
        """Consume ``data`` and return the events it completes."""
        self._buffer += data
        events: list[ResponseEvent] = []
        while True:
            if self._end_due:
                self._end_due = False
                events.append(EndOfResponse(self._keep_alive))
                continue
            if not self._buffer or self._state is _State.SWITCHED:
                return events
            step = self._step()
            if step is None:
                return events
            if step is not _PROGRESS:
                events.append(step)

    def feed_eof(self) -> list[ResponseEvent]:
        """The peer closed: completes a read-until-close body, else nothing."""
        if self._state is _State.UNTIL_CLOSE:
            self._state = _State.HEAD
            return [EndOfResponse(keep_alive=False)]
        return []

    def take_rest(self) -> bytes:
        """After a 101 head: the bytes already received that belong to the new protocol."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest

    def _step(self) -> ResponseEvent | object | None:
        """One parsing step: an event, ``_PROGRESS`` (framing consumed), or None (need more)."""
        state = self._state
        if state is _State.HEAD:
            return self._parse_head()
        if state is _State.UNTIL_CLOSE:
            return self._take_payload(len(self._buffer))
        if state is _State.LENGTH or state is _State.CHUNK_DATA:
            return self._take_payload(self._remaining)
        if state is _State.CHUNK_CRLF:
            if len(self._buffer) < 2:
                return None
            if self._buffer[:2] != b"\r\n":
                raise RemoteProtocolError("chunk data not followed by CRLF")
            self._consume_framing(2)
            self._state = _State.CHUNK_SIZE
            return _PROGRESS
        line = self._take_line()
        if line is None:
            return None
        if state is _State.CHUNK_SIZE:
            self._chunk_size(line)
        elif not line:  # the blank line after the last chunk (and any trailers)
            self._state = _State.HEAD
            self._end_due = True
        return _PROGRESS

    def _take_line(self) -> bytes | None:
        index = self._buffer.find(b"\r\n")
        if index < 0:
            if len(self._buffer) > MAX_CHUNK_LINE:
                raise RemoteProtocolError("line too long in chunked body")
            return None
        line = bytes(self._buffer[:index])
        self._consume_framing(index + 2)
        return line

    def _consume_framing(self, n: int) -> None:
        del self._buffer[:n]
        self.framing_bytes += n

    def _chunk_size(self, line: bytes) -> None:
        """A chunk-size line (§7.1): hex size, extensions ignored; 0 starts the trailers."""
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise RemoteProtocolError(f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:
            self._state = _State.TRAILERS
        else:
            self._state = _State.CHUNK_DATA
            self._remaining = size

    def _take_payload(self, limit: int) -> Data:
        n = min(limit, len(self._buffer))
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        self.payload_bytes += n
        if self._state is not _State.UNTIL_CLOSE:
            self._remaining -= n
            if self._remaining == 0:
                self._finish_payload()
        return Data(data)

    def _finish_payload(self) -> None:
        if self._state is _State.CHUNK_DATA:
            self._state = _State.CHUNK_CRLF
        else:
            self._state = _State.HEAD
            self._end_due = True

    def _parse_head(self) -> ResponseEvent | None:
        """The status line and field lines up to the blank line (§4, §5), or None for more."""
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                raise RemoteProtocolError("response head larger than 64 KiB")
            return None
        size = end + 4
        raw = bytes(self._buffer[:end]).decode("latin-1")
        del self._buffer[:size]
        self.header_bytes += size
        status_line, *header_lines = raw.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise RemoteProtocolError(f"bad status line {status_line[:80]!r}")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise RemoteProtocolError(f"bad header line {line[:80]!r}")
            headers[name.lower()] = value.strip()
        status = int(parts[1])
        head = ResponseHead(status, parts[2] if len(parts) > 2 else "", headers, size)
        self._keep_alive = (
            parts[0] != "HTTP/1.0" and "close" not in headers.get("connection", "").lower()
        )
        self._choose_body(head)
        return head

    def _choose_body(self, head: ResponseHead) -> None:
        """How this response's body ends (§6.3), or that the connection left HTTP (101)."""
        if head.status == 101:
            self._state = _State.SWITCHED
        elif head.status < 200 or head.status in (204, 304):
            self._end_due = True
        elif "chunked" in head.headers.get("transfer-encoding", "").lower():
            self._state = _State.CHUNK_SIZE
        elif "content-length" in head.headers:
            try:
                self._remaining = int(head.headers["content-length"])
            except ValueError:
                raise RemoteProtocolError("bad Content-Length") from None
            if self._remaining < 0:
                raise RemoteProtocolError("negative Content-Length")
            self._state = _State.LENGTH
            if self._remaining == 0:
                self._finish_payload()
        else:
            self._state = _State.UNTIL_CLOSE
            self._keep_alive = False
