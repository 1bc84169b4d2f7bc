"""A TCP connection that counts every byte it writes and reads: the clients' ground truth.

Every client in this package talks to the server through :class:`Connection`, built on a
plain ``asyncio.Protocol`` (no aiohttp client, no ``StreamReader``): ``write`` adds
``len(data)`` to the client's ``bytes_sent`` as the bytes are handed to the socket, and
``data_received`` adds ``len(data)`` to ``bytes_received`` as the kernel delivers them. So the
two totals are exactly what crossed this socket; the only bytes they can miss are those still in
flight when the connection is closed (a response the client walked away from).

Classifying those bytes (headers, body, framing) is the parsers' job, not this module's.
Flow control: reading pauses while more than ``HIGH_WATER`` unread bytes are buffered.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

HIGH_WATER = 1 << 20
"""Unread bytes above which reading pauses (and below half of which it resumes)."""


class ByteTotals(Protocol):
    """Anything with the two running totals a connection feeds (``clients.records.Tally``)."""

    bytes_sent: int
    bytes_received: int


class ConnectionDropped(Exception):
    """The connection ended (reset, closed by the peer, or timed out) before we were done.

    Internal to the package: clients catch it and reconnect, or map it to a ``ClientError``.
    """


class ServerBusy(ConnectionDropped):
    """The server answered ``429`` or ``503``: a drop, retried no sooner than ``retry_after``
    seconds when its ``Retry-After`` said so (None when it did not)."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _CountingProtocol(asyncio.Protocol):
    """Buffers incoming chunks for :class:`Connection` and counts them on arrival."""

    def __init__(self, totals: ByteTotals) -> None:
        self.totals = totals
        self.received = 0
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.eof = False
        self.error: BaseException | None = None
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        """Count ``data`` the moment the kernel delivers it, then queue it for ``next_chunk``."""
        self.totals.bytes_received += len(data)
        self.received += len(data)
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > HIGH_WATER and self.transport is not None and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()

    async def next_chunk(self) -> bytes:
        """The next received chunk, or ``b""`` once the peer closed and everything was read."""
        while not self.chunks and not self.eof:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if not self.chunks:
            return b""
        data = self.chunks.popleft()
        self.buffered -= len(data)
        if self._paused and self.buffered <= HIGH_WATER // 2 and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Connection:
    """One counted TCP connection: ``write`` bytes out, ``read`` chunks in, ``close``.

    Every byte is added to the shared ``totals`` (the client's tally) as it moves; ``received``
    is this connection's own count, which the client splits into byte classes when it closes.
    """

    def __init__(self, transport: asyncio.Transport, protocol: _CountingProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    @classmethod
    async def open(cls, host: str, port: int, totals: ByteTotals, timeout: float) -> Connection:
        """Connect to ``host:port``; raises ``OSError`` or ``TimeoutError`` on failure."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            transport, protocol = await loop.create_connection(
                lambda: _CountingProtocol(totals), host, port
            )
        assert isinstance(transport, asyncio.Transport)
        return cls(transport, protocol)

    @property
    def received(self) -> int:
        """Bytes received on this connection so far."""
        return self._protocol.received

    @property
    def closed(self) -> bool:
        """True once the peer closed or the connection was lost or closed by us."""
        return self._protocol.eof or self._transport.is_closing()

    def write(self, data: bytes) -> None:
        """Send ``data`` (counted now); raises ``ConnectionDropped`` if the socket is gone."""
        if self._transport.is_closing():
            raise ConnectionDropped("connection already closed")
        self._protocol.totals.bytes_sent += len(data)
        self._transport.write(data)

    async def read(self) -> bytes:
        """The next received chunk; raises ``ConnectionDropped`` at end of file or on reset."""
        data = await self._protocol.next_chunk()
        if not data:
            error = self._protocol.error
            raise ConnectionDropped(f"connection closed by peer ({error or 'end of file'})")
        return data

    def write_eof(self) -> None:
        """Half-close: tell the peer we will send nothing more (reading continues)."""
        if not self._transport.is_closing() and self._transport.can_write_eof():
            self._transport.write_eof()

    def close(self) -> None:
        """Close the socket now; bytes not yet received are never counted."""
        self._transport.close()
