"""``python -m benchmarks.run``: run a suite of scenarios and leave a report directory.

The command line of the standard suites (:mod:`benchmarks.suite.scenarios`):
it picks the scenarios, makes the run directory and runs them
(:mod:`benchmarks.suite.runner`) under Ctrl-C, which stops the scenario in
progress, keeps what finished and exits with status 130, without a traceback.
At the end the report is built (:func:`benchmarks.report.build.build`).

``--suite scale`` (without ``--only``) hands over to
:func:`benchmarks.scale.cli.main`, the scale suite: its own servers, swarms and
breaking-point search, and the same results.json model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks.results.model import ReportSettings
from benchmarks.scale import cli as scale_cli
from benchmarks.scale.cases import BREAKING_STEPS, plan
from benchmarks.scale.output import print_plan
from benchmarks.suite import console
from benchmarks.suite.rundir import default_out_dir, new_results, run_until_stopped
from benchmarks.suite.runner import Run, run_all
from benchmarks.suite.scenarios import DEFAULT_SUITE, SUITES, select

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


def _run_scale(args: argparse.Namespace) -> int:
    """Hand ``--suite scale`` to :func:`benchmarks.scale.cli.main` (report settings stay
    defaults)."""
    d = ReportSettings()
    chosen = (args.volatility, args.trade_volume, args.usd_per_million_requests, args.usd_per_gb)
    if chosen != (d.volatility, d.trade_volume_usd_per_day, d.usd_per_million_requests,
                  d.usd_per_gb):
        print("note: the scale suite records the default report settings; pass prices to "
              "python -m benchmarks.report DIR instead", file=sys.stderr)
    argv = ["--seed", str(args.seed)]
    argv += ["--out", str(args.out)] if args.out else []
    argv += ["--no-report"] if args.no_report else []
    return scale_cli.main(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 a scenario failed, 2 usage, 130 Ctrl-C)."""
    args = build_parser().parse_args(argv)
    if args.list:
        if args.suite in (None, *SUITES):
            console.print_list(SUITES if args.suite is None else {args.suite: SUITES[args.suite]})
        if args.suite in (None, SCALE_SUITE):
            print_plan(plan(), BREAKING_STEPS)
        return 0
    args.suite = args.suite or DEFAULT_SUITE
    if args.suite == SCALE_SUITE and not args.only:
        return _run_scale(args)
    try:
        scenarios = select(args.suite, args.only)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    out_dir = args.out or default_out_dir()
    settings = ReportSettings(
        volatility=args.volatility, trade_volume_usd_per_day=args.trade_volume,
        usd_per_million_requests=args.usd_per_million_requests, usd_per_gb=args.usd_per_gb,
    )
    results = new_results("custom" if args.only else args.suite, args.seed, settings)
    try:
        run = Run(out_dir, results)
    except OSError as exc:
        print(f"error: cannot write to {out_dir}: {exc.strerror}", file=sys.stderr)
        return 2
    started = time.monotonic()
    finished = run_until_stopped(run_all(run, scenarios, args.seed))
    run.cleanup_logs()
    console.print_summary(run.results, time.monotonic() - started)
    failed = any(s.status != "ok" for s in run.results.scenarios)
    return run.close(finished, not args.no_report, failed, "scenarios")


if __name__ == "__main__":
    sys.exit(main())
