"""``python -m benchmarks.scale``: the scale suite — thousands of clients per server.

The command line of the suite: it checks its arguments and the kernel's input
backlog, makes the run directory (:class:`~benchmarks.scale.output.ScaleRun`),
runs :func:`~benchmarks.scale.search.run_suite` under Ctrl-C and SIGTERM, and
builds the report. Results go to ``<out>/results.json`` (with
``breaking_points`` beside the scenarios) and ``samples.csv``, like the other
suites. The soak lasts one minute by default, ``--soak-minutes 10`` for the
full one. What a case is and how it runs is in the rest of
:mod:`benchmarks.scale`; nothing is measured here.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from benchmarks.scale.cases import BREAKING_STEPS, COMPARE_REPEATS, COMPARE_WINDOW_S, plan
from benchmarks.scale.output import ScaleRun
from benchmarks.scale.search import run_suite
from benchmarks.suite import procstats
from benchmarks.suite.rundir import run_until_stopped

LOOPBACK_BACKLOG = 50_000
"""``net.core.netdev_max_backlog`` the suite asks for (Linux's default is 1,000). Its held
clients' delayed ACKs fire in bursts as large as the clients a core sent to within one timer
tick, all queued on that core's input backlog before any is processed: at 10,000 clients on
two workers the default dropped 18,536 packets in one case, at 15,000 clients some 50,000
(then connecting timed out); at 50,000 none dropped, 15,000 clients connected in 5 s, and
the packets processed fell five-fold (no resends)."""

def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__
                                     .splitlines()[0], formatter_class=argparse
                                     .ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add("--out", type=Path, help="report directory (default: reports/<timestamp>-scale)")
    add("--seed", type=int, default=1, help="seed of the feeds and subsamples")
    add("--clients", type=int, default=5000, help="N of the side-by-side comparison")
    add("--duration", type=float, default=COMPARE_WINDOW_S,
        help="timed window of each side-by-side case, seconds")
    add("--repeats", type=int, default=COMPARE_REPEATS,
        help="rounds of the side-by-side cases (the report takes each figure's median)")
    add("--soak-minutes", type=float, default=1.0, help="memory soak length (10 = the full one; "
        "0 skips it)")
    add("--no-breaking", action="store_true", help="skip the breaking-point search")
    add("--no-report", action="store_true", help="write results only; do not build the report")
    return parser


def backlog_warning(limit: int | None) -> str | None:
    """What to tell the user when the kernel's input backlog is shorter than the suite needs."""
    if limit is None or limit >= LOOPBACK_BACKLOG:
        return None
    return (f"warning: net.core.netdev_max_backlog is {limit:,}: at thousands of clients, "
            "loopback will drop bursts of delayed ACKs and TCP will resend them late (each "
            "case where it did is flagged). Raise it first: sudo sysctl -w "
            f"net.core.netdev_max_backlog={LOOPBACK_BACKLOG}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 when every case ran, 1 if one errored, 2 on bad usage, 130 on Ctrl-C."""
    args = build_parser().parse_args(argv)
    if (not 1 <= args.clients <= 19_000 * 8 or args.duration <= 0
            or not 0 <= args.soak_minutes <= 60 or not 1 <= args.repeats <= 9):
        print("error: --clients 1..152000, --duration > 0, --soak-minutes 0..60, --repeats 1..9",
              file=sys.stderr)
        return 2
    try:
        run = ScaleRun.create(args.out, args.seed)
    except OSError as exc:
        print(f"error: cannot write to {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    if warning := backlog_warning(procstats.backlog_limit()):
        print(warning, file=sys.stderr)
    cases = plan(args.clients, args.duration, args.soak_minutes * 60, args.repeats)
    steps = tuple(sorted({*BREAKING_STEPS, args.clients}))
    finished = run_until_stopped(run_suite(run, args.seed, cases, not args.no_breaking, steps),
                                 (signal.SIGINT, signal.SIGTERM))
    return run.finish(finished, build_report=not args.no_report)
