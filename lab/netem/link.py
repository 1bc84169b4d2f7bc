"""When each byte arrives: the delay, jitter and bandwidth arithmetic, with no I/O.

A `LinkSchedule` models one direction of one connection as a bottleneck link
followed by a propagation delay:

* bandwidth: bytes are serialised at `rate` bytes/s, one after another, so a
  chunk read at time t starts transmitting at max(t, end of the previous
  transmission); a chunk is cut into slices of about `QUANTUM_S` of link time
  so a large chunk trickles out instead of arriving in one late burst;
* delay: every slice then arrives `delay` seconds after its transmission ends;
* jitter: one extra delay per chunk, uniform in [0, jitter], drawn from a
  seeded generator; a chunk never overtakes the one before it (its arrival is
  raised to the previous arrival if needed), so order is always preserved.

Delays are not serialised: a steady stream of chunks each arrives `delay`
later than it was read, not `delay` × n.

Deliberately not modelled: loss and retransmission, reordering, TCP's own
congestion control (the relay's sockets on loopback have none worth naming).
"""

from __future__ import annotations

import random

__all__ = ["BOTTLENECK_BYTES", "QUANTUM_S", "LinkSchedule"]

QUANTUM_S = 0.005
"""Link time per slice when a bandwidth cap applies."""

BOTTLENECK_BYTES = 64 * 1024
"""Queue in front of a capped link: past it, the relay stops reading the sender."""

_MIN_SLICE = 256


class LinkSchedule:
    """Arrival times for the bytes of one direction of one connection."""

    def __init__(
        self, delay_s: float, jitter_s: float, rate: float | None, rng: random.Random
    ) -> None:
        self.delay_s = delay_s
        self.jitter_s = jitter_s
        self.rate = rate
        self._rng = rng
        self._link_free = 0.0  # when the bottleneck finishes what it already holds
        self._last_due = 0.0

    def schedule(self, size: int, now: float) -> list[tuple[float, int]]:
        """Cut a chunk of `size` bytes read at `now` into (arrival time, length) slices."""
        extra = self._rng.uniform(0.0, self.jitter_s) if self.jitter_s else 0.0
        if self.rate is None:
            return [(self._arrive(now + self.delay_s + extra), size)]
        piece = max(_MIN_SLICE, int(self.rate * QUANTUM_S))
        slices = []
        for offset in range(0, size, piece):
            length = min(piece, size - offset)
            self._link_free = max(now, self._link_free) + length / self.rate
            slices.append((self._arrive(self._link_free + self.delay_s + extra), length))
        return slices

    def end(self, now: float) -> float:
        """Arrival time of an end of stream sent at `now` (after every byte before it)."""
        return self._arrive(max(now, self._link_free) + self.delay_s)

    def pause_s(self, now: float) -> float:
        """How long the sender must wait before more bytes fit in the bottleneck queue."""
        if self.rate is None:
            return 0.0
        return self._link_free - now - BOTTLENECK_BYTES / self.rate

    def _arrive(self, due: float) -> float:
        self._last_due = max(due, self._last_due)
        return self._last_due
