"""HTTP/2 for the clients, with no sockets: GET requests and their responses as h11-style events.

Follows RFC 9113, "HTTP/2", through the ``h2`` library (sans-I/O: bytes in, events out, bytes
to send), as far as a GET-only client with one request in flight needs it:

- a connection starts with the client's preface (24 octets) and a SETTINGS frame (§3.4);
- every frame has a 9-octet header: length (24 bits), type, flags, a reserved bit and the
  stream identifier (31 bits) (§4.1, shown below); a request is a HEADERS frame on a new
  odd-numbered stream, with ``:method``, ``:scheme``, ``:authority`` and ``:path`` (§8.3.1)
  and END_STREAM set (no body);
- header fields travel HPACK-compressed (RFC 7541): a static table of common fields, and a
  dynamic table both ends fill as they go, so a header repeated on the next request on the
  same connection costs one or two octets; that is HTTP/2's answer to polling's headers;
- the response is a HEADERS frame (``:status``), DATA frames and END_STREAM; the receiver
  gives flow-control credit back with WINDOW_UPDATE frames (§6.9).

    +-----------------------------------------------+
    |                 Length (24)                   |
    +---------------+---------------+---------------+
    |   Type (8)    |   Flags (8)   |
    +-+-------------+---------------+-------------------------------+
    |R|                 Stream Identifier (31)                      |
    +=+=============================================================+
    |                   Frame Payload (0...)                      ...
    +---------------------------------------------------------------+

Byte counting, exactly as ``clients.http11`` does for HTTP/1.1: :class:`FrameCounter` walks the
frames of each direction on its own (not trusting ``h2``'s bookkeeping). Header bytes are the
HPACK header blocks of HEADERS and CONTINUATION frames; DATA payloads are handed on (as
:class:`~clients.http11.Data` events) for the transport's payload parser to split into body and
framing; every other byte (the preface, frame headers, padding, priority fields, SETTINGS,
WINDOW_UPDATE, PING, GOAWAY, RST_STREAM) is framing.

Deliberately not done: server push (refused in the SETTINGS sent), request bodies, more than
one stream at a time, priorities, and WebSocket over HTTP/2 (RFC 8441), which nginx does not
offer: the WebSocket client stays on HTTP/1.1.
"""

from __future__ import annotations

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    ResponseReceived,
    StreamEnded,
    StreamReset,
)
from h2.exceptions import ProtocolError

from .connection import ConnectionDropped
from .errors import RemoteProtocolError
from .http11 import USER_AGENT, Data, EndOfResponse, ResponseEvent, ResponseHead

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
"""The client connection preface (RFC 9113 §3.4)."""

FRAME_HEADER = 9
"""Octets in every frame's header (§4.1)."""

DATA, HEADERS, PRIORITY_FRAME, CONTINUATION = 0x0, 0x1, 0x2, 0x9
PADDED, PRIORITY_FLAG = 0x8, 0x20


class FrameCounter:
    """Classifies one direction's octets frame by frame: header blocks, DATA payload, framing.

    ``header_bytes`` + ``data_bytes`` + ``framing_bytes`` + ``pending`` is every octet fed.
    """

    def __init__(self, preface: bool = False) -> None:
        self._buffer = bytearray()
        self._preface_due = preface
        self.header_bytes = 0
        self.data_bytes = 0
        self.framing_bytes = 0

    @property
    def pending(self) -> int:
        """Octets of a frame not yet complete."""
        return len(self._buffer)

    @property
    def pending_is_header(self) -> bool:
        """Whether the incomplete frame is a HEADERS or CONTINUATION frame."""
        return len(self._buffer) > 3 and self._buffer[3] in (HEADERS, CONTINUATION)

    def feed(self, data: bytes) -> None:
        """Consume octets; classify every frame they complete."""
        self._buffer += data
        if self._preface_due:
            if len(self._buffer) < len(PREFACE):
                return
            self._preface_due = False
            self._take_framing(len(PREFACE))
        while len(self._buffer) >= FRAME_HEADER:
            length = int.from_bytes(self._buffer[:3], "big")
            if len(self._buffer) < FRAME_HEADER + length:
                return
            kind, flags = self._buffer[3], self._buffer[4]
            payload = self._buffer[FRAME_HEADER : FRAME_HEADER + length]
            extra = 0  # padding and priority fields: framing, not content
            if kind in (DATA, HEADERS) and flags & PADDED and payload:
                extra += 1 + payload[0]
            if kind == HEADERS and flags & PRIORITY_FLAG:
                extra += 5
            content = max(length - extra, 0)
            if kind in (HEADERS, CONTINUATION):
                self.header_bytes += content
            elif kind == DATA:
                self.data_bytes += content
            else:
                content = 0
            self._take_framing(FRAME_HEADER + length - content)
            del self._buffer[:content]

    def _take_framing(self, n: int) -> None:
        del self._buffer[:n]
        self.framing_bytes += n


class Http2Session:
    """One client HTTP/2 connection: :meth:`request` out, :meth:`feed` in, one stream at a time.

    Exposes what ``clients.httpbase`` reads of an HTTP/1.1 ``ResponseParser`` (``feed``,
    ``feed_eof``, ``header_bytes``, ``framing_bytes``, ``in_header``, ``pending``), plus
    :meth:`outgoing` for the frames ``h2`` owes the server (SETTINGS and PING
    acknowledgements, WINDOW_UPDATE).
    """

    def __init__(self, scheme: str, authority: str) -> None:
        self._scheme = scheme
        self._authority = authority
        config = H2Configuration(client_side=True, header_encoding="utf-8")
        self._h2 = H2Connection(config)
        self._h2.local_settings.enable_push = 0
        self._h2.initiate_connection()
        self._stream: int | None = None
        self._received = FrameCounter()
        self.going_away = False

    @property
    def header_bytes(self) -> int:
        """HPACK header-block octets received."""
        return self._received.header_bytes

    @property
    def framing_bytes(self) -> int:
        """Frame headers, padding and control frames received."""
        return self._received.framing_bytes

    @property
    def pending(self) -> int:
        """Octets of an incomplete frame."""
        return self._received.pending

    @property
    def in_header(self) -> bool:
        """True while the incomplete frame (if any) carries a header block."""
        return self._received.pending_is_header

    def request(self, target: str, headers: list[tuple[str, str]]) -> tuple[bytes, int]:
        """A GET for ``target`` on a new stream: the octets to send (the preface and SETTINGS
        first on a new connection) and how many of them are the HPACK header block."""
        self._stream = self._h2.get_next_available_stream_id()
        fields = [(":method", "GET"), (":scheme", self._scheme),
                  (":authority", self._authority), (":path", target), ("user-agent", USER_AGENT)]
        fields += [(name.lower(), value) for name, value in headers]
        self._h2.send_headers(self._stream, fields, end_stream=True)
        data = self._h2.data_to_send()
        sent = FrameCounter(preface=data.startswith(PREFACE))
        sent.feed(data)
        return data, sent.header_bytes

    def outgoing(self) -> bytes:
        """Frames owed to the server (acknowledgements, flow-control credit), or ``b""``."""
        return self._h2.data_to_send()

    def goodbye(self) -> bytes:
        """Cancel the open stream, if any, and send GOAWAY: the octets to write."""
        if self._stream is not None:
            self._h2.reset_stream(self._stream)
            self._stream = None
        self._h2.close_connection()
        return self._h2.data_to_send()

    def feed(self, data: bytes) -> list[ResponseEvent]:
        """Consume received octets; return the response events of the current stream."""
        self._received.feed(data)
        try:
            h2_events = self._h2.receive_data(data)
        except ProtocolError as exc:
            raise RemoteProtocolError(f"HTTP/2 protocol error: {exc}") from None
        events: list[ResponseEvent] = []
        for event in h2_events:
            if isinstance(event, DataReceived):
                self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if isinstance(event, ConnectionTerminated):
                self._goodbye_from_server(event, events)
                continue
            if getattr(event, "stream_id", None) != self._stream or self._stream is None:
                continue
            if isinstance(event, ResponseReceived):
                events.append(self._head(event))
            elif isinstance(event, DataReceived):
                events.append(Data(bytes(event.data)))
            elif isinstance(event, StreamEnded):
                self._stream = None
                events.append(EndOfResponse(keep_alive=not self.going_away))
            elif isinstance(event, StreamReset):
                raise ConnectionDropped(f"the server reset the stream ({event.error_code!r})")
        return events

    def _goodbye_from_server(self, event: ConnectionTerminated,
                             events: list[ResponseEvent]) -> None:
        """GOAWAY (§6.8): streams up to ``last_stream_id`` are still answered; the connection
        takes no new ones. nginx sends it after ``keepalive_requests`` (1,000) requests, so a
        poll client moves to a new connection without counting a drop."""
        self.going_away = True
        events[:] = [EndOfResponse(keep_alive=False) if isinstance(e, EndOfResponse) else e
                     for e in events]
        last = event.last_stream_id
        if self._stream is not None and (last is None or self._stream > last):
            raise ConnectionDropped(f"the server sent GOAWAY ({event.error_code!r}) before "
                                    "answering")

    def feed_eof(self) -> list[ResponseEvent]:
        """The peer closed: an HTTP/2 response never ends that way."""
        return []

    def _head(self, event: ResponseReceived) -> ResponseHead:
        headers = {str(name): str(value) for name, value in event.headers or []}
        try:
            status = int(headers.pop(":status"))
        except (KeyError, ValueError):
            raise RemoteProtocolError("HTTP/2 response without a valid :status") from None
        return ResponseHead(status, "", headers, 0)
