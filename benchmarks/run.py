"""``python -m benchmarks.run``: run a suite of scenarios and leave a report directory.

The command line of the standard suites (:mod:`benchmarks.suite.scenarios`):
it picks the scenarios, makes the run directory and runs them
(:mod:`benchmarks.suite.runner`) under Ctrl-C, which stops the scenario in
progress, keeps what finished and exits with status 130, without a traceback.
At the end the report is built (:func:`benchmarks.report.build.build`).

The ``standard`` suite ends with the web group (each transport direct and through a
real nginx over HTTP/1.1 and HTTP/2, and what a bare proxy breaks:
:mod:`benchmarks.web.group`); ``--only web`` runs it alone, ``--no-web`` leaves it out,
``--web-clients`` / ``--web-seconds`` size it. Without nginx it is skipped, saying why.

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
from benchmarks.suite.runner import Run, run_all, run_web
from benchmarks.suite.scenarios import DEFAULT_SUITE, SUITES, Scenario, select
from benchmarks.web.cases import WebSize

WEB_GROUP = "web"
"""The name ``--only`` knows the web group by."""

WEB_SUITES = ("standard",)
"""The suites that end with the web group."""

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
    add("--only", nargs="+", metavar="NAME",
        help=f"run only these scenarios (from any suite); {WEB_GROUP}: the web group")
    add("--no-web", action="store_true",
        help=f"leave out the web group (which ends the {', '.join(WEB_SUITES)} suite)")
    add("--web-clients", type=int, default=WebSize().clients, help="web group: clients per case")
    add("--web-seconds", type=float, default=WebSize().seconds,
        help="web group: measured window per case")
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


async def _run(run: Run, scenarios: list[Scenario], seed: int, web: WebSize | None) -> None:
    """The scenarios, then the web group if asked."""
    if scenarios:
        await run_all(run, scenarios, seed)
    if web is not None:
        await run_web(run, web)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 a scenario failed, 2 usage, 130 Ctrl-C)."""
    args = build_parser().parse_args(argv)
    if args.list:
        if args.suite in (None, *SUITES):
            console.print_list(SUITES if args.suite is None else {args.suite: SUITES[args.suite]})
        if args.suite in (None, *WEB_SUITES):
            size = WebSize(args.web_clients, args.web_seconds)
            console.terminal.print(f"[bold]{WEB_GROUP}[/] group (ends {', '.join(WEB_SUITES)}; "
                                   f"--only {WEB_GROUP}), about {size.estimate_s():.0f} s: each "
                                   "transport direct and through nginx over HTTP/1.1 and HTTP/2, "
                                   "a bare proxy's verdicts, WebSocket compression")
        if args.suite in (None, SCALE_SUITE):
            print_plan(plan(), BREAKING_STEPS)
        return 0
    args.suite = args.suite or DEFAULT_SUITE
    if args.suite == SCALE_SUITE and not args.only:
        return _run_scale(args)
    if args.web_clients < 1 or args.web_seconds <= 0:
        print("error: --web-clients and --web-seconds must be positive", file=sys.stderr)
        return 2
    only = [name for name in args.only or () if name != WEB_GROUP]
    try:
        scenarios = select(args.suite, only) if only or not args.only else []
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    with_web = WEB_GROUP in (args.only or ()) or (not args.only and args.suite in WEB_SUITES)
    web = WebSize(args.web_clients, args.web_seconds) if with_web and not args.no_web else None
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
    finished = run_until_stopped(_run(run, scenarios, args.seed, web))
    run.cleanup_logs()
    console.print_summary(run.results, time.monotonic() - started)
    failed = (any(s.status != "ok" for s in run.results.scenarios)
              or "failed" in (run.results.web or {}))
    return run.close(finished, not args.no_report, failed, "scenarios")


if __name__ == "__main__":
    sys.exit(main())
