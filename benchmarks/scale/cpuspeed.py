"""The machine's own speed, read on each core before every scale case: one fixed loop, timed.

A virtual machine's cores do not always run at one speed: the host shares
them with other work, and the guest's steal time does not show it (its cores
look busy, just slower). The same loop taking more CPU time on a core is
what a slower core looks like from inside. The scale suite reads this
between cases, when none of its processes runs, so the reading perturbs
nothing it measures; the report shows the spread over the run, the noise
that every figure of the run carries.
"""

from __future__ import annotations

import os
import statistics
import time

LOOPS = 200_000
"""Iterations of the fixed loop: about 12 ms of one core here."""
TRIES = 3
"""Timings per core; the reading is their median (one interrupt does not make a core slow)."""


def _spin(loops: int) -> int:
    total = 0
    for i in range(loops):
        total += i
    return total


def loop_ms(cpu: int, loops: int = LOOPS) -> float:
    """CPU milliseconds of the fixed loop on core ``cpu`` (this thread is pinned there
    meanwhile)."""
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        start = time.thread_time()
        _spin(loops)
        return (time.thread_time() - start) * 1000
    finally:
        os.sched_setaffinity(0, allowed)


def reading(loops: int = LOOPS) -> list[float]:
    """Per core this process may use, in core order: the median of :data:`TRIES` timings, in ms."""
    return [round(statistics.median(loop_ms(cpu, loops) for _ in range(TRIES)), 3)
            for cpu in sorted(os.sched_getaffinity(0))]
