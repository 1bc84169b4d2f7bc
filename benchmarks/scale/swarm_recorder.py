"""What a swarm process counts: exact counts per connection, a latency subsample per process.

One :class:`Recorder` is shared by all the connections of a swarm process; the
protocol classes (:mod:`benchmarks.scale.swarm_protocols`) hand it every message
they find, as its ``seq``, publish time ``t_us`` and receive time. Each
connection's own counts live on the connection, in the fields of
:class:`Counts`, the base of every protocol class. Nothing here parses bytes,
touches a socket or decides when a connection is read.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from typing import Generic, TypeVar

FAR = 2**62
"""A time far in the future: the window's edges before the window is known."""


class Counts:
    """One connection's counting state, as :class:`Recorder` reads and updates it per message."""

    pushed = True
    """Messages arrive one per write (pushes); a poll's answer carries several at once."""

    def __init__(self, idx: int) -> None:
        self.idx = idx
        self.timed = True  # read often, sampled for latency (else read in sweeps)
        self.arrival_us = 0
        self.read_us = 0
        self.last_seq = 0
        self.delivered = 0
        self.gaps = 0
        self.duplicates = 0
        self.ready = False
        self.finished = False


C = TypeVar("C", bound=Counts)


class Recorder(Generic[C]):
    """Everything the swarm measures, shared by all its connections.

    Messages with ``t_us`` inside ``[start_us, end_us)`` count as delivered; a
    connection is finished at its first message published at or after
    ``end_us``. Only timed connections (``Counts.timed``) give latency samples;
    ``timed_delivered`` counts their in-window messages. ``batched`` counts
    pushed messages of timed connections read together with an earlier one:
    the kernel stamps a read with its last segment's arrival, so for all but the
    last message of a read the arrival time is an upper bound (a poll's answer
    carries its messages together, so its time is exact). Latency samples are a
    uniform reservoir (Li's algorithm L) of at most ``max_samples`` in-window
    messages: one comparison per message. ``on_ready`` is called with each
    connection at its first message.
    """

    def __init__(self, clients: int, max_samples: int, seed: int) -> None:
        self.clients = clients
        self.start_us = FAR
        self.end_us = FAR
        self.ready = 0
        self.finished = 0
        self.delivered = 0
        self.timed_delivered = 0
        self.batched = 0
        self.latest_t_us = 0
        self.min_seq: int | None = None
        self.max_seq: int | None = None
        self.all_ready = asyncio.Event()
        self.all_finished = asyncio.Event()
        self.failed = 0
        self.samples: list[tuple[int, int, int, int, int]] = []
        self._max = max_samples
        self._rng = random.Random(seed)
        self._w = 1.0
        self._next = max_samples
        self.poll_times: list[int] = []
        self.on_ready: Callable[[C], None] | None = None

    def open_window(self, start_us: int, end_us: int) -> None:
        """Set the timed window (wall-clock microseconds)."""
        self.start_us, self.end_us = start_us, end_us

    def mark_ready(self) -> None:
        """A connection got its first message."""
        self.ready += 1
        if self.ready + self.failed >= self.clients:
            self.all_ready.set()

    def mark_failed(self) -> None:
        """A connection failed or ended before finishing."""
        self.failed += 1
        if self.ready + self.failed >= self.clients:
            self.all_ready.set()
        if self.finished + self.failed >= self.clients:
            self.all_finished.set()

    def mark_finished(self) -> None:
        """A connection saw a message from after the window."""
        self.finished += 1
        if self.finished + self.failed >= self.clients:
            self.all_finished.set()

    def record(self, conn: C, seq: int, t_us: int, recv_us: int) -> None:
        """One received message of ``conn``: the hot path."""
        last = conn.last_seq
        if seq <= last:
            conn.duplicates += 1
            return
        if last and seq != last + 1:
            conn.gaps += seq - last - 1
        conn.last_seq = seq
        if t_us > self.latest_t_us:  # noqa: PLR1730 - the hot path: no call to max()
            self.latest_t_us = t_us
        if not conn.ready:
            conn.ready = True
            self.mark_ready()
            if self.on_ready is not None:
                self.on_ready(conn)
        if t_us < self.start_us:
            return
        if t_us >= self.end_us:
            if not conn.finished:
                conn.finished = True
                self.mark_finished()
            return
        conn.delivered += 1
        self.delivered += 1
        if not conn.timed:
            return
        self.timed_delivered += 1
        if recv_us == conn.read_us and conn.pushed:
            self.batched += 1
        conn.read_us = recv_us
        if self.min_seq is None or seq < self.min_seq:
            self.min_seq = seq
        if self.max_seq is None or seq > self.max_seq:
            self.max_seq = seq
        n = self.timed_delivered
        if n <= self._max:
            self.samples.append((conn.idx, seq, t_us, recv_us, conn.arrival_us))
            if n == self._max:
                self._skip()
        elif n == self._next:
            self.samples[self._rng.randrange(self._max)] = (conn.idx, seq, t_us, recv_us,
                                                             conn.arrival_us)
            self._skip()

    def record_run(self, conn: C, found: list[tuple[bytes, bytes]], recv_us: int) -> None:
        """Messages of an untimed connection read together (``(seq, t_us)`` digits, in order).

        The usual case takes one check for the whole run: the next seqs in a
        row, all before the window or all inside it. Anything else (a gap, a
        duplicate, a window edge, the first message) goes one by one through
        :meth:`record`, so the counts stay exact.
        """
        seqs = [int(seq) for seq, _ in found]
        first = seqs[0]
        in_a_row = seqs == list(range(first, first + len(seqs)))
        if conn.ready and first == conn.last_seq + 1 and in_a_row:
            times = [int(t_us) for _, t_us in found]
            latest = max(times)
            if latest < self.start_us:
                conn.last_seq = seqs[-1]
                return
            if self.start_us <= min(times) and latest < self.end_us:
                conn.last_seq = seqs[-1]
                conn.delivered += len(seqs)
                self.delivered += len(seqs)
                return
        for seq, (_, t_us) in zip(seqs, found, strict=True):
            self.record(conn, seq, int(t_us), recv_us)

    def _skip(self) -> None:
        rng = self._rng
        self._w *= math.exp(math.log(rng.random() or 1e-300) / self._max)
        self._next += int(math.log(rng.random() or 1e-300) / math.log1p(-self._w)) + 1
