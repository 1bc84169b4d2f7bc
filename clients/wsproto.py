"""WebSocket (RFC 6455) for the clients, with no sockets: the opening handshake and frames.

Written by hand so that every byte can be classified: :class:`FrameParser` reports the size of
each frame header (2 to 14 bytes) next to its payload, and :func:`build_frame` produces the
client's masked frames (header + 4-byte masking key + masked payload), whose full size the
client adds to ``bytes_sent``. The handshake request and the ``101`` head are parsed as plain
HTTP by ``clients.http11``.

Deliberately not supported: extensions (no ``permessage-deflate``: we never offer it, so every
payload byte is the server's JSON as written), subprotocols, and sending fragmented messages.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import dataclass
from enum import IntEnum

from .errors import RemoteProtocolError

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_PAYLOAD = 1 << 24


class Opcode(IntEnum):
    """Frame opcodes of RFC 6455 section 5.2."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


def new_key() -> str:
    """A fresh random ``Sec-WebSocket-Key``."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_for(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``key``."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def handshake_headers(key: str) -> list[tuple[str, str]]:
    """The headers (besides Host and User-Agent) of the opening handshake."""
    return [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]


def build_frame(opcode: Opcode, payload: bytes, mask: bytes | None = None) -> bytes:
    """One final client frame: header, masking key, masked payload (RFC 6455 section 5.3)."""
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


def close_payload(code: int, reason: str = "") -> bytes:
    """The payload of a close frame: a 2-byte status code and a UTF-8 reason."""
    return struct.pack("!H", code) + reason.encode("utf-8")


def parse_close(payload: bytes) -> tuple[int, str]:
    """Status code and reason of a received close frame (1005 when it carries none)."""
    if len(payload) < 2:
        return 1005, ""
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8", "replace")


def _apply_mask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return b""
    repeated = (mask * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(payload), "big"
    )


@dataclass(frozen=True, slots=True)
class Frame:
    """One received frame; ``header_size`` counts every byte before the payload."""

    fin: bool
    opcode: Opcode
    payload: bytes
    header_size: int


class FrameParser:
    """Incremental parser for the frames a server sends (unmasked, RFC 6455 section 5.1)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

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
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        first, second = buffer[0], buffer[1]
        if first & 0x70:
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
        end = header_size + length
        if len(buffer) < end:
            return None
        payload = bytes(buffer[header_size:end])
        del buffer[:end]
        return Frame(bool(first & 0x80), opcode, payload, header_size)
