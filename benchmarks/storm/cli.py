"""``python -m benchmarks.storm {storm,soak}``: a reconnect storm, or a soak with churn.

``storm`` restarts the lab under ``--websocket`` + ``--sse`` clients, once with the clients'
jittered schedule and once without (``--modes``), and saves ``storm.json`` and
``storm-attempts.csv``; ``soak`` runs ``--minutes`` of churn over the five transports with
chat posts and saves ``soak.json`` and ``soak-samples.csv``. Both write into ``--out`` (default
``reports/<timestamp>-storm``, or ``-soak``) and then the report of what is there
(:mod:`benchmarks.report.storm_chapter`); into the run directory of a main suite run
(one with ``results.json``), they rebuild that run's report, which shows them under its faults. Nothing is measured here.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from benchmarks.report.build import build
from benchmarks.report.storm_chapter import write_report
from benchmarks.results.files import RESULTS_FILE
from benchmarks.results.storm import save_soak, save_storm
from benchmarks.storm.soak import SoakPlan, run_soak
from benchmarks.storm.storm import StormPlan, run_restart
from benchmarks.suite.rundir import EXIT_INTERRUPTED, default_out_dir, run_until_stopped

MODES = {"jitter": True, "none": False}
"""``--modes`` names: the clients' schedule with full jitter, or its ceilings alone."""


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.storm",
                                     description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    storm = sub.add_parser("storm", help="restart the lab under a crowd of clients",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = storm.add_argument
    add("--websocket", type=int, default=StormPlan.websocket, help="WebSocket clients")
    add("--sse", type=int, default=StormPlan.sse, help="SSE clients")
    add("--rate", type=float, default=StormPlan.rate, help="the feed's messages per second")
    add("--modes", default="jitter,none", help="comma-separated: jitter, none")
    add("--settle", type=float, default=StormPlan.settle_s, help="seconds before the restart")
    add("--max-back", type=float, default=StormPlan.max_back_s,
        help="seconds to wait for every client to be back")
    add("--graceful", action="store_true", help="SIGTERM the server instead of SIGKILL")
    soak = sub.add_parser("soak", help="clients arriving and leaving, with chat, for minutes",
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = soak.add_argument
    add("--clients", type=int, default=SoakPlan.clients, help="clients at any time")
    add("--minutes", type=float, default=SoakPlan.minutes, help="length of the soak")
    add("--warmup", type=float, default=SoakPlan.warmup_s,
        help="seconds left out of the memory slope")
    add("--stay", type=float, default=SoakPlan.stay_s, help="mean seconds a churning client stays")
    add("--stayers", type=float, default=SoakPlan.stayers,
        help="share of clients that stay the whole soak (their gaps must be 0)")
    add("--posters", type=int, default=SoakPlan.posters, help="chat identities posting 1/s each")
    add("--rate", type=float, default=SoakPlan.rate, help="the feed's messages per second")
    add("--sample", type=float, default=SoakPlan.sample_s, help="seconds between samples")
    for command in (storm, soak):
        command.add_argument("--out", type=Path, help="run directory")
        command.add_argument("--seed", type=int, default=1, help="seed of the feed and jitter")
        command.add_argument("--no-report", action="store_true", help="save results only")
    return parser


def check(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments, or None."""
    if args.command == "storm":
        modes = args.modes.split(",")
        if not all(m in MODES for m in modes) or len(set(modes)) != len(modes):
            return "--modes takes jitter and/or none"
        if not (0 <= args.websocket <= 60_000 and 0 <= args.sse <= 60_000
                and args.websocket + args.sse > 0):
            return "--websocket and --sse: 0..60000 each, not both 0"
        if args.rate <= 0 or args.settle < 0 or args.max_back <= 0:
            return "--rate and --max-back must be positive, --settle 0 or more"
        return None
    if not (1 <= args.clients <= 20_000 and 0 < args.minutes <= 24 * 60 and args.stay > 0
            and 0 <= args.stayers <= 1 and args.posters >= 0 and args.rate > 0
            and args.sample > 0 and args.warmup >= 0):
        return ("--clients 1..20000, --minutes > 0, --stay > 0, --stayers 0..1, --posters >= 0, "
                "--rate > 0, --sample > 0, --warmup >= 0")
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 when done, 1 if the run failed, 2 on bad usage, 130 on Ctrl-C."""
    args = build_parser().parse_args(argv)
    if problem := check(args):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    out: Path = args.out or default_out_dir(f"-{args.command}")
    log_dir = out / "logs"
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: cannot write to {out}: {exc.strerror}", file=sys.stderr)
        return 2
    outcome: dict[str, Any] = {}

    async def work() -> None:
        if args.command == "storm":
            plan = StormPlan(websocket=args.websocket, sse=args.sse, rate=args.rate,
                             settle_s=args.settle, max_back_s=args.max_back,
                             graceful=args.graceful, seed=args.seed)
            runs = []
            for mode in args.modes.split(","):
                print(f"storm: {plan.websocket} WebSocket + {plan.sse} SSE clients, "
                      f"jitter {mode}", flush=True)
                runs.append(await run_restart(plan, MODES[mode], log_dir))
                print(f"  back in {runs[-1]['back_s']} s, peak "
                      f"{runs[-1]['peak_attempts_per_s']} attempts/s, gaps {runs[-1]['gaps']}",
                      flush=True)
                save_storm(out, runs)
        else:
            soak = SoakPlan(clients=args.clients, minutes=args.minutes, warmup_s=args.warmup,
                            stay_s=args.stay, stayers=args.stayers, posters=args.posters,
                            rate=args.rate, sample_s=args.sample, seed=args.seed)
            print(f"soak: {soak.clients} clients for {soak.minutes:g} min", flush=True)
            figures, samples = await run_soak(soak, log_dir)
            save_soak(out, figures, samples)
            print(f"  memory slope {figures['rss_mb_per_min']} MB/min, descriptors "
                  f"{figures['fds_first']} -> {figures['fds_last']}, stayers' gaps "
                  f"{figures['stayers_gaps']}", flush=True)
        outcome["done"] = True

    try:
        finished = run_until_stopped(work(), (signal.SIGINT, signal.SIGTERM))
    except (OSError, RuntimeError) as exc:
        print(f"error: the run failed: {exc}", file=sys.stderr)
        return 1
    if finished and not args.no_report:
        # A run directory of the main suite gets the section in its own report's faults.
        main_run = (out / RESULTS_FILE).exists()
        print(f"report: {build(out) if main_run else write_report(out)}")
    print(f"results: {out}")
    return 0 if finished else EXIT_INTERRUPTED
