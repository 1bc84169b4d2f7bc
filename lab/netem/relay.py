"""The relay itself: accept clients, connect each to the upstream, shuttle bytes.

Each accepted connection gets one upstream connection and two pipes
(client→server "upstream", server→client "downstream"). A pipe's reader
stamps every chunk with its arrival time (see `link`) and queues it; its
writer sleeps until that time and writes. An end of stream travels the same
way and becomes a half-close (``write_eof``) on the other side; when both
directions have ended the connection is closed. An error on any side aborts
both sides at once.

Policies, exactly:

* counting: ``bytes_upstream`` counts bytes read from clients and
  ``bytes_downstream`` bytes written to clients, i.e. what crossed the client's
  own socket. At an abort, bytes still in the relay's user-space buffer are
  subtracted; bytes already in the kernel's send buffer cannot be, so a cut
  can over-count downstream by at most what was in flight.
* memory: a direction stops reading its sender while more than
  `MAX_QUEUED_BYTES` wait in its queue (or, with a bandwidth cap, while the
  bottleneck queue is full), so a sender feels backpressure as on a real link.
* cuts: every ``cut_every_s`` seconds every open connection is aborted with a
  TCP reset (SO_LINGER 0) on both sides, bytes in flight are dropped, and
  ``cuts`` grows by the number of connections aborted.
* no_upgrade: a request carrying ``Upgrade: websocket`` is not forwarded at
  all; the relay sends its own 403 (after the downstream delay), half-closes
  the server side after what it had already forwarded, and closes.
* upstream down: if the relay cannot connect to the server, it resets the
  client's connection (there is no HTTP 502: the relay speaks bytes).
* buffer_bytes: see `http.ResponseBuffer`; buffered bytes then take the
  downstream delay like any other.

Deliberately not done: TLS, more than one upstream, delaying a reset (errors
propagate at once), UDP.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from lab.netem.config import NetemConfig, is_loopback
from lab.netem.http import REFUSAL, ResponseBuffer, UpgradeGate
from lab.netem.link import LinkSchedule

__all__ = ["MAX_QUEUED_BYTES", "ConnectionStats", "Relay"]

MAX_QUEUED_BYTES = 4 * 1024 * 1024
_READ_SIZE = 64 * 1024
_ERRORS = (ConnectionError, OSError)


@dataclass(frozen=True, slots=True)
class ConnectionStats:
    """Counters of one relayed connection.

    upstream / downstream: bytes read from / written to the client (client side).
    to_server / from_server: bytes written to / read from the upstream server.
    held: bytes the buffering proxy holds back right now.
    cut: aborted by ``cut_every_s``; refused_upgrade: answered 403 by the relay.
    """

    upstream: int
    downstream: int
    to_server: int
    from_server: int
    held: int
    cut: bool
    refused_upgrade: bool
    open: bool


class _Pipe:
    """One direction of one connection: a queue of (arrival time, bytes | None for EOF)."""

    def __init__(self, link: LinkSchedule, capture_limit: int) -> None:
        self.link = link
        self.queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue()
        self.queued = 0
        self.space = asyncio.Event()
        self.read = 0
        self.written = 0
        self.capture = bytearray()
        self._capture_limit = capture_limit

    def send(self, data: bytes) -> None:
        """Queue `data` to arrive when the link says."""
        now = asyncio.get_running_loop().time()
        offset = 0
        for due, length in self.link.schedule(len(data), now):
            self.queue.put_nowait((due, data[offset : offset + length]))
            offset += length
        self.queued += len(data)

    def send_eof(self) -> None:
        """Queue the end of this direction, after every byte already queued."""
        self.queue.put_nowait((self.link.end(asyncio.get_running_loop().time()), None))

    def keep(self, data: bytes) -> None:
        """Add `data` to the capture while it has room."""
        room = self._capture_limit - len(self.capture)
        if room > 0:
            self.capture += data[:room]

    async def backpressure(self) -> None:
        """Wait while the queue or the bottleneck is full."""
        while self.queued > MAX_QUEUED_BYTES:
            self.space.clear()
            await self.space.wait()
        pause = self.link.pause_s(asyncio.get_running_loop().time())
        if pause > 0:
            await asyncio.sleep(pause)

    async def drain_to(self, writer: asyncio.StreamWriter, keep: bool) -> None:
        """Write queued items on time, until the end of stream."""
        loop = asyncio.get_running_loop()
        while True:
            due, data = await self.queue.get()
            while (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            if data is None:
                if writer.can_write_eof() and not writer.is_closing():
                    writer.write_eof()
                return
            writer.write(data)
            self.written += len(data)
            if keep:
                self.keep(data)
            self.queued -= len(data)
            if self.queued <= MAX_QUEUED_BYTES:
                self.space.set()
            await writer.drain()


class _Connection:
    """One client connection and its upstream connection."""

    def __init__(
        self,
        relay: Relay,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        config = relay.config
        self._relay = relay
        self._client = (reader, writer)
        self._server: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.up = _Pipe(
            LinkSchedule(config.delay_s, config.jitter_s, config.bandwidth_bps, relay.rng),
            config.capture_bytes,
        )
        self.down = _Pipe(
            LinkSchedule(config.delay_s, config.jitter_s, config.bandwidth_bps, relay.rng),
            config.capture_bytes,
        )
        self._gate, self._buffer = relay.filters(config)
        self._tasks: list[asyncio.Task[None]] = []
        self._down_reader: asyncio.Task[None] | None = None
        self.cut = False
        self.refused = False
        self.open = True
        self.task = asyncio.create_task(self._run())

    def stats(self) -> ConnectionStats:
        """A snapshot of this connection's counters."""
        return ConnectionStats(
            self.up.read, self.down.written, self.up.written, self.down.read,
            self._buffer.held if self._buffer is not None else 0, self.cut, self.refused, self.open,
        )

    def abort(self, cut: bool) -> None:
        """Reset both sides now, dropping bytes in flight."""
        if not self.open:
            return
        self.open = False
        self.cut = cut
        client = self._client[1].transport
        self.down.written -= client.get_write_buffer_size()
        for transport in [client] + ([self._server[1].transport] if self._server else []):
            sock = transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass  # already closed by the peer: nothing left to reset
            transport.abort()
        for task in self._tasks:
            task.cancel()

    async def _run(self) -> None:
        connect = asyncio.create_task(asyncio.open_connection(*self._relay.upstream))
        self._tasks.append(connect)  # type: ignore[arg-type]  # cancelled like the rest
        try:
            await asyncio.wait([connect])
            if connect.cancelled() or connect.exception() is not None:
                self.abort(cut=self.cut)
                return
            self._server = connect.result()
            if not self.open:  # cut while connecting
                self._server[1].transport.abort()
                return
            client_reader, client_writer = self._client
            server_reader, server_writer = self._server
            self._down_reader = asyncio.create_task(
                self._pump(server_reader, self.down, self._buffer, keep=False)
            )
            self._tasks += [
                asyncio.create_task(self._pump(client_reader, self.up, self._gate, keep=True)),
                asyncio.create_task(self.up.drain_to(server_writer, keep=False)),
                self._down_reader,
                asyncio.create_task(self.down.drain_to(client_writer, keep=True)),
            ]
            done, _ = await asyncio.wait(self._tasks[1:], return_when=asyncio.FIRST_EXCEPTION)
            if any(not t.cancelled() and t.exception() is not None for t in done):
                self.abort(cut=False)
                await asyncio.wait(self._tasks[1:])
        finally:
            await self._close()
            self._relay._finished(self)

    async def _close(self) -> None:
        self.open = False
        writers = [self._client[1]] + ([self._server[1]] if self._server else [])
        for writer in writers:
            writer.close()
        for writer in writers:
            try:
                await writer.wait_closed()
            except _ERRORS:
                pass  # a reset peer: the socket is closed all the same

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        pipe: _Pipe,
        proxy: UpgradeGate | ResponseBuffer | None,
        keep: bool,
    ) -> None:
        """Read one side until EOF, through the proxy filter if any, into `pipe`."""
        while data := await reader.read(_READ_SIZE):
            pipe.read += len(data)
            if keep:
                pipe.keep(data)
            out = proxy.feed(data) if proxy is not None else data
            if out:
                pipe.send(out)
            if isinstance(proxy, UpgradeGate) and proxy.refused:
                self._refuse()
                return
            await pipe.backpressure()
        if proxy is not None and (tail := proxy.finish()):
            pipe.send(tail)
        pipe.send_eof()

    def _refuse(self) -> None:
        """End the server side after what was forwarded; answer the client with a 403."""
        self.refused = True
        self.up.send_eof()
        if self._down_reader is None or self._down_reader.done():
            return  # the server had already closed: the client is getting its EOF
        self._down_reader.cancel()
        if self._buffer is not None and (tail := self._buffer.finish()):
            self.down.send(tail)
        self.down.send(REFUSAL)
        self.down.send_eof()


class Relay:
    """A TCP relay that puts `config`'s network conditions between clients and `upstream`.

    Use as ``async with Relay(upstream=(host, port), config=...) as relay``; it listens
    on ``host:port`` (127.0.0.1 and a free port by default). A non-loopback `host` is
    refused unless `allow_remote` is true.
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        config: NetemConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_remote: bool = False,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise ValueError(f"refusing to listen on non-loopback {host!r} (use allow_remote)")
        self.upstream = upstream
        self.config = config or NetemConfig()
        self.host = host
        self.port = port
        self.rng = random.Random(self.config.seed)
        self.connections = 0
        self.cuts = 0
        self._all: list[_Connection] = []
        self._active: set[_Connection] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._server: asyncio.Server | None = None
        self._cutter: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the listening socket."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def bytes_upstream(self) -> int:
        """Bytes read from clients, over all connections."""
        return sum(c.up.read for c in self._all)

    @property
    def bytes_downstream(self) -> int:
        """Bytes written to clients, over all connections."""
        return sum(c.down.written for c in self._all)

    @property
    def captures(self) -> list[tuple[bytes, bytes]]:
        """First ``capture_bytes`` of (client→server, server→client) per connection."""
        if not self.config.capture_bytes:
            return []
        return [(bytes(c.up.capture), bytes(c.down.capture)) for c in self._all]

    @property
    def per_connection(self) -> list[ConnectionStats]:
        """Counters of every connection accepted so far, in order of acceptance."""
        return [c.stats() for c in self._all]

    def filters(self, config: NetemConfig) -> tuple[UpgradeGate | None, ResponseBuffer | None]:
        """A new connection's HTTP filters: the gate and the buffer `config` asks for."""
        return (UpgradeGate() if config.no_upgrade else None,
                ResponseBuffer(config.buffer_bytes) if config.buffer_bytes else None)

    def cut_all(self) -> None:
        """Reset every open connection now; `cuts` grows by their number."""
        for conn in list(self._active):
            if conn.open:
                self.cuts += 1
                conn.abort(cut=True)

    async def start(self) -> None:
        """Start listening (raises OSError if the port is taken)."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        if self.config.cut_every_s:
            self._cutter = asyncio.create_task(self._cut_loop(self.config.cut_every_s))

    async def close(self) -> None:
        """Stop listening and abort every open connection."""
        if self._cutter is not None:
            self._cutter.cancel()
        if self._server is not None:
            self._server.close()
        for conn in list(self._active):
            conn.abort(cut=False)
        await self.wait_idle()
        if self._server is not None:
            await self._server.wait_closed()

    async def wait_idle(self) -> None:
        """Return once no connection is open (every byte forwarded or dropped by a cut).

        A client's idle keep-alive connection counts as open: close the client first.
        """
        await self._idle.wait()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._idle.clear()
        conn = _Connection(self, reader, writer)
        self._all.append(conn)
        self._active.add(conn)

    def _finished(self, conn: _Connection) -> None:
        self._active.discard(conn)
        if not self._active:
            self._idle.set()

    async def _cut_loop(self, period: float) -> None:
        loop = asyncio.get_running_loop()
        next_cut = loop.time() + period
        while True:
            await asyncio.sleep(max(0.0, next_cut - loop.time()))
            next_cut += period
            self.cut_all()
