"""Child processes of a benchmark run: spawned apart, talked to in JSON lines, always reaped.

Both suites (the runner's scenarios and the scale suite) start servers and
load generators through :class:`Child`: each in its own session, stderr to a
log file, stdout a channel of JSON lines (long ones allowed: a load
generator's report carries its latency samples). ``stop`` signals only the
child's own process group. What it does not do: restart, or read /proc (that
is :mod:`benchmarks.suite.procstats`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from lab.contract import now_us

LINE_LIMIT = 64 * 1024 * 1024
"""Longest stdout line a child may send (a swarm's report with its samples)."""

ORPHAN_GUARD = (
    "import ctypes, os, signal, sys; "
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM); "  # PR_SET_PDEATHSIG
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)
"""Run first in every child: if the runner dies without cleaning up (SIGKILL), the
kernel sends the child SIGTERM, so no server is left serving on its own."""


SERVING = re.compile(rb"serving on http://[^\s/]+:(\d+)/")
"""The line every server of the lab (and every baseline) prints once it listens."""


class ChildError(RuntimeError):
    """A child failed to start, answer or report in time."""


async def sleep_until(t_us: int) -> None:
    """Sleep until wall-clock ``t_us``."""
    delay = (t_us - now_us()) / 1e6
    if delay > 0:
        await asyncio.sleep(delay)


class Child:
    """A child process in its own session, with stdout as a line channel.

    ``stop`` asks politely (SIGTERM), then kills; it only ever signals this
    child's own process group. Children are started through :data:`ORPHAN_GUARD`.
    """

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, *args: str, stdin: bool = False, tree: Path | None = None) -> None:
        """Spawn ``python args…`` with stderr going to the log file.

        ``tree``: another checkout of the project to run from, as its working directory and
        first on ``PYTHONPATH``, so that ``-m lab`` imports that version (the interpreter
        and its installed packages stay this one's).
        """
        env = None
        if tree is not None:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                [str(tree), *filter(None, [os.environ.get("PYTHONPATH")])])}
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", ORPHAN_GUARD, *args, stdout=asyncio.subprocess.PIPE,
                stderr=log, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                start_new_session=True, limit=LINE_LIMIT, cwd=tree, env=env,
            )

    @property
    def pid(self) -> int:
        """The child's process id."""
        assert self.proc is not None
        return self.proc.pid

    def tail(self, lines: int = 3) -> str:
        """The last lines of the child's stderr, for an error message."""
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    async def read_line(self, timeout: float) -> bytes:
        """The next stdout line; :class:`ChildError` on timeout or exit."""
        assert self.proc is not None and self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), max(timeout, 0.1))
        except TimeoutError:
            raise ChildError(f"{self.name}: no answer within {timeout:.0f} s") from None
        if not line:
            await self.proc.wait()
            raise ChildError(f"{self.name} exited ({self.proc.returncode}): {self.tail()}")
        return line

    async def expect(self, event: str, timeout: float) -> dict[str, Any]:
        """Wait for ``{"event": event, ...}`` on stdout."""
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

    async def stop(self, grace_s: float = 2.0) -> None:
        """SIGTERM the process group, SIGKILL after ``grace_s``; always reaps the child."""
        if self.proc is None or self.proc.returncode is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), wait)
                return

    async def wait_serving(self, timeout: float) -> int:
        """For a server child: its port, once it said "serving on" and ``/healthz`` answers."""
        match = None
        while match is None:
            match = SERVING.search(await self.read_line(timeout))
        port = int(match.group(1))
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        if response.status == 200:
                            return port
                await asyncio.sleep(0.05)
        raise ChildError(f"{self.name} on port {port} never became healthy: {self.tail()}")
