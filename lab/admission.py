"""Open connections per client address, capped: the lab's first word to every connection.

A classroom server is shared: one student's script that opens thousands of
connections must not take the room's file descriptors and memory. So every
accepted connection is admitted or refused before anything is read from it,
by its client address:

- a LAN address may hold ``max_connections_per_ip`` connections at once
  (default 64: a browser opens six or so per page, a student's script a few
  dozen);
- this machine's own loopback addresses (``127.0.0.0/8``, ``::1``) may hold
  ``max_loopback_connections`` (default 0, no cap: the benchmarks open
  thousands of connections from loopback, and whoever runs them owns the machine).

A refused connection gets ``503`` with a JSON reason and ``Connection: close``,
its request is read and thrown away (so closing does not reset the connection
before the client reads the answer), and it is closed.

How it counts: :meth:`Admission.admit` keeps, per capped address, the set of
its transports. It never hears of a connection closing; instead, when an
address reaches its cap, the transports of that set that are closing or closed
are dropped and the rest counted again. A set thus never holds more than its
cap, and the price of a connection from an address without a cap — every
benchmark client — is one lookup of its peer name.

Both ways of serving admit here: the textbook entrance (:class:`Gate`, then
aiohttp's protocol) and the engineered one (:mod:`lab.fast.front`'s door).
With ``--workers N`` each worker counts its own connections, so an address may
hold up to N times the cap in all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import orjson

log = logging.getLogger("lab.admission")

REFUSED_LINGER_S = 5.0
"""Seconds a refused connection may take to read its 503 and close before it is aborted."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a peer address as asyncio reports it) is this machine's own."""
    return host.startswith(("127.", "::ffff:127.")) or host == "::1"


def refusal_bytes(reason: str) -> bytes:
    """The whole 503 answer for ``reason``, ready for the socket."""
    body = orjson.dumps({"error": reason})
    return (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n%s"
            % (len(body), body))


class Refused(asyncio.Protocol):
    """A connection that was not admitted: 503, its request ignored, then closed."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Answer at once and stop sending; abort if the client lingers."""
        assert isinstance(transport, asyncio.Transport)
        transport.write(refusal_bytes(self.reason))
        if transport.can_write_eof():
            transport.write_eof()
        self.timer = asyncio.get_running_loop().call_later(REFUSED_LINGER_S, transport.abort)

    def data_received(self, data: bytes) -> None:
        """The request nobody will answer: thrown away."""

    def eof_received(self) -> bool:
        """The client has finished: close."""
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """Nothing left to abort."""
        if self.timer is not None:
            self.timer.cancel()


class Admission:
    """The open connections of each capped client address, and the caps."""

    def __init__(self, per_ip: int, loopback: int) -> None:
        self.per_ip = per_ip
        self.loopback = loopback
        self._open: dict[str, set[asyncio.BaseTransport]] = {}

    @property
    def caps_anything(self) -> bool:
        """Whether any address is capped at all."""
        return bool(self.per_ip or self.loopback)

    def cap(self, host: str) -> int:
        """How many connections ``host`` may hold at once (0: no cap)."""
        return self.loopback if is_loopback(host) else self.per_ip

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        """Count a new connection in; if its address is at its cap, refuse it (503, closed)."""
        peer = transport.get_extra_info("peername")
        if not peer:  # a Unix socket, say: no address to count by
            return True
        host = peer[0]
        cap = self.cap(host)
        if not cap:
            return True
        live = self._open.setdefault(host, set())
        if len(live) >= cap:
            live.difference_update([t for t in live if t.is_closing()])
            if len(live) >= cap:
                self.refuse(transport, f"too many open connections from {host} (at most {cap}); "
                                       "close some and try again")
                return False
        live.add(transport)
        return True

    def open_from(self, host: str) -> int:
        """Connections of ``host`` counted as open (closing ones not yet dropped included)."""
        return len(self._open.get(host, ()))

    @staticmethod
    def refuse(transport: asyncio.BaseTransport, reason: str) -> None:
        """Hand the connection to :class:`Refused`."""
        log.warning("refused a connection: %s", reason)
        refused = Refused(reason)
        transport.set_protocol(refused)
        refused.connection_made(transport)


class Gate(asyncio.Protocol):
    """The textbook entrance: admit the connection, then hand it to aiohttp's protocol."""

    def __init__(self, admission: Admission, server: Callable[[], asyncio.Protocol]) -> None:
        self.admission = admission
        self.server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Admitted: from now on aiohttp serves it, as if it had been accepted by aiohttp."""
        if self.admission.admit(transport):
            handler = self.server()
            transport.set_protocol(handler)
            handler.connection_made(transport)
