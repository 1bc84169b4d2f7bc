"""What /proc says about the scale suite's child processes.

(The children themselves are :class:`benchmarks.suite.children.Child`.)
:func:`tree_sample` sums CPU seconds and resident memory over a process and all
its descendants (the lab's primary and its workers). Linux only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from benchmarks.suite import procstats


def descendants(pid: int) -> list[int]:
    """``pid`` and every live process below it (read from each process's ppid)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        ppid = int(raw[raw.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


@dataclass(frozen=True, slots=True)
class TreeSample:
    """CPU seconds, resident and peak-resident bytes summed over a process tree."""

    cpu_s: float
    rss_bytes: int
    peak_rss_bytes: int
    processes: int


def tree_sample(pid: int) -> TreeSample:
    """Sum :func:`benchmarks.suite.procstats.sample` over ``pid`` and its descendants.

    Raises :class:`benchmarks.suite.procstats.ProcessGone` if ``pid`` itself is gone;
    a descendant that vanishes mid-read is skipped.
    """
    cpu, rss, peak, count = 0.0, 0, 0, 0
    for p in descendants(pid):
        try:
            s = procstats.sample(p)
        except procstats.ProcessGone:
            if p == pid:
                raise
            continue
        cpu, rss, peak, count = cpu + s.cpu_s, rss + s.rss_bytes, peak + s.peak_rss_bytes, count + 1
    return TreeSample(cpu, rss, peak, count)
