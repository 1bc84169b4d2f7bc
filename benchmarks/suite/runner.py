"""The standard suites' run: scenarios one after another, each recorded as soon as it ends.

Scenarios run one after another (two cores leave no room for overlap), each
through :func:`benchmarks.suite.harness.run_scenario`. After every scenario
``results.json`` is rewritten and its rows appended to ``samples.csv`` and
``staleness.csv``, so an interrupted run keeps what it finished. Ctrl-C stops
the scenario in progress (recorded as ``interrupted``); the harness kills its
child processes. Choosing the scenarios and the command line are
:mod:`benchmarks.run`'s.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import signal
import time
from pathlib import Path

from benchmarks.results.files import SAMPLES_COLUMNS, STALENESS_COLUMNS, append_rows, save
from benchmarks.results.model import Anatomy, Results, ScenarioResult
from benchmarks.suite import console
from benchmarks.suite.harness import Outcome, run_scenario
from benchmarks.suite.scenarios import Scenario


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
