"""The swarm's socket layer: non-blocking client sockets whose every read carries the kernel's time.

asyncio's own transports read with ``recv_into`` and so cannot see ancillary
data. Here each connection is a plain non-blocking socket with
``SO_TIMESTAMPNS`` set, read by a loop reader callback with ``recvmsg_into``:
every read comes with the moment the kernel queued its last segment on the
client's socket (``arrival_us``, wall clock like the server's ``t_us``). On
loopback that is the moment the server's ``send()`` handed the bytes over,
whenever the load-generator process gets the CPU to read them — so the
latency measured from it is the server's, not the load generator's scheduling.
The time the process read the bytes is kept beside it.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Protocol

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
"""Linux's value; Python does not export the name."""
_TIMESPEC = struct.Struct("@qq")
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size)


class Reader(Protocol):
    """What a :class:`TimestampedSocket` hands its reads to."""

    def received(self, buffer: memoryview, nbytes: int, arrival_us: int) -> None:
        """``nbytes`` new bytes at the start of ``buffer``, queued by the kernel at
        ``arrival_us``."""

    def connection_lost(self, exc: Exception | None) -> None:
        """The peer closed (``None``) or the socket failed."""


class TimestampedSocket:
    """One connected client socket: writes, closes, and reads stamped with their arrival time.

    It offers the part of ``asyncio.Transport`` the swarm uses (``write``,
    ``close``, ``is_closing``). Every connection of a process reads into one
    shared buffer, which the reader must copy out of before returning.
    """

    def __init__(self, sock: socket.socket, reader: Reader, buffer: memoryview) -> None:
        self.sock = sock
        self.reader = reader
        self.buffer = buffer
        self.pending = b""
        self.closed = False
        self.loop = asyncio.get_running_loop()
        self.fd = sock.fileno()
        self.watched = True
        self.loop.add_reader(self.fd, self._read)

    def write(self, data: bytes) -> None:
        """Send ``data`` now, or queue it until the socket can take it."""
        if self.closed:
            return
        if self.pending:
            self.pending += data
            return
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._lost(exc)
            return
        if sent < len(data):
            self.pending = data[sent:]
            self.loop.add_writer(self.fd, self._flush)

    def _flush(self) -> None:
        try:
            sent = self.sock.send(self.pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        self.pending = self.pending[sent:]
        if not self.pending:
            self.loop.remove_writer(self.fd)

    def stop_watching(self) -> None:
        """Stop reading as data arrives: from now on the owner calls :meth:`read_pending`."""
        if not self.closed and self.watched:
            self.watched = False
            self.loop.remove_reader(self.fd)

    def watch_once(self) -> None:
        """Watch an unwatched socket until data next arrives: read it then, and stop watching.

        The swarm uses it for a timed connection with no message since its previous
        scheduled read, so that a late message gets a read, and an arrival time, of its own
        instead of sharing the next message's.
        """
        if not self.closed and not self.watched:
            self.watched = True
            self.loop.add_reader(self.fd, self._read_once)

    def _read_once(self) -> None:
        self.stop_watching()
        self.read_pending()

    def read_pending(self) -> None:
        """Read whatever the kernel holds for this socket now (for an unwatched socket)."""
        while not self.closed and self._read():
            pass

    def _read(self) -> bool:
        """One read; True if it filled the buffer (more may be waiting)."""
        try:
            nbytes, ancillary, _flags, _addr = self.sock.recvmsg_into((self.buffer,), _ANCILLARY)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            self._lost(exc)
            return False
        if nbytes == 0:
            self._lost(None)
            return False
        arrival_us = 0
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = _TIMESPEC.unpack_from(data)
                arrival_us = seconds * 1_000_000 + nanoseconds // 1_000
        self.reader.received(self.buffer, nbytes, arrival_us)
        return nbytes == len(self.buffer)

    def _lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.close()
            self.reader.connection_lost(exc)

    def close(self) -> None:
        """Stop reading and close the socket (the reader is not told: it asked)."""
        if self.closed:
            return
        self.closed = True
        if self.watched:
            self.loop.remove_reader(self.fd)
        if self.pending:
            self.loop.remove_writer(self.fd)
        self.sock.close()

    def is_closing(self) -> bool:
        """Whether :meth:`close` ran."""
        return self.closed


async def connect(address: tuple[str, int], source: str) -> socket.socket:
    """A connected non-blocking TCP socket from ``source`` with receive timestamps on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((source, 0))
        await asyncio.get_running_loop().sock_connect(sock, address)
    except BaseException:
        sock.close()
        raise
    return sock
