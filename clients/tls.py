"""TLS on a counted connection, so a client sees both the bytes on the socket and the plaintext.

asyncio's own TLS hands a protocol plaintext only; the lab needs the socket's bytes too, to
say what encryption costs. So :class:`TlsConnection` runs TLS itself, with ``ssl.SSLObject``
and two memory buffers (the "memory BIO" way the ``ssl`` module documents), on top of a
plain :class:`~clients.connection.Connection`: the raw connection counts every byte on the
socket into ``bytes_sent`` / ``bytes_received`` as before, and this layer keeps
``tls_sent_bytes`` / ``tls_received_bytes`` equal to socket bytes minus plaintext at all times.

ALPN picks the HTTP version (``h2`` or ``http/1.1``). Verification is the ``ssl`` module's
default (the system's trust store, the host name checked) unless the client was told to be
``insecure`` (a lab proxy's throw-away certificate; its fingerprint is printed at start).

Deliberately not done: session resumption, and renegotiation.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Protocol

from .connection import ByteTotals, Connection, ConnectionDropped, _CountingProtocol

READ_SIZE = 1 << 16
"""Plaintext bytes asked of the TLS layer per read."""


class TlsTotals(ByteTotals, Protocol):
    """The totals a TLS connection feeds: the socket's, and what TLS added to them."""

    tls_sent_bytes: int
    tls_received_bytes: int


def client_context(alpn: list[str], insecure: bool) -> ssl.SSLContext:
    """A client TLS context offering ``alpn``; ``insecure`` skips certificate verification."""
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(alpn)
    return context


class TlsConnection(Connection):
    """A :class:`Connection` whose ``write``/``read`` carry plaintext through TLS."""

    def __init__(self, transport: asyncio.Transport, protocol: _CountingProtocol,
                 tls: ssl.SSLObject, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO,
                 totals: TlsTotals) -> None:
        super().__init__(transport, protocol)
        self._tls = tls
        self._incoming = incoming
        self._outgoing = outgoing
        self._totals = totals
        self._plain_received = 0

    @classmethod
    async def open_tls(cls, host: str, port: int, totals: TlsTotals, timeout: float,
                       context: ssl.SSLContext) -> TlsConnection:
        """Connect and complete the TLS handshake; OSError, TimeoutError or ConnectionDropped
        on failure (``ssl.SSLError`` is raised as ConnectionDropped with its reason)."""
        raw = await Connection.open(host, port, totals, timeout)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname=host)
        conn = cls(raw._transport, raw._protocol, tls, incoming, outgoing, totals)
        try:
            async with asyncio.timeout(timeout):
                await conn._handshake()
        except BaseException:
            conn.close()
            raise
        return conn

    @property
    def alpn(self) -> str | None:
        """The protocol the server chose by ALPN (``h2``, ``http/1.1``) or None."""
        return self._tls.selected_alpn_protocol()

    @property
    def received(self) -> int:
        """Plaintext bytes received on this connection so far."""
        return self._plain_received

    def write(self, data: bytes) -> None:
        """Encrypt and send ``data``; the plaintext and TLS's additions are counted apart."""
        self._tls.write(data)
        self._totals.tls_sent_bytes -= len(data)
        self._flush()

    async def read(self) -> bytes:
        """The next plaintext received; ConnectionDropped at the end of the TLS session."""
        while True:
            try:
                data = self._tls.read(READ_SIZE)
            except ssl.SSLWantReadError:
                await self._fill()
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                data = b""
            except ssl.SSLError as exc:
                raise ConnectionDropped(f"TLS error: {exc.reason or exc}") from None
            self._flush()  # TLS 1.3 may answer (a key update); nothing else writes here
            if not data:
                raise ConnectionDropped("the server ended the TLS session")
            self._plain_received += len(data)
            self._totals.tls_received_bytes -= len(data)
            return data

    def write_eof(self) -> None:
        """Send TLS's close_notify, then half-close the socket."""
        if self._transport.is_closing():
            return
        try:
            self._tls.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLError):
            pass  # the peer's close_notify is read (or not) by later reads
        self._flush()
        super().write_eof()

    async def _handshake(self) -> None:
        while True:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                await self._fill()
                continue
            except ssl.SSLError as exc:
                raise ConnectionDropped(f"TLS handshake failed: {exc.reason or exc}") from None
            self._flush()
            return

    async def _fill(self) -> None:
        """Read socket bytes into TLS (all of them TLS's until decrypted into plaintext)."""
        data = await super().read()
        self._totals.tls_received_bytes += len(data)
        self._incoming.write(data)

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._totals.tls_sent_bytes += len(data)
            super().write(data)
