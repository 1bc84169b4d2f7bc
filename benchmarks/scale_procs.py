"""Child processes of the scale suite and what /proc says about them.

:class:`Proc` runs ``python -m …`` in its own session with stdout as a JSON-line
channel (lines up to :data:`LINE_LIMIT`, since a swarm's report carries its
latency samples) and stops its whole process group, never anything else.
:func:`tree_sample` sums CPU seconds and resident memory over a process and all
its descendants (the lab's primary and its workers). Linux only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks import procstats

LINE_LIMIT = 64 * 1024 * 1024


class ProcError(RuntimeError):
    """A child failed to start, answer or report in time."""


class Proc:
    """One child process in its own session; ``stop`` signals only its process group."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, *args: str, stdin: bool = False) -> None:
        """Spawn ``python args…``; stderr goes to the log file."""
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, *args, stdout=asyncio.subprocess.PIPE, stderr=log,
                stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                start_new_session=True, limit=LINE_LIMIT,
            )

    @property
    def pid(self) -> int:
        """The child's process id."""
        assert self.proc is not None
        return self.proc.pid

    def tail(self, lines: int = 3) -> str:
        """The last lines of the child's stderr, for an error message."""
        with contextlib.suppress(OSError):
            return " | ".join(self.log_path.read_text(errors="replace").strip()
                              .splitlines()[-lines:])
        return ""

    async def read_line(self, timeout: float) -> bytes:
        """The next stdout line; :class:`ProcError` on timeout or exit."""
        assert self.proc is not None and self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), max(timeout, 0.1))
        except TimeoutError:
            raise ProcError(f"{self.name}: no answer within {timeout:.0f} s") from None
        if not line:
            await self.proc.wait()
            raise ProcError(f"{self.name} exited ({self.proc.returncode}): {self.tail()}")
        return line

    async def expect(self, event: str, timeout: float) -> dict[str, Any]:
        """Wait for the JSON line ``{"event": event, ...}``."""
        deadline = time.monotonic() + timeout
        while True:
            line = await self.read_line(deadline - time.monotonic())
            with contextlib.suppress(orjson.JSONDecodeError):
                message = orjson.loads(line)
                if isinstance(message, dict) and message.get("event") == event:
                    return message

    def send(self, item: dict[str, Any]) -> None:
        """Write one JSON line to the child's stdin."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(orjson.dumps(item) + b"\n")

    async def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM the process group, SIGKILL after ``grace_s``; always reaps the child."""
        if self.proc is None or self.proc.returncode is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), wait)
                return


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
    """Sum :func:`benchmarks.procstats.sample` over ``pid`` and its descendants.

    Raises :class:`benchmarks.procstats.ProcessGone` if ``pid`` itself is gone;
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
