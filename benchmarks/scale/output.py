"""The scale suite's run directory and what it prints: the plan, a line per case, a summary.

results.json follows the runner's model (:mod:`benchmarks.results.model`; it is
validated on every save), including its optional scale fields: per scenario
``server.cpu_us_per_delivery``, ``server.rss_per_connection_bytes``,
``server.requests_per_cpu_s``, ``server.fanout_ms``, ``loss``, ``loadgen_utils``,
``machine_speed_ms`` and, for the soak, ``rss_series``; at the top level
``breaking_points``. The file is rewritten after every case, so an interrupted
run keeps what it finished. It does not run a case (:mod:`benchmarks.scale.runner`)
nor hold what every run directory shares: logs, Ctrl-C, the report and the exit
status are :mod:`benchmarks.suite.rundir`'s.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.results.files import SAMPLES_COLUMNS, append_rows, write_document
from benchmarks.results.model import Results, ResultsError, ScenarioResult
from benchmarks.results.scale_verdicts import STEP_MARK
from benchmarks.scale.cases import Case
from benchmarks.scale.figures import scenario_dict
from benchmarks.scale.runner import run_case
from benchmarks.suite.console import terminal
from benchmarks.suite.rundir import RunDirectory, default_out_dir, new_results


class ScaleRun(RunDirectory):
    """One run directory and the scenarios recorded so far."""

    def __init__(self, out_dir: Path, base: Results) -> None:
        super().__init__(out_dir)
        self.base = base
        self.scenarios: list[dict[str, Any]] = []
        self.breaking_points: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.save()

    @classmethod
    def create(cls, out_dir: Path | None, seed: int) -> ScaleRun:
        """A new run directory (default ``reports/<timestamp>-scale``)."""
        return cls(out_dir or default_out_dir("-scale"), new_results("scale", seed))

    def document(self) -> dict[str, Any]:
        """The results.json document."""
        doc = self.base.to_dict()
        doc["scenarios"] = self.scenarios
        doc["breaking_points"] = self.breaking_points
        return doc

    def save(self) -> None:
        """Validate against the model and write results.json atomically."""
        doc = self.document()
        try:
            Results.from_dict(doc)
        except ResultsError as exc:  # our own bug: say so, keep the file for inspection
            print(f"warning: results.json does not validate: {exc}", file=sys.stderr)
        write_document(doc, self.out_dir)

    async def run(self, case: Case, seed: int) -> dict[str, Any]:
        """Run one case, record it, print one line; returns its scenario."""
        print(f"{self.elapsed()} {case.name} ({case.swarms} swarm process"
              f"{'es' if case.swarms > 1 else ''}) …", flush=True)
        try:
            scenario, samples = await run_case(case, seed, self.log_dir)
        except asyncio.CancelledError:
            self.record(scenario_dict(ScenarioResult(
                name=case.name, group="scale", params=case.params(), status="interrupted",
                error="interrupted by the user", transport=case.transport), {}), [])
            raise
        self.record(scenario, samples)
        print(f"{self.elapsed()}   {summary_line(scenario)}", flush=True)
        return scenario

    def record(self, scenario: dict[str, Any],
               samples: list[tuple[int, int, int, int, int]]) -> None:
        """Add a scenario (replacing one of the same name) and its sample rows."""
        self.scenarios = [s for s in self.scenarios if s["name"] != scenario["name"]]
        self.scenarios.append(scenario)
        if samples:
            append_rows(self.out_dir / "samples.csv", SAMPLES_COLUMNS,
                        ((scenario["name"], scenario["transport"], c, seq, t, r, a - t, a)
                         for c, seq, t, r, a in samples))
        self.save()

    def add_breaking_point(self, entry: dict[str, Any]) -> None:
        """Record one transport's breaking point."""
        self.breaking_points.append(entry)
        print(f"{self.elapsed()} breaking point {entry['transport']} on {entry['server']}: "
              f"{entry['clients'] or 'none'} clients (tested up to {entry['limit_tested']})",
              flush=True)
        self.save()

    def elapsed(self) -> str:
        """``[mm:ss]`` since the run started."""
        s = int(time.monotonic() - self.started)
        return f"[{s // 60:02d}:{s % 60:02d}]"

    def finish(self, finished: bool, build_report: bool) -> int:
        """Drop spent logs, print the summary, build the report; return the exit status."""
        self.cleanup_logs()
        print(summary_table(self.scenarios, self.breaking_points))
        failed = any(s["status"] != "ok" for s in self.scenarios)
        return self.close(finished, build_report, failed, "cases")


def _fmt(value: Any, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def summary_line(s: dict[str, Any]) -> str:
    """One scenario in a line: latency, CPU per delivery, memory, loss, flags."""
    if s["status"] != "ok":
        return f"{s['status']}: {s.get('error')}"
    lat, server, lost = s.get("latency_ms") or {}, s.get("server") or {}, s.get("loss") or {}
    rps = server.get("requests_per_cpu_s")
    cost = (f"{_fmt(rps, 0)} req/CPU-s" if s["transport"] == "poll"
            else f"{_fmt(server.get('cpu_us_per_delivery'), 2)} µs/delivery")
    bad = {k: v for k, v in lost.items() if v and k != "duplicates"}
    return (f"p50 {_fmt(lat.get('p50'))} p95 {_fmt(lat.get('p95'))} p99 {_fmt(lat.get('p99'))} ms"
            f" | {cost} | {_fmt((server.get('rss_per_connection_bytes') or 0) / 1024)} KB/conn"
            f" | loss {bad or 0} | loadgen max {_fmt(100 * max(s.get('loadgen_utils') or [0]), 0)}%"
            + (f" | {'; '.join(s['flags'])}" if s.get("flags") else ""))


def summary_table(scenarios: list[dict[str, Any]], breaking: list[dict[str, Any]]) -> str:
    """All scenarios and breaking points as plain text."""
    lines = ["", "scale suite:"]
    lines += [f"  {s['name']:<44} {summary_line(s)}" for s in scenarios]
    if breaking:
        lines.append("breaking points (p95 < 100 ms, zero loss; ? = undetermined):")
        lines += [f"  {b['transport']:<9} {b['server']:<13} {b['clients'] or 'none'} (steps: "
                  + ", ".join(f"{x['clients']}{STEP_MARK[x['holds']]}" for x in b["steps"]) + ")"
                  for b in breaking]
    return "\n".join(lines)


def print_plan(cases: Sequence[Case], steps: Sequence[int]) -> None:
    """The suite's fixed cases (:func:`benchmarks.scale.cases.plan`) and its breaking-point steps.

    The estimate counts each case's connect, warm-up, window and drain; the
    breaking-point search adds one case per step it needs, which depends on the results.
    """
    estimate = sum(3.0 + c.clients / 1000 + c.warmup_s + c.duration_s + c.drain_s for c in cases)
    terminal.print(f"[bold]scale[/]: {len(cases)} cases, about {estimate:.0f} s, then a "
                   "breaking-point search (python -m benchmarks.scale)")
    for c in cases:
        detail = f"{c.transport} on {c.server}, {c.clients:,} clients, {c.swarms} swarm process"
        detail += "es" if c.swarms > 1 else ""
        if c.interval_s is not None:
            detail += f", poll every {c.interval_s:g} s" if c.interval_s else ", closed-loop polls"
        if c.soak_every_s:
            detail += f", {c.duration_s:g} s soak, RSS every {c.soak_every_s:g} s"
        terminal.print(f"  {c.name:<44} {c.purpose:<8} {detail}")
    terminal.print(f"  breaking points: push transports stepped over N = "
                   f"{', '.join(f'{n:,}' for n in steps)} until p95 ≥ 100 ms or a loss")
