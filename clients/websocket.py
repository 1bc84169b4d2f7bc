"""WebSocket client: ``GET /ws?topic=T[&since=N]`` upgraded, one text frame per message.

Twin of ``lab/transports/websocket.py``. Follows RFC 6455, "The WebSocket Protocol", and is
written in the order a connection goes:

1. The opening handshake (§4.1, §4.2.2): an HTTP/1.1 GET (built and parsed by
   ``clients.http11``) with ``Upgrade: websocket``, ``Connection: Upgrade``, a random
   ``Sec-WebSocket-Key`` and ``Sec-WebSocket-Version: 13``. The server must answer
   ``101 Switching Protocols`` with ``Sec-WebSocket-Accept``, the base64 SHA-1 of the key and a
   fixed GUID (§1.3); bytes after that head are already frames.
2. Frames (§5.2, the layout is drawn above :class:`FrameParser`): the server's frames are never
   masked (§5.1); every frame the client sends is, with a fresh 4-byte key (§5.3).
3. Messages and control frames: a message may span a first frame and continuation frames
   (§5.4) and is joined before use; a ping (§5.5.2) is answered at once by a pong with the same
   payload (§5.5.3); a close frame (§5.5.1) is echoed with its status code (§7.4).

A close frame from the server (e.g. 1013 for a slow consumer), a dropped socket, or a ``429``
or ``503`` answer to the handshake means reconnect with backoff (after the answer's
``Retry-After``, if any) and ``?since=<last seq>``. Closing runs the close handshake: send close
1000, then read until the server's close frame and end of file (at most
``base.CLOSE_TIMEOUT``), so the byte totals are final.

With ``compress=True`` (``python -m clients websocket --compress``) the handshake offers
``permessage-deflate`` (RFC 7692, :mod:`clients.deflate`); if the server accepts, a message
whose first frame has RSV1 set is inflated before use, with the connection's one inflater
(context takeover) unless the server said otherwise.

Deliberately not done: other extensions, subprotocols, TLS (``wss://``), pings of its own (the
server pings), sending data frames or fragmented messages (this client only listens), and
checking that text frames are valid UTF-8 (the JSON decoder refuses bad bytes).

Byte counting: the upgrade request is ``request_header_bytes`` and the ``101`` head
``response_header_bytes``; received frame headers and control frames are framing, message
payloads are body, as they crossed the wire (deflated, when compressed). Frames the client sends (pong, close: header, 4-byte masking key, masked
payload) appear only in ``bytes_sent`` (``WireStats.sent_frame_bytes``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
from dataclasses import dataclass
from enum import IntEnum

from lab.contract import PATHS

from .base import HEADER_TIMEOUT, BaseClient
from .connection import ConnectionDropped
from .deflate import Inflater, accept, offer
from .errors import HandshakeRefused, RemoteProtocolError
from .http11 import ResponseHead, ResponseParser, build_request
from .httpbase import BUSY, busy

# -- the opening handshake (RFC 6455 §4) -----------------------------------------------------

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""The fixed GUID the server appends to the key before hashing it (§1.3)."""


def new_key() -> str:
    """A fresh random ``Sec-WebSocket-Key``: 16 random bytes, base64-encoded (§4.1)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_for(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``key`` (§4.2.2)."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def handshake_headers(key: str, compress: bool = False,
                      context_takeover: bool = True) -> list[tuple[str, str]]:
    """The headers (besides Host and User-Agent) of the opening handshake; ``compress``
    offers permessage-deflate (asking for no context takeover without ``context_takeover``)."""
    return [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
        *([("Sec-WebSocket-Extensions", offer(context_takeover))] if compress else []),
    ]


# -- frames (RFC 6455 §5.2) -------------------------------------------------------------------
#
#   0                   1                   2                   3
#   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
#  +-+-+-+-+-------+-+-------------+-------------------------------+
#  |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
#  |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
#  |N|V|V|V|       |S|             |   (if payload len==126/127)   |
#  | |1|2|3|       |K|             |                               |
#  +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
#  |     Extended payload length continued, if payload len == 127  |
#  + - - - - - - - - - - - - - - - +-------------------------------+
#  |                               |Masking-key, if MASK set to 1  |
#  +-------------------------------+-------------------------------+
#  | Masking-key (continued)       |          Payload Data         |
#  +-------------------------------- - - - - - - - - - - - - - - - +
#  :                     Payload Data continued ...                :
#  + - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - +
#  |                     Payload Data continued ...                |
#  +---------------------------------------------------------------+
#
# So a header is 2 bytes, plus 2 or 8 for a payload of 126 bytes or more, plus 4 for the
# masking key of a client frame: 2 to 14 bytes, all of them framing in the byte counts.

MAX_PAYLOAD = 1 << 24
"""The largest frame payload accepted (16 MiB); a larger one is a protocol error."""


class Opcode(IntEnum):
    """Frame opcodes (§5.2); CLOSE and above are control frames (§5.5)."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


@dataclass(frozen=True, slots=True)
class Frame:
    """One received frame; ``header_size`` counts every byte before the payload."""

    fin: bool
    opcode: Opcode
    payload: bytes
    header_size: int
    compressed: bool = False


class FrameParser:
    """Incremental parser for the frames a server sends (unmasked, §5.1), in the layout above.

    RSV1 is allowed once permessage-deflate is negotiated (``deflate``), on a message's first
    frame only (RFC 7692 §6); RSV2 and RSV3 never."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.deflate = False

    def feed(self, data: bytes) -> list[Frame]:
        """Consume ``data``; return every complete frame."""
        self._buffer += data
        frames = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def _next(self) -> Frame | None:
        """Take one whole frame off the buffer, or None until it has all arrived."""
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        first, second = buffer[0], buffer[1]
        rsv1 = bool(first & 0x40)
        if first & 0x30 or rsv1 and not self.deflate:
            raise RemoteProtocolError("reserved bits set: no extension was negotiated")
        if second & 0x80:
            raise RemoteProtocolError("server frames must not be masked")
        try:
            opcode = Opcode(first & 0x0F)
        except ValueError:
            raise RemoteProtocolError(f"unknown opcode {first & 0x0F:#x}") from None
        length = second & 0x7F
        header_size = 2
        if length == 126:
            header_size = 4
            if len(buffer) < header_size:
                return None
            length = struct.unpack_from("!H", buffer, 2)[0]
        elif length == 127:
            header_size = 10
            if len(buffer) < header_size:
                return None
            length = struct.unpack_from("!Q", buffer, 2)[0]
        if length > MAX_PAYLOAD:
            raise RemoteProtocolError(f"frame of {length} bytes is larger than we accept")
        if opcode >= Opcode.CLOSE and (length > 125 or not first & 0x80):
            raise RemoteProtocolError("control frames must be final and at most 125 bytes")
        if rsv1 and opcode not in (Opcode.TEXT, Opcode.BINARY):
            raise RemoteProtocolError("RSV1 is only for a message's first frame")
        end = header_size + length
        if len(buffer) < end:
            return None
        payload = bytes(buffer[header_size:end])
        del buffer[:end]
        return Frame(bool(first & 0x80), opcode, payload, header_size, rsv1)


def build_frame(opcode: Opcode, payload: bytes, mask: bytes | None = None) -> bytes:
    """One final client frame: header, masking key, masked payload (§5.2, §5.3)."""
    mask = os.urandom(4) if mask is None else mask
    length = len(payload)
    first = 0x80 | opcode
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    return header + mask + _apply_mask(payload, mask)


def _apply_mask(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``mask`` repeated (§5.3); applying it twice undoes it."""
    if not payload:
        return b""
    repeated = (mask * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(payload), "big"
    )


def close_payload(code: int, reason: str = "") -> bytes:
    """The payload of a close frame: a 2-byte status code and a UTF-8 reason (§5.5.1)."""
    return struct.pack("!H", code) + reason.encode("utf-8")


def parse_close(payload: bytes) -> tuple[int, str]:
    """Status code and reason of a received close frame (1005 when it carries none, §7.1.5)."""
    if len(payload) < 2:
        return 1005, ""
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8", "replace")


# -- the client ------------------------------------------------------------------------------


class WebSocketClient(BaseClient):
    """Reads text frames; see the module docstring."""

    name = "websocket"

    def __init__(self, *args: object, compress: bool = False, context_takeover: bool = True,
                 **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.compress = compress
        self.context_takeover = context_takeover
        self._reset_connection_state()

    def _reset_connection_state(self) -> None:
        """Fresh parsers and counters for a new connection."""
        self._response_parser = ResponseParser()
        self._frame_parser = FrameParser()
        self._upgraded = False
        self._fragments: list[bytes] = []
        self._compressed = False
        self._inflater: Inflater | None = None
        self._body = 0
        self._framing = 0
        self._close_sent = False
        self._close_received: tuple[int, str] | None = None

    def _classified(self) -> tuple[int, int, int]:
        return self._response_parser.header_bytes, self._body, self._framing

    def _pending_is_header(self) -> bool:
        return not self._upgraded

    async def _open(self) -> None:
        conn = await self._connect()
        self._reset_connection_state()
        key = new_key()
        target = self._target(PATHS["websocket"], since=self._last_seq)
        self._write_request(build_request(target, self._hostport,
                                          handshake_headers(key, self.compress,
                                                            self.context_takeover)))
        async with asyncio.timeout(HEADER_TIMEOUT):
            head = None
            while head is None:
                data = await conn.read()
                self._stamp()
                events = self._response_parser.feed(data)
                head = next((e for e in events if isinstance(e, ResponseHead)), None)
        self._check(head, key)
        self._upgraded = True
        self._opened()
        self._feed_frames(self._response_parser.take_rest())

    def _check(self, head: ResponseHead, key: str) -> None:
        """Accept only ``101`` with the right ``Sec-WebSocket-Accept``; 5xx and 429 are drops
        (429 and 503 after their ``Retry-After``)."""
        if head.status in BUSY:
            raise busy(head)
        if head.status >= 500:
            raise ConnectionDropped(f"HTTP {head.status} {head.reason}")
        if head.status != 101:
            raise HandshakeRefused(
                f"websocket upgrade refused (HTTP {head.status} {head.reason})", head.status
            )
        if head.headers.get("sec-websocket-accept") != accept_for(key):
            raise RemoteProtocolError("websocket handshake: wrong Sec-WebSocket-Accept")
        self._inflater = accept(head.headers.get("sec-websocket-extensions"), self.compress)
        self._frame_parser.deflate = self._inflater is not None

    async def _receive(self) -> None:
        assert self._conn is not None
        data = await self._conn.read()
        self._stamp()
        self._feed_frames(data)
        if self._close_received is not None:
            code, reason = self._close_received
            raise ConnectionDropped(f"server closed the websocket ({code} {reason})".strip())

    def _feed_frames(self, data: bytes) -> None:
        """Parse frames; deliver messages, answer pings and closes, classify every byte."""
        for frame in self._frame_parser.feed(data):
            self._framing += frame.header_size
            if frame.opcode is Opcode.TEXT or frame.opcode is Opcode.BINARY:
                self._fragments = [frame.payload]
                self._compressed = frame.compressed
            elif frame.opcode is Opcode.CONTINUATION:
                self._fragments.append(frame.payload)
            else:
                self._control(frame.opcode, frame.payload)
                continue
            if frame.fin:
                payload = b"".join(self._fragments)
                self._fragments = []
                self._body += len(payload)
                if self._compressed and self._inflater is not None:
                    payload = self._inflater.inflate(payload)
                self._accept_json(payload)

    def _control(self, opcode: Opcode, payload: bytes) -> None:
        """A control frame: pong a ping, echo a close; its payload is framing."""
        self._framing += len(payload)
        if opcode is Opcode.PING and not self._close_sent:
            self._send_frame(Opcode.PONG, payload)
        elif opcode is Opcode.CLOSE:
            self._close_received = parse_close(payload)
            if not self._close_sent:
                self._send_frame(Opcode.CLOSE, payload[:2])

    def _send_frame(self, opcode: Opcode, payload: bytes) -> None:
        """Write one masked client frame (counted in ``bytes_sent`` by the connection)."""
        assert self._conn is not None
        self._conn.write(build_frame(opcode, payload))
        if opcode is Opcode.CLOSE:
            self._close_sent = True

    async def _goodbye(self) -> None:
        """The close handshake: send close 1000, read until the server's close and EOF."""
        if not self._upgraded or self._conn is None:
            return
        if not self._close_sent:
            self._send_frame(Opcode.CLOSE, close_payload(1000))
        while True:  # until the server's close frame, then its end of file
            self._feed_frames(await self._conn.read())
