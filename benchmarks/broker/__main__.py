"""``python -m benchmarks.broker``: the broker group's cases, written to ``<out>/broker.json``,
then the chapter "Past one machine" (:mod:`benchmarks.report.broker_chapter`) beside it.

Each case is a line on the terminal as it finishes; the file is rewritten after
every case, so an interrupted run keeps what it finished. Exit status 0 when
every case ran, 1 if one failed, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from benchmarks.broker.failover import run_failover
from benchmarks.broker.run import SETUPS, BrokerCase, run_broker_case
from benchmarks.report.broker_chapter import main as write_chapter
from benchmarks.suite.rundir import default_out_dir

FAILURES = (RuntimeError, OSError, ValueError, KeyError, TimeoutError)
"""What a case that could not run raises (a child that died, a port, a timeout)."""


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.broker",
                                     description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add("--out", type=Path, help="run directory (default: reports/<timestamp>-broker)")
    add("--clients", default="1000,5000", help="comma-separated N of WebSocket subscribers")
    add("--setups", default=",".join(SETUPS), help="comma-separated setups to run")
    add("--rate", type=float, default=10.0, help="price changes per second")
    add("--duration", type=float, default=10.0, help="timed window of each case, seconds")
    add("--seed", type=int, default=1, help="seed of the feeds and of the swarms")
    add("--no-failover", action="store_true", help="skip the failover case")
    return parser


def summary_line(result: dict[str, Any]) -> str:
    """One terminal line per case."""
    if result["status"] != "ok":
        return f"{result['name']:<28} ERROR {result.get('error')}"
    if "latency_ms" not in result:
        return (f"{result['name']:<28} next price after {result['seconds_to_next_price']} s, "
                f"gaps {result['gaps']}, duplicates {result['duplicates']}")
    lat, cpu, lost = result["latency_ms"], result["cpu_us_per_delivery"], result["loss"]
    return (f"{result['name']:<28} p50 {lat['p50']} ms  p99 {lat['p99']} ms  "
            f"CPU/delivery {cpu['all']} µs {cpu['nodes']}  Redis/msg "
            f"{result['redis_cpu_us_per_message']} µs  gaps {lost['gaps']} "
            f"undelivered {lost['undelivered']}")


async def run_all(args: argparse.Namespace, out: Path) -> int:
    """Every case in turn; the exit status."""
    cases = [BrokerCase(setup, int(n), args.rate, args.duration)
             for n in args.clients.split(",") for setup in args.setups.split(",")]
    results: list[dict[str, Any]] = []
    jobs: list[tuple[str, Any]] = [(case.name, run_broker_case(case, args.seed, out))
                                   for case in cases]
    if not args.no_failover:
        jobs.append(("broker-failover", run_failover(args.rate, args.seed, out)))
    status = 0
    for name, job in jobs:
        try:
            result = await job
        except FAILURES as exc:
            result, status = {"name": name, "group": "broker", "status": "error",
                              "error": f"{type(exc).__name__}: {exc}"}, 1
        results.append(result)
        print(summary_line(result), flush=True)
        (out / "broker.json").write_bytes(orjson.dumps({"scenarios": results},
                                                       option=orjson.OPT_INDENT_2))
    return status


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    try:
        for setup in args.setups.split(","):
            BrokerCase(setup, 2)
        clients = [int(n) for n in args.clients.split(",")]
        if not all(2 <= n <= 60_000 for n in clients) or args.duration <= 0 or args.rate <= 0:
            raise ValueError("--clients 2..60000 each, --duration and --rate positive")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or default_out_dir("-broker")
    out.mkdir(parents=True, exist_ok=True)
    try:
        status = asyncio.run(run_all(args, out))
    except KeyboardInterrupt:
        return 130
    write_chapter([str(out)])
    print(f"results: {out / 'broker.json'}; chapter: {out / 'past-one-machine.md'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
