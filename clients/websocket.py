"""WebSocket client: ``GET /ws?topic=T[&since=N]`` upgraded, one text frame per message.

Twin of ``lab/transports/websocket.py``. The handshake is a hand-written HTTP/1.1 request
(``clients.http11``) checked against ``Sec-WebSocket-Accept``; frames are parsed and built by
``clients.wsproto``. Server pings are answered with a pong at once. A close frame from the
server (e.g. 1013 for a slow consumer) or a dropped socket means reconnect with backoff and
``?since=<last seq>``. Closing runs the close handshake: send close 1000, then read until the
server's close frame and end of file (at most ``base.CLOSE_TIMEOUT``), so the byte totals are final.

Byte counting: the upgrade request is ``request_header_bytes`` and the ``101`` head
``response_header_bytes``; received frame headers and control frames are framing, text
payloads are body. Frames the client sends (pong, close: header, 4-byte masking key, masked
payload) appear only in ``bytes_sent`` (``WireStats.sent_frame_bytes``). Totals come from the
counted socket (``clients.connection``).
"""

from __future__ import annotations

import asyncio

from lab.contract import PATHS

from .base import HEADER_TIMEOUT, BaseClient
from .connection import ConnectionDropped
from .errors import HandshakeRefused, RemoteProtocolError
from .http11 import ResponseHead, ResponseParser, build_request
from .wsproto import (
    FrameParser,
    Opcode,
    accept_for,
    build_frame,
    close_payload,
    handshake_headers,
    new_key,
    parse_close,
)


class WebSocketClient(BaseClient):
    """Reads text frames; see the module docstring."""

    name = "websocket"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._reset_connection_state()

    def _reset_connection_state(self) -> None:
        self._response_parser = ResponseParser()
        self._frame_parser = FrameParser()
        self._upgraded = False
        self._fragments: list[bytes] = []
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
        request = build_request(target, self._hostport, handshake_headers(key))
        conn.write(request)
        self._tally.requests += 1
        self._tally.request_header_bytes += len(request)
        async with asyncio.timeout(HEADER_TIMEOUT):
            head = None
            while head is None:
                data = await conn.read()
                self._stamp()
                head = next((e for e in self._response_parser.feed(data) if isinstance(e, ResponseHead)), None)
        self._check(head, key)
        self._upgraded = True
        self._opened()
        self._feed_frames(self._response_parser.take_rest())

    def _check(self, head: ResponseHead, key: str) -> None:
        if head.status >= 500:
            raise ConnectionDropped(f"HTTP {head.status} {head.reason}")
        if head.status != 101:
            raise HandshakeRefused(
                f"websocket upgrade refused (HTTP {head.status} {head.reason})", head.status
            )
        if head.headers.get("sec-websocket-accept") != accept_for(key):
            raise RemoteProtocolError("websocket handshake: wrong Sec-WebSocket-Accept")

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
            elif frame.opcode is Opcode.CONTINUATION:
                self._fragments.append(frame.payload)
            else:
                self._control(frame.opcode, frame.payload)
                continue
            if frame.fin:
                payload = b"".join(self._fragments)
                self._fragments = []
                self._body += len(payload)
                self._accept_json(payload)

    def _control(self, opcode: Opcode, payload: bytes) -> None:
        self._framing += len(payload)
        if opcode is Opcode.PING and not self._close_sent:
            self._send_frame(Opcode.PONG, payload)
        elif opcode is Opcode.CLOSE:
            self._close_received = parse_close(payload)
            if not self._close_sent:
                self._send_frame(Opcode.CLOSE, payload[:2])

    def _send_frame(self, opcode: Opcode, payload: bytes) -> None:
        assert self._conn is not None
        self._conn.write(build_frame(opcode, payload))
        if opcode is Opcode.CLOSE:
            self._close_sent = True

    async def _goodbye(self) -> None:
        if not self._upgraded or self._conn is None:
            return
        if not self._close_sent:
            self._send_frame(Opcode.CLOSE, close_payload(1000))
        while True:  # until the server's close frame, then its end of file
            self._feed_frames(await self._conn.read())
