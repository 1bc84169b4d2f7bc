"""CPU seconds and memory of a process, the machine's busy CPU, TCP counters and packet drops,
from Linux's /proc.

The runner reads the server's figures from the operating system rather than
asking the server, so the numbers hold whatever the server thinks of itself.
Linux only; it does not follow child processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ProcessGone(RuntimeError):
    """The process no longer exists (or /proc is not there)."""


@dataclass(frozen=True, slots=True)
class ProcSample:
    """One reading: user+system CPU seconds, current and peak resident memory in bytes."""

    cpu_s: float
    rss_bytes: int
    peak_rss_bytes: int


def cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` (all its threads), in seconds.

    Read from each thread's ``schedstat`` (nanoseconds on the CPU) where the kernel
    provides it; otherwise from ``stat``'s user+system ticks (1/CLK_TCK, usually
    10 ms, too coarse for a few seconds of a quiet server). ``schedstat`` covers
    live threads only: threads that ended no longer count.
    """
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError as exc:
        raise ProcessGone(f"process {pid}: {exc.strerror}") from exc
    total_ns = 0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                total_ns += int(f.read().split()[0])
        except FileNotFoundError:
            if os.path.exists(f"/proc/{pid}/task/{tid}"):  # no schedstat on this kernel
                return _stat_cpu_seconds(pid)
            # else the thread ended between listing and reading
    return total_ns / 1e9


def _stat_cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ProcessGone(f"process {pid}: {exc.strerror}") from exc
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = raw[raw.rindex(b")") + 2:].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS


def memory(pid: int) -> tuple[int, int]:
    """``(VmRSS, VmHWM)`` of ``pid`` in bytes: current and peak resident set size."""
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0]) * 1024
    except OSError as exc:
        raise ProcessGone(f"process {pid}: {exc.strerror}") from exc
    if len(values) != 2:
        raise ProcessGone(f"process {pid} has no memory figures (a zombie?)")
    return values["VmRSS"], values["VmHWM"]


def sample(pid: int) -> ProcSample:
    """CPU seconds and memory of ``pid`` now."""
    cpu = cpu_seconds(pid)
    rss, peak = memory(pid)
    return ProcSample(cpu_s=cpu, rss_bytes=rss, peak_rss_bytes=peak)


def machine_cpu() -> tuple[float, float, float]:
    """``(busy, interrupts, elapsed)`` CPU seconds of the whole machine, summed over cores.

    From the first line of /proc/stat; idle and I/O wait count as not busy.
    ``interrupts`` (hard and soft IRQ, which is where loopback TCP is processed)
    is part of ``busy`` and charged to no process. Between two readings,
    ``Δbusy`` over the *wall-clock* time between them is the number of cores
    busy (:func:`benchmarks.suite.measure.machine_figures`); ``elapsed`` (the sum of
    every counter) is not a clock on every kernel: here the idle counter lags.
    """
    with open("/proc/stat", "rb") as f:
        fields = [int(v) for v in f.readline().split()[1:9]]
    total = sum(fields)
    idle = fields[3] + fields[4]
    irq = fields[5] + fields[6]
    return (total - idle) / CLOCK_TICKS, irq / CLOCK_TICKS, total / CLOCK_TICKS


RECEIVE_PRESSURE = ("PruneCalled", "RcvPruned", "TCPRcvCollapsed", "TCPRcvQDrop",
                    "TCPToZeroWindowAdv", "TCPMemoryPressures")
"""Linux's TCP counters (``TcpExt`` in /proc/net/netstat) that move when receive queues run
short of room: pruning, collapsing or dropping queued data, a zero window, memory pressure."""


def receive_pressure() -> dict[str, int]:
    """The machine-wide :data:`RECEIVE_PRESSURE` counters now (all 0 where the kernel has none)."""
    with open("/proc/net/netstat", encoding="ascii") as f:
        lines = f.read().splitlines()
    found: dict[str, int] = {}
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            found.update(zip(names.split()[1:], map(int, values.split()[1:]), strict=False))
    return {name: found.get(name, 0) for name in RECEIVE_PRESSURE}


def backlog_drops() -> int:
    """Packets the kernel has dropped so far because a CPU's input backlog was full (the
    second column of /proc/net/softnet_stat, summed over CPUs; 0 where there is none).

    On loopback every packet a process sends is queued on its own CPU's backlog, at most
    ``net.core.netdev_max_backlog`` deep: a burst queued where nothing drains it (clients'
    delayed ACKs, whose timers all fire in one timer interrupt) overflows it, and TCP
    sends the dropped segments again only after a timeout.
    """
    try:
        with open("/proc/net/softnet_stat", encoding="ascii") as f:
            return sum(int(line.split()[1], 16) for line in f if line.strip())
    except OSError:
        return 0


def backlog_limit() -> int | None:
    """``net.core.netdev_max_backlog``: packets each CPU's input backlog holds (None if unknown)."""
    try:
        with open("/proc/sys/net/core/netdev_max_backlog", encoding="ascii") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None
