"""The records every client produces: one :class:`Received` per message and :class:`WireStats`.

How bytes are classified (the same for every transport, byte-exact as on the socket):

- ``request_header_bytes``: every byte of each request the client wrote: request line, header
  lines, blank line (GET requests carry no body). For WebSocket: the opening handshake request.
- ``response_header_bytes``: status line, header lines and blank line of each response,
  including the ``101 Switching Protocols`` head of a WebSocket handshake.
- ``body_bytes``: the JSON text of each message (or resume notice) as the server wrote it.
- ``tls_sent_bytes`` / ``tls_received_bytes``: over TLS, what encryption adds in each direction
  (the handshake, record headers and authentication tags): bytes on the socket minus the
  plaintext. Zero without TLS.
- ``framing_bytes``: every other received plaintext byte: chunk-size lines and CRLFs; NDJSON newlines and
  heartbeat lines; SSE field names, ``id:`` lines, line ends, blank lines and comments; a poll
  body's envelope; WebSocket frame headers and control frames (ping, pong, close); HTTP/2 frame
  headers, padding and control frames (SETTINGS, WINDOW_UPDATE, PING, GOAWAY); and the bytes
  of a message cut off by a dropped connection (they crossed the wire but never became a message).

Over HTTP/2 the header bytes are the HPACK-encoded header blocks (of HEADERS and CONTINUATION
frames), not a text head: what HPACK's static and dynamic tables save shows there.

So ``response_header_bytes + body_bytes + framing_bytes + tls_received_bytes ==
bytes_received`` and, since a client writes nothing but requests and frames (WebSocket frames;
HTTP/2's connection preface, frame headers and control frames),
``bytes_sent == request_header_bytes + sent_frame_bytes + tls_sent_bytes``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Received:
    """One message as the client got it: ``recv_us`` is stamped when its last byte was parsed.

    ``snapshot`` marks the latest-price-per-symbol a poll client fetches when it has no resume
    point yet: those messages are old by design, so their latency says nothing about the
    transport and latency statistics should leave them out.
    """

    seq: int
    t_us: int
    recv_us: int
    message: dict[str, Any]
    snapshot: bool = False

    @property
    def latency_us(self) -> int:
        """Publish-to-receive time on the shared wall clock, in microseconds."""
        return self.recv_us - self.t_us


@dataclass(frozen=True, slots=True)
class WireStats:
    """A client's counters since it was opened (see the module docstring for the byte classes).

    requests: HTTP requests sent (a WebSocket handshake counts as one).
    request_header_bytes / response_header_bytes / body_bytes / framing_bytes: as above.
    bytes_sent / bytes_received: every byte written to / read from the client's sockets.
    messages: distinct messages received (queued for the caller, or read while closing).
    reconnects: connections re-established after a drop.
    gaps: seq numbers never seen (including those a server reported as ``missed``).
    duplicates: messages received again with a seq already delivered (not delivered twice).
    tls_sent_bytes / tls_received_bytes: what TLS added to each direction, as above.
    """

    requests: int = 0
    request_header_bytes: int = 0
    response_header_bytes: int = 0
    body_bytes: int = 0
    framing_bytes: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    messages: int = 0
    reconnects: int = 0
    gaps: int = 0
    duplicates: int = 0
    tls_sent_bytes: int = 0
    tls_received_bytes: int = 0

    @property
    def sent_frame_bytes(self) -> int:
        """Plaintext bytes the client sent besides request headers: WebSocket frames (pong,
        close, masking keys included), or HTTP/2's preface, frame headers and control frames."""
        return self.bytes_sent - self.request_header_bytes - self.tls_sent_bytes

    def to_dict(self) -> dict[str, int]:
        """Exactly the field names above, in order."""
        return asdict(self)


WIRE_KEYS: tuple[str, ...] = tuple(f.name for f in fields(WireStats))
"""The counter names, in order: the keys of :meth:`WireStats.to_dict` and of ``--json``."""


class Tally:
    """The mutable counters behind :class:`WireStats`: one ``int`` attribute per name in
    :data:`WIRE_KEYS`, all starting at 0; owned by one client and fed by its connections.

    The counters are declared once, on :class:`WireStats`; this class takes their names from
    there rather than repeating the list.
    """

    __slots__ = WIRE_KEYS

    def __init__(self) -> None:
        for key in WIRE_KEYS:
            setattr(self, key, 0)

    def freeze(self, header: int = 0, body: int = 0, framing: int = 0) -> WireStats:
        """A snapshot, adding the current connection's not-yet-settled byte classes."""
        counts: dict[str, int] = {key: getattr(self, key) for key in WIRE_KEYS}
        counts["response_header_bytes"] += header
        counts["body_bytes"] += body
        counts["framing_bytes"] += framing
        return WireStats(**counts)
