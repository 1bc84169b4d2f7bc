"""``python -m benchmarks.scale.flood``: what a chat flooder costs the readers of prices.

One run, two kinds of case, in alternation: N WebSocket readers of ``prices``
on the lab (one process, the engineered path), alone; and the same readers
beside a chat flooder (:mod:`benchmarks.scale.flooder`) posting as fast as it
can from a few connections. The lab refuses nearly all of the flood with
``429`` (its post limit), so what the flooder can still take from the readers
is the server's time to read, refuse and answer each post. The readers'
latency (p50/p99) with and without the flooder is printed side by side, pair
after pair (the order alternating, so that the machine's drift favours
neither), with the flooder's answers; ``results.json`` keeps every raw
scenario (the flooded ones carry ``flood``: posts answered and refused).

Every case is the scale suite's own, run by :class:`~benchmarks.scale.output.ScaleRun`.
The defaults (1,000 readers, 10 s windows, 2 pairs) take about two minutes.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from benchmarks.scale.cases import Case
from benchmarks.scale.output import ScaleRun
from benchmarks.suite.rundir import default_out_dir, new_results, run_until_stopped

FLOOD = "flood"
"""The cases' ``purpose``."""


def flood_plan(clients: int, duration_s: float, pairs: int, flooders: int) -> list[Case]:
    """Pair after pair: readers alone and readers beside the flooder, the order alternating."""
    cases = []
    for pair in range(1, pairs + 1):
        both = [Case("lab", "websocket", clients, duration_s=duration_s, purpose=FLOOD,
                     repeat=pair, flooders=f) for f in (0, flooders)]
        cases += both if pair % 2 else both[::-1]
    return cases


def _ms(value: Any) -> str:
    return "—" if value is None else f"{value:.1f}"


def flood_table(scenarios: list[dict[str, Any]]) -> str:
    """The readers' latency alone and flooded, pair by pair, with the flooder's answers."""
    lines = [("| pair | readers alone p50 / p99 ms | beside the flooder p50 / p99 ms "
              "| flood: answered / refused (429) / posts per s |"),
             "|---|---|---|---|"]
    by_pair: dict[int, dict[bool, dict[str, Any]]] = {}
    for s in scenarios:
        if s["status"] == "ok" and s["params"].get("purpose") == FLOOD:
            by_pair.setdefault(s["params"]["repeat"], {})[bool(s["params"].get("flooders"))] = s
    for pair, two in sorted(by_pair.items()):
        alone, flooded = two.get(False, {}), two.get(True, {})
        a, f = alone.get("latency_ms") or {}, flooded.get("latency_ms") or {}
        flood = flooded.get("flood") or {}
        total = flood.get("posted", 0) + flood.get("limited", 0) + flood.get("other", 0)
        rate = total / flood["seconds"] if flood.get("seconds") else None
        lines.append(f"| {pair} | {_ms(a.get('p50'))} / {_ms(a.get('p99'))} "
                     f"| {_ms(f.get('p50'))} / {_ms(f.get('p99'))} "
                     f"| {flood.get('posted', '—')} / {flood.get('limited', '—')} / "
                     f"{'—' if rate is None else f'{rate:,.0f}'} |")
    return "\n".join(lines) + "\n"


async def run_cases(run: ScaleRun, cases: list[Case], seed: int) -> None:
    """Run and record the cases one after the other."""
    for case in cases:
        await run.run(case, seed)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale.flood",
                                     description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add("--clients", type=int, default=1000, help="WebSocket readers of prices")
    add("--duration", type=float, default=10.0, help="timed window of each case, seconds")
    add("--pairs", type=int, default=2, help="pairs of cases (alone, flooded)")
    add("--flooders", type=int, default=4, help="the flooder's connections (each an identity)")
    add("--out", type=Path, help="output directory (default: reports/<timestamp>-flood)")
    add("--seed", type=int, default=1, help="seed of the feeds and subsamples")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 when every case ran, 1 if one errored, 2 on bad usage, 130 on Ctrl-C."""
    args = build_parser().parse_args(argv)
    if (not 1 <= args.clients <= 19_000 * 8 or args.duration <= 0 or not 1 <= args.pairs <= 9
            or not 1 <= args.flooders <= 64):
        print("error: --clients 1..152000, --duration > 0, --pairs 1..9, --flooders 1..64",
              file=sys.stderr)
        return 2
    try:
        run = ScaleRun(args.out or default_out_dir("-flood"), new_results("scale-flood", args.seed))
    except OSError as exc:
        print(f"error: cannot write the results: {exc.strerror}", file=sys.stderr)
        return 2
    cases = flood_plan(args.clients, args.duration, args.pairs, args.flooders)
    finished = run_until_stopped(run_cases(run, cases, args.seed), (signal.SIGINT, signal.SIGTERM))
    status = run.finish(finished, build_report=False)
    table = flood_table(run.scenarios)
    (run.out_dir / "flood.md").write_text(table)
    print(f"\n{table}\nflood: {run.out_dir / 'flood.md'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
