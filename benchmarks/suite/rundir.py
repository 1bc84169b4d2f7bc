"""What both suites do with a run directory: make it, run in it under Ctrl-C, and close it.

The standard runner (:class:`benchmarks.suite.runner.Run`) and the scale suite
(:class:`benchmarks.scale.output.ScaleRun`) each record their own scenarios,
their own way; everything around that is shared and lives here: the directory
and its ``logs/`` (:class:`RunDirectory`), the header every results.json starts
with (:func:`new_results`, with :func:`environment`), running the work so that
Ctrl-C stops it once and cleanly (:func:`run_until_stopped`), and closing the
run: dropping spent logs, building the report, the exit status. It measures no
figure and formats no table.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import platform
import signal
import socket
import sys
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.report.build import build
from benchmarks.results.files import RESULTS_FILE
from benchmarks.results.model import Environment, ReportSettings, Results

EXIT_INTERRUPTED = 130
"""The exit status of a run the user stopped (the shell's for SIGINT)."""


def environment() -> Environment:
    """What the run ran on; the host name only as a short hash."""
    return Environment(
        python=platform.python_version(), aiohttp=aiohttp.__version__, os=platform.platform(),
        cpu_count=os.cpu_count() or 1, machine=platform.machine(),
        hostname_hash=hashlib.sha256(socket.gethostname().encode()).hexdigest()[:12],
    )


def new_results(suite: str, seed: int, settings: ReportSettings | None = None) -> Results:
    """A run's results before its first scenario: when, which suite, the seed, the machine."""
    return Results(created=datetime.now(UTC).isoformat(timespec="seconds"), suite=suite,
                   seed=seed, environment=environment(), settings=settings or ReportSettings())


def default_out_dir(suffix: str = "") -> Path:
    """``reports/<timestamp><suffix>``: where a run goes when no ``--out`` is given."""
    return Path("reports") / (datetime.now().strftime("%Y%m%d-%H%M%S") + suffix)


def run_until_stopped(work: Coroutine[Any, Any, None],
                      signals: Sequence[signal.Signals] = (signal.SIGINT,)) -> bool:
    """Run ``work`` to its end; return False if one of ``signals`` stopped it first.

    The first signal cancels ``work`` (its children are stopped as it unwinds);
    further ones are ignored while it stops, so a second Ctrl-C cannot cut that
    clean-up short.
    """

    async def main() -> bool:
        """Run ``work`` as a task of its own, with the signal handlers installed around it."""
        task = asyncio.ensure_future(work)
        loop = asyncio.get_running_loop()
        stopping = False

        def stop() -> None:
            """Cancel ``work`` on the first signal only."""
            nonlocal stopping
            if not stopping:
                stopping = True
                task.cancel()

        for signum in signals:
            loop.add_signal_handler(signum, stop)
        try:
            await task
            return True
        except asyncio.CancelledError:
            return False
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)

    return asyncio.run(main())


class RunDirectory:
    """A run's output directory, with ``logs/`` for its children's stderr (both made at once)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.log_dir = out_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def cleanup_logs(self) -> None:
        """Drop empty log files and the load generators' raw reports (by now in the CSV
        files), then ``logs/`` itself if nothing is left in it."""
        for path in self.log_dir.iterdir():
            if path.suffix == ".json" or path.stat().st_size == 0:
                path.unlink()
        with contextlib.suppress(OSError):
            self.log_dir.rmdir()

    def close(self, finished: bool, build_report: bool, failed: bool, kept: str) -> int:
        """Build the report (if the run finished and one is wanted), say where the results are,
        and return the exit status: 130 if stopped (``kept`` names what was kept), 1 if a
        scenario failed, else 0. A report that cannot be built is reported, not raised: the
        results stand without it."""
        if finished and build_report:
            try:
                print(f"report: {build(self.out_dir)}")
            except Exception as exc:  # noqa: BLE001 - the results stand without a report
                print(f"report: could not be built ({type(exc).__name__}: {exc})",
                      file=sys.stderr)
        print(f"results: {self.out_dir / RESULTS_FILE}")
        if not finished:
            print(f"interrupted: finished {kept} are kept", file=sys.stderr)
            return EXIT_INTERRUPTED
        return 1 if failed else 0
