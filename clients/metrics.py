"""Latency and staleness: what a client's messages say about freshness.

Latency is per message (``Received.latency_us``). Staleness is what a trader holding the
newest price experiences between updates: :class:`StalenessSampler` records, on a fixed clock,
the age of the newest message held (now minus its publish time). For short polling that age
saw-tooths up to the interval; for push transports it stays near the publish interval plus the
latency. No I/O here except the optional clock loop :meth:`StalenessSampler.run`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

from lab.contract import now_us

from .records import Received


class StalenessSampler:
    """Samples the age of the newest message held every ``period_s`` seconds."""

    def __init__(self, period_s: float = 0.01) -> None:
        if not period_s > 0:
            raise ValueError("period_s must be positive")
        self.period_s = period_s
        self.samples: list[int] = []
        self._newest: Received | None = None

    def observe(self, received: Received) -> None:
        """Note a received message; only the newest (highest seq) matters."""
        if self._newest is None or received.seq > self._newest.seq:
            self._newest = received

    def sample(self, now: int | None = None) -> int | None:
        """Record and return the age in µs of the newest message held (None if none yet)."""
        if self._newest is None:
            return None
        age = (now_us() if now is None else now) - self._newest.t_us
        self.samples.append(age)
        return age

    async def run(self) -> None:
        """Call :meth:`sample` at ``start + k * period_s`` until cancelled (skipping late ticks)."""
        loop = asyncio.get_running_loop()
        tick = loop.time()
        while True:
            tick += self.period_s
            delay = tick - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                tick = loop.time()
            self.sample()


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation; ValueError if empty."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(name: str, values_us: Sequence[float], quantiles: Sequence[int]) -> dict:
    """``{name_ms_p50: .., name_ms_p99: ..}`` (and ``_max`` if 100 is asked) in ms, or None."""
    out: dict[str, float | None] = {}
    for q in quantiles:
        key = f"{name}_ms_max" if q == 100 else f"{name}_ms_p{q}"
        out[key] = round(percentile(values_us, q) / 1000, 3) if values_us else None
    return out
