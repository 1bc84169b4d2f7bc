"""The connections of one swarm process: bringing them up, and when each is read.

A :class:`Swarm` opens up to :data:`MAX_CLIENTS` connections of one transport
(the protocol classes of :mod:`benchmarks.scale.swarm_protocols`), spread over
several loopback source addresses so that no single address runs out of
ephemeral ports, and decides when each is read: a timed connection every
:data:`TIMED_READ_MS`, midway between two publishes (:func:`next_timed_read`);
an untimed one in sweeps, seldom until the window is over (:func:`sweep_due`),
once to catch up before the window is set, and once more before it is counted
incomplete. Why each of these choices was made is said where it applies.

What it does not do: speak the line protocol, time the window or write the
report (:mod:`benchmarks.scale.swarm`), parse bytes or count messages
(:mod:`benchmarks.scale.swarm_protocols`, :mod:`benchmarks.scale.swarm_recorder`).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time
from collections import Counter
from urllib.parse import urlsplit

from benchmarks.scale import swarm_socket
from benchmarks.scale.swarm_protocols import Conn, make_conn
from benchmarks.scale.swarm_recorder import Recorder

MAX_CLIENTS = 19_000
"""Connections per process; the per-process file limit here is 20,000."""
SWEEP_S = 0.25
"""How often untimed connections are read once the timed window is over."""
SWEEP_AFTER_S = 1.0
"""How long after the window sweeps begin: a sweep delays the timed reads, and a timed
message of the window's last ticks read together with a later one keeps only the later
one's arrival time (at 15,000 clients, sweeps begun at the window's end took the p95 of its
last tick to 3.4 s)."""
HOLD_S = 15.0
"""Until :data:`SWEEP_AFTER_S` after the window, untimed connections are read only this
often, and once to catch up before the window is set (:meth:`Swarm.catch_up`): longer than
the scale suite's warm-up and window together, so none of its cases sweeps inside the
window. Their bytes wait in the kernel meanwhile (at 10 messages/s, about 25 KB per
connection after 15 s, well inside the default 128 KB receive buffer), so through the
warm-up and the window the load generator spends its CPU on the timed connections alone."""
TIMED_READ_MS = 100.0
"""How often a push's timed connections are read from their first message on: the time
between two messages at the scale suite's 10/s, so a read holds one message. They are read
half this period after the latest publish time seen (plus whole periods, see
:func:`next_timed_read`), so that with evenly spaced messages the reads fall between two
fan-outs. They are not watched, because on loopback a ``send()`` to a socket that a
sleeping process watches pays for waking it (on this VM an interrupt to the other core), a
cost no remote client puts on a server, and one only a server with a core to spare beside
it pays: in alternating runs at 5,000 clients, a one-process server's p99 fell by about 8 %
without it (median 40.5 -> 37.4 ms, six runs each), two workers', with both cores busy, did
not (21.1 -> 22.6 ms). Nor are they read at an arbitrary phase: even at idle priority a
runnable swarm is given a whole scheduler tick now and then (4 ms at HZ=250), and one that
woke to read in the middle of a fan-out took it from a worker with no core to spare. A
connection with no new message since the previous read is watched until its late message
arrives (:meth:`Swarm.read_timed_once`): read at the next midway point instead, it would be
read together with the next message and keep only that one's arrival time (2 % of a
baseline's messages, held up by 50–150 ms stalls, were read so here)."""
SWEEP_SLICE = 500
"""Untimed connections read per loop turn of a sweep (timed reads run between slices)."""
CONNECT_CONCURRENCY = 64
"""Default TCP connects in flight at once: below aiohttp's listen backlog of 128, so that
no SYN is dropped (a dropped SYN is retried only after 1, 3, 7… seconds)."""


class Swarm:
    """The connections of one process and their bring-up."""

    def __init__(self, args: argparse.Namespace) -> None:
        url = urlsplit(args.url)
        if url.scheme != "http" or not url.hostname or not url.port:
            raise ValueError(f"--url must look like http://127.0.0.1:PORT, got {args.url!r}")
        if not 1 <= args.clients <= MAX_CLIENTS:
            raise ValueError(f"--clients must be 1..{MAX_CLIENTS}")
        if args.timed_every < 1:
            raise ValueError("--timed-every must be at least 1")
        if args.timed_read_ms < 0:
            raise ValueError("--timed-read-ms must be 0 or more")
        if args.timed_every > 1 and args.transport in ("longpoll", "poll"):
            raise ValueError("--timed-every is for pushed transports: a poller must read "
                             "its answer at once to ask again")
        self.args = args
        self.addr = (url.hostname, url.port)
        self.host = f"{url.hostname}:{url.port}"
        self.sources = [s.strip() for s in args.sources.split(",") if s.strip()]
        self.rec: Recorder[Conn] = Recorder(args.clients, args.max_samples, args.seed)
        self.conns: list[Conn] = []
        self.errors: Counter[str] = Counter()
        self.cpu_window: list[float] = []
        self.wall_window: list[float] = []
        self.ready_at_window = 0
        self.window_late_ms = 0.0
        self.swept: list[swarm_socket.TimestampedSocket] = []
        self.last_sweep_us = time.time_ns() // 1000
        self.read_timed: list[Conn] = []
        self.rec.on_ready = self._sweep_from_now

    def _sweep_from_now(self, conn: Conn) -> None:
        """A connection got its first message: if untimed, stop watching it (sweeps read it);
        if a timed push and ``--timed-read-ms`` is set, stop watching it too (see
        :meth:`read_timed_every`)."""
        if conn.transport is None:
            return
        if not conn.timed:
            conn.transport.stop_watching()
            self.swept.append(conn.transport)
        elif conn.pushed and self.args.timed_read_ms > 0:
            conn.transport.stop_watching()
            self.read_timed.append(conn)

    async def read_timed_every(self) -> None:
        """Read the unwatched timed connections every ``--timed-read-ms`` until the swarm stops
        (see :data:`TIMED_READ_MS` for why they are not watched)."""
        if self.args.timed_read_ms <= 0:
            return
        period_us = round(self.args.timed_read_ms * 1000)
        while True:
            now = time.time_ns() // 1000
            await asyncio.sleep((next_timed_read(now, self.rec.latest_t_us, period_us) - now) / 1e6)
            self.read_timed_once()

    def read_timed_once(self) -> None:
        """One scheduled read of the timed connections. One with no new message since the
        previous scheduled read (by this read or by a watch) is late: its fan-out is slow,
        or its server stalled. It is watched until its next bytes arrive, so that message
        is read, and timed, on its own rather than together with the next one."""
        for conn in self.read_timed:
            sock = conn.transport
            if sock is None:
                continue
            sock.read_pending()
            if conn.last_seq == conn.seq_at_timed_read:
                sock.watch_once()
            else:
                sock.stop_watching()
            conn.seq_at_timed_read = conn.last_seq

    async def connect_all(self) -> None:
        """Open every TCP connection (``--connect-concurrency`` at a time), then send every
        opening request.

        Accepting thousands of connections is then done before any of them
        adds load: a server busy fanning out or answering polls accepts slowly
        (an asyncio loop) or hardly at all (uvloop, measured here).
        """
        gate = asyncio.Semaphore(max(1, self.args.connect_concurrency))
        conns = [make_conn(self.args.transport, self.args.client_offset + i, self.host, self.rec,
                           self.args.interval) for i in range(self.args.clients)]
        for conn in conns:
            conn.timed = conn.idx % self.args.timed_every == 0
        self.conns.extend(conns)
        socks = await asyncio.gather(*(self._connect(conn, i, gate) for i, conn in
                                       enumerate(conns)))
        for conn, sock in zip(conns, socks, strict=True):
            if sock is not None:
                conn.attach(sock)

    async def _connect(self, conn: Conn, i: int, gate: asyncio.Semaphore,
                       ) -> socket.socket | None:
        source = self.sources[i % len(self.sources)]
        async with gate:
            try:
                return await swarm_socket.connect(self.addr, source)
            except OSError as exc:
                conn.fail(type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}")
                return None

    async def sweep_untimed(self) -> None:
        """Read the untimed connections in sweeps (see :func:`sweep_due`) until the swarm stops.

        An untimed connection stops being watched at its first message
        (:meth:`_sweep_from_now`), not once all are ready: its data waits in the
        kernel until the next sweep, so the server's ``send()`` to it wakes nobody
        — on loopback the sender pays for waking the receiver, a cost no remote
        client would put on it — and a slow bring-up of thousands of connections
        does not keep every one of them watched.
        """
        while True:
            await asyncio.sleep(SWEEP_S)
            if sweep_due(time.time_ns() // 1000, self.last_sweep_us, self.rec.end_us):
                self.last_sweep_us = time.time_ns() // 1000
                await read_in_slices(self.swept)

    async def catch_up(self) -> float:
        """Read every untimed connection once, before the window is set; return the seconds it took.

        The bytes that piled up while thousands of connections came up (about
        70 messages each at 15,000 clients) are read now rather than in the
        warm-up: at idle priority beside a busy server such a sweep took
        seconds here, and while a slice of it runs no timed connection is read,
        so a sweep run as the window was announced spilled into the window's
        first second and timed messages were read late. The hold of
        :data:`HOLD_S` counts from the end of this sweep.
        """
        started = time.monotonic()
        await read_in_slices(self.swept)
        self.last_sweep_us = time.time_ns() // 1000
        return time.monotonic() - started

    async def final_sweep(self) -> None:
        """Read once more every untimed connection still without a post-window message.

        Called when the drain time is up. After the window the sweeps read every
        untimed connection in turn, and at idle priority on a busy machine one sweep
        of thousands took 2–4 s here: a connection read early in one sweep, before
        its first post-window message, could wait past the drain for the next. So a
        connection counts as incomplete only if this read, begun the whole drain time
        after the window, finds nothing past it.
        """
        await read_in_slices([c.transport for c in self.conns
                              if not c.finished and not c.timed and c.transport is not None])

    def at_edge(self, t_us: int) -> None:
        """Schedule a CPU/wall reading at wall-clock ``t_us``."""
        delay = max(0.0, (t_us - time.time_ns() // 1000) / 1e6)
        asyncio.get_running_loop().call_later(delay, self._edge)

    def _edge(self) -> None:
        self.cpu_window.append(time.process_time())
        self.wall_window.append(time.monotonic())

    def close_all(self) -> None:
        """Close every connection (they are finished or about to be counted as incomplete)."""
        for conn in self.conns:
            if conn.transport is not None:
                conn.transport.close()


async def read_in_slices(socks: list[swarm_socket.TimestampedSocket]) -> None:
    """Read what each socket holds, :data:`SWEEP_SLICE` per loop turn so timed reads run between
    slices; sockets appended to ``socks`` meanwhile wait for the next call."""
    for start in range(0, len(socks), SWEEP_SLICE):
        for sock in socks[start:start + SWEEP_SLICE]:
            sock.read_pending()
        await asyncio.sleep(0)


def sweep_due(now_us: int, last_us: int, end_us: int) -> bool:
    """Whether the untimed connections are due a sweep at ``now_us`` (checked every
    :data:`SWEEP_S`).

    From :data:`SWEEP_AFTER_S` after the window (ending at ``end_us``, far off
    while unknown), every check sweeps, so each connection soon sees a
    post-window message. Before that, only :data:`HOLD_S` after the last sweep
    (``last_us``): through the warm-up, the window and the reading of its last
    timed messages, the load generator reads its timed connections alone.
    """
    return (now_us >= end_us + SWEEP_AFTER_S * 1_000_000
            or now_us - last_us >= HOLD_S * 1_000_000)


def next_timed_read(now_us: int, latest_t_us: int, period_us: int) -> int:
    """When to read the timed connections next: the first moment after ``now_us`` that lies
    half a period after ``latest_t_us`` plus whole periods (one period from now before any
    message was seen)."""
    if latest_t_us <= 0:
        return now_us + period_us
    periods = (now_us - latest_t_us - period_us // 2) // period_us + 1
    return latest_t_us + period_us // 2 + max(0, periods) * period_us
