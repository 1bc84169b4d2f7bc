"""``python -m benchmarks.run``: run a suite of scenarios and leave a report directory.

Scenarios run one after another (two cores leave no room for overlap), each
through :func:`benchmarks.harness.run_scenario`. After every scenario
``results.json`` is rewritten and its rows appended to ``samples.csv`` and
``staleness.csv``, so an interrupted run keeps what it finished. Ctrl-C stops
the scenario in progress (recorded as ``interrupted``), kills its child
processes and exits with status 130, without a traceback.

At the end, the report is built by ``benchmarks.report.build(out_dir)`` if that
module is installed; otherwise the results path is printed.

``--suite scale`` (without ``--only``) hands over to :func:`benchmarks.scale.main`,
the issue 6 suite: its own servers, swarms and breaking-point search, and the
same results.json model.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import os
import platform
import signal
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from benchmarks import console
from benchmarks.harness import Outcome, run_scenario
from benchmarks.report.build import build
from benchmarks.results.files import SAMPLES_COLUMNS, STALENESS_COLUMNS, append_rows, save
from benchmarks.results.model import (
    Anatomy,
    Environment,
    ReportSettings,
    Results,
    ScenarioResult,
)
from benchmarks.scenarios import DEFAULT_SUITE, SUITES, Scenario, select

EXIT_INTERRUPTED = 130
SCALE_SUITE = "scale"
"""The suite :mod:`benchmarks.scale` runs (not in :data:`SUITES`: its cases are its own)."""


def build_parser() -> argparse.ArgumentParser:
    """The command line; every default is shown in ``--help``."""
    d = ReportSettings()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Measure latency, staleness and cost of short poll, long poll, chunked "
        "stream, SSE and WebSocket, and write results and a report.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--suite", choices=[*SUITES, SCALE_SUITE],
        help=f"which scenarios to run (default: {DEFAULT_SUITE}; {SCALE_SUITE}: "
        "python -m benchmarks.scale with its defaults)")
    add("--list", action="store_true", help="list suites and scenarios, then exit")
    add("--only", nargs="+", metavar="NAME", help="run only these scenarios (from any suite)")
    add("--out", type=Path, help="report directory (default: reports/<timestamp>)")
    add("--seed", type=int, default=1, help="seed of the price walk, jitter and subsampling")
    add("--volatility", type=float, default=d.volatility, help="annualised volatility of the feed")
    add("--trade-volume", type=float, default=d.trade_volume_usd_per_day,
        help="USD traded per day at the stale price (report)")
    add("--usd-per-million-requests", type=float, default=d.usd_per_million_requests,
        help="price of a million requests (report)")
    add("--usd-per-gb", type=float, default=d.usd_per_gb, help="price of a GB transferred (report)")
    add("--no-report", action="store_true", help="write results only; do not build the report")
    return parser


def environment() -> Environment:
    """What the run ran on; the host name only as a short hash."""
    return Environment(
        python=platform.python_version(), aiohttp=aiohttp.__version__, os=platform.platform(),
        cpu_count=os.cpu_count() or 1, machine=platform.machine(),
        hostname_hash=hashlib.sha256(socket.gethostname().encode()).hexdigest()[:12],
    )


class Run:
    """One run's output directory and the results accumulated so far."""

    def __init__(self, out_dir: Path, results: Results) -> None:
        self.out_dir = out_dir
        self.log_dir = out_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.results = results
        save(results, out_dir)

    def record(self, outcome: Outcome) -> None:
        """Add one scenario's outcome to results.json and the CSV files."""
        result = outcome.result
        transport = result.transport or result.params["transport"]
        append_rows(
            self.out_dir / "samples.csv", SAMPLES_COLUMNS,
            ((result.name, transport, c, seq, t, recv, recv - t, "")
             for c, seq, t, recv in outcome.samples),
        )
        if outcome.staleness:
            append_rows(self.out_dir / "staleness.csv", STALENESS_COLUMNS,
                        ((result.name, c, t, s) for c, t, s in outcome.staleness))
        results = self.results.with_scenario(result)
        if (outcome.capture and transport not in results.anatomy
                and not result.params.get("cut_every_s")):
            up, down = outcome.capture
            anatomy = {**results.anatomy, transport: Anatomy(
                upstream_b64=base64.b64encode(up).decode(),
                downstream_b64=base64.b64encode(down).decode(),
            )}
            results = dataclasses.replace(results, anatomy=anatomy)
        self.results = results
        save(results, self.out_dir)

    def cleanup_logs(self) -> None:
        """Drop empty log files and the workers' raw reports (now in the CSV files)."""
        for path in self.log_dir.iterdir():
            if path.suffix == ".json" or path.stat().st_size == 0:
                path.unlink()
        with contextlib.suppress(OSError):
            self.log_dir.rmdir()


def interrupted(scenario: Scenario) -> ScenarioResult:
    """The record of a scenario cut short by Ctrl-C."""
    return ScenarioResult(name=scenario.name, group=scenario.group, params=scenario.params(),
                          status="interrupted", error="stopped by Ctrl-C")


async def run_all(run: Run, scenarios: list[Scenario], seed: int) -> bool:
    """Run ``scenarios`` in order; return False if the user interrupted."""
    with console.Progress(scenarios) as progress:
        for scenario in scenarios:
            progress.begin(scenario)
            started = time.monotonic()
            try:
                outcome = await run_scenario(scenario, seed, run.log_dir)
            except asyncio.CancelledError:
                run.record(Outcome(interrupted(scenario)))
                progress.note(f"[yellow]interrupted[/] {scenario.name}")
                return False
            elapsed = round(time.monotonic() - started, 2)
            outcome = dataclasses.replace(
                outcome, result=dataclasses.replace(outcome.result, elapsed_s=elapsed))
            run.record(outcome)
            progress.done(outcome.result)
    return True


async def _main_task(run: Run, scenarios: list[Scenario], seed: int) -> bool:
    """Run with Ctrl-C cancelling the work once; further presses are ignored while it stops."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    stopping = False

    def on_sigint() -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            task.cancel()

    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        return await run_all(run, scenarios, seed)
    except asyncio.CancelledError:
        task.uncancel()
        return False
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def build_report(out_dir: Path) -> Path:
    """Build the report (:func:`benchmarks.report.build.build`); return report.html's path."""
    return build(out_dir)


def _run_scale(args: argparse.Namespace) -> int:
    """Hand ``--suite scale`` to :func:`benchmarks.scale.main` (report settings stay defaults)."""
    from benchmarks import scale

    d = ReportSettings()
    chosen = (args.volatility, args.trade_volume, args.usd_per_million_requests, args.usd_per_gb)
    if chosen != (d.volatility, d.trade_volume_usd_per_day, d.usd_per_million_requests,
                  d.usd_per_gb):
        print("note: the scale suite records the default report settings; pass prices to "
              "python -m benchmarks.report DIR instead", file=sys.stderr)
    argv = ["--seed", str(args.seed)]
    argv += ["--out", str(args.out)] if args.out else []
    argv += ["--no-report"] if args.no_report else []
    return scale.main(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 a scenario failed, 2 usage, 130 Ctrl-C)."""
    args = build_parser().parse_args(argv)
    if args.list:
        if args.suite in (None, *SUITES):
            console.print_list(SUITES if args.suite is None else {args.suite: SUITES[args.suite]})
        if args.suite in (None, SCALE_SUITE):
            from benchmarks import scale

            console.print_scale_plan(scale.plan(), scale.BREAKING_STEPS)
        return 0
    args.suite = args.suite or DEFAULT_SUITE
    if args.suite == SCALE_SUITE and not args.only:
        return _run_scale(args)
    try:
        scenarios = select(args.suite, args.only)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    out_dir = args.out or Path("reports") / datetime.now().strftime("%Y%m%d-%H%M%S")
    settings = ReportSettings(
        volatility=args.volatility, trade_volume_usd_per_day=args.trade_volume,
        usd_per_million_requests=args.usd_per_million_requests, usd_per_gb=args.usd_per_gb,
    )
    results = Results(
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        suite="custom" if args.only else args.suite, seed=args.seed,
        environment=environment(), settings=settings,
    )
    try:
        run = Run(out_dir, results)
    except OSError as exc:
        print(f"error: cannot write to {out_dir}: {exc.strerror}", file=sys.stderr)
        return 2
    started = time.monotonic()
    finished = asyncio.run(_main_task(run, scenarios, args.seed))
    run.cleanup_logs()
    console.print_summary(run.results, time.monotonic() - started)
    results_path = out_dir / "results.json"
    if finished and not args.no_report:
        try:
            report = build_report(out_dir)
        except Exception as exc:  # noqa: BLE001 - the results stand without a report
            print(f"report: could not be built ({type(exc).__name__}: {exc})", file=sys.stderr)
            report = None
        if report is not None:
            print(f"report: {report}")
    print(f"results: {results_path}")
    if not finished:
        print("interrupted: finished scenarios are kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 1 if any(s.status != "ok" for s in run.results.scenarios) else 0


if __name__ == "__main__":
    sys.exit(main())
