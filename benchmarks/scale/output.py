"""The scale suite's run directory: results.json, samples.csv, the plan, progress and summary lines.

results.json follows the runner's model (:mod:`benchmarks.results.model`; it is
validated on every save), including its optional scale fields: per scenario
``server.cpu_us_per_delivery``, ``server.rss_per_connection_bytes``,
``server.requests_per_cpu_s``, ``server.fanout_ms``, ``loss``, ``loadgen_utils``,
``machine_speed_ms`` and, for the soak, ``rss_series``; at the top level ``breaking_points``. The
file is rewritten after every case, so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.report.build import build
from benchmarks.results.files import SAMPLES_COLUMNS, append_rows, write_document
from benchmarks.results.model import ReportSettings, Results, ResultsError, ScenarioResult
from benchmarks.results.scale_verdicts import STEP_MARK
from benchmarks.scale.cases import Case
from benchmarks.scale.figures import scenario_dict
from benchmarks.scale.runner import run_case
from benchmarks.suite.console import terminal
from benchmarks.suite.rundir import environment

EXIT_INTERRUPTED = 130


class ScaleRun:
    """One run directory and the scenarios recorded so far."""

    def __init__(self, out_dir: Path, base: Results) -> None:
        self.out_dir = out_dir
        self.log_dir = out_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.base = base
        self.scenarios: list[dict[str, Any]] = []
        self.breaking_points: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.save()

    @classmethod
    def create(cls, out_dir: Path | None, seed: int) -> ScaleRun:
        """A new run directory (default ``reports/<timestamp>-scale``)."""
        out_dir = out_dir or Path("reports") / (datetime.now().strftime("%Y%m%d-%H%M%S") + "-scale")
        base = Results(created=datetime.now(UTC).isoformat(timespec="seconds"), suite="scale",
                       seed=seed, environment=environment(), settings=ReportSettings())
        return cls(out_dir, base)

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

    def execute(self, work: Coroutine[Any, Any, None]) -> bool:
        """Run ``work``; Ctrl-C or SIGTERM cancels it (children are stopped). True if finished."""

        async def main() -> bool:
            task = asyncio.ensure_future(work)
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, task.cancel)
            try:
                await task
                return True
            except asyncio.CancelledError:
                return False

        return asyncio.run(main())

    def finish(self, finished: bool, build_report: bool) -> int:
        """Print the summary, drop empty logs, build the report; return the exit status."""
        for path in self.log_dir.iterdir():
            if path.stat().st_size == 0:
                path.unlink()
        with contextlib.suppress(OSError):
            self.log_dir.rmdir()
        print(summary_table(self.scenarios, self.breaking_points))
        if finished and build_report:
            try:
                print(f"report: {build(self.out_dir)}")
            except Exception as exc:  # noqa: BLE001 - the results stand without a report
                print(f"report: could not be built ({type(exc).__name__}: {exc})",
                      file=sys.stderr)
        print(f"results: {self.out_dir / 'results.json'}")
        if not finished:
            print("interrupted: finished cases are kept", file=sys.stderr)
            return EXIT_INTERRUPTED
        return 1 if any(s["status"] != "ok" for s in self.scenarios) else 0


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
