"""Turning raw readings into the figures of results.json: pure functions, no I/O.

Percentiles interpolate linearly between order statistics (as numpy's default
does). Flags name a figure that should not be read at face value: a saturated
load generator, relay or machine, CPU taken by processes outside the benchmark,
a server at its limit, incomplete delivery.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from benchmarks.results.model import WIRE_FIELDS, Distribution, MachineFigures, Wire

SATURATED_UTIL = 0.9
"""Share of one core from which a process counts as the bottleneck."""


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) of an already sorted, non-empty sequence."""
    if not ordered:
        raise ValueError("percentile of an empty sample")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def distribution(values_us: Iterable[float]) -> Distribution:
    """Summary in milliseconds of a sample given in microseconds."""
    ordered = sorted(v / 1000 for v in values_us)
    if not ordered:
        return Distribution(count=0)
    return Distribution(
        count=len(ordered),
        p50=round(percentile(ordered, 50), 3),
        p90=round(percentile(ordered, 90), 3),
        p95=round(percentile(ordered, 95), 3),
        p99=round(percentile(ordered, 99), 3),
        max=round(ordered[-1], 3),
        mean=round(sum(ordered) / len(ordered), 3),
    )


def sum_wire(parts: Iterable[Mapping[str, int] | None]) -> Wire | None:
    """Add up wire counters (``None`` if any part is missing)."""
    totals = dict.fromkeys(WIRE_FIELDS, 0)
    for part in parts:
        if part is None:
            return None
        for key in WIRE_FIELDS:
            totals[key] += int(part.get(key, 0))
    return Wire(**totals)


def stats_delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Counter-wise ``after - before``; gauges (``open_connections``) keep their end value."""
    delta: dict[str, Any] = {}
    for key, value in after.items():
        if key == "open_connections" or not isinstance(value, int | float):
            delta[key] = value
        else:
            delta[key] = value - before.get(key, 0)
    return delta


def recovery_us(cuts_us: Sequence[int], arrivals: Sequence[tuple[int, int, int]],
                start_us: int, end_us: int) -> list[int]:
    """For each cut inside the window and each client: cut → first message received after.

    ``arrivals`` are ``(client, seq, recv_us)``. A client that received nothing
    after a cut contributes nothing (its gap shows in ``gaps`` and delivery).
    """
    by_client: dict[int, list[int]] = {}
    for client, _seq, recv in arrivals:
        by_client.setdefault(client, []).append(recv)
    found = []
    for times in by_client.values():
        times.sort()
        for cut in cuts_us:
            if not start_us <= cut < end_us:
                continue
            i = bisect.bisect_right(times, cut)
            if i < len(times):
                found.append(times[i] - cut)
    return found


OTHER_CORES = 0.25
"""CPU (in cores) taken by processes outside the benchmark from which a result is flagged."""


def machine_figures(m1: Sequence[float], m2: Sequence[float], wall_s: float, ours_s: float,
                    cpu_count: int) -> MachineFigures:
    """The whole machine over a window from two :func:`procstats.machine_cpu` readings.

    ``wall_s`` is the window's length on the wall clock, and it is the divisor:
    /proc/stat's total is no clock here (its idle counter does not advance
    steadily, so Δtotal / cores came out far shorter than the window and
    ``busy_cores`` above the machine's core count). ``ours_s`` is the CPU the
    benchmark's own processes took; ``other_cores`` is what neither they nor
    interrupts (loopback TCP, charged to no process) explain.
    """
    elapsed = max(wall_s, 1e-3)
    busy, irq = (m2[0] - m1[0]) / elapsed, (m2[1] - m1[1]) / elapsed
    return MachineFigures(cpu_count=cpu_count, busy_cores=round(busy, 3), irq_cores=round(irq, 3),
                          other_cores=round(max(0.0, busy - irq - ours_s / elapsed), 3))


def machine_flags(machine: MachineFigures) -> list[str]:
    """Warnings about the machine as a whole over the window."""
    found = []
    if machine.busy_cores >= SATURATED_UTIL * machine.cpu_count:
        found.append(f"machine saturated ({machine.busy_cores:.2f} of "
                     f"{machine.cpu_count} cores busy)")
    if machine.other_cores >= OTHER_CORES:
        found.append(f"other processes took {machine.other_cores:.2f} cores")
    return found


def flags(*, clients: int, delivered: int, published: int, loadgen_util: float,
          relay_util: float | None, server_util: float, failed_clients: int,
          rate: float, window_s: float) -> list[str]:
    """Warnings for one scenario; an empty list means the figures stand as measured."""
    found = []
    if loadgen_util >= SATURATED_UTIL:
        found.append(f"loadgen saturated ({loadgen_util:.0%} of a core)")
    if relay_util is not None and relay_util >= SATURATED_UTIL:
        found.append(f"relay saturated ({relay_util:.0%} of a core)")
    if server_util >= SATURATED_UTIL:
        found.append(f"server at its limit ({server_util:.0%} of a core)")
    expected = published * clients
    if expected and delivered < expected:
        found.append(f"incomplete delivery: {delivered} of {expected} ({delivered / expected:.1%})")
    if published < 0.5 * rate * window_s:
        found.append(f"feed behind: {published} published, ~{rate * window_s:.0f} expected")
    if failed_clients:
        found.append(f"{failed_clients} of {clients} clients failed")
    return found
