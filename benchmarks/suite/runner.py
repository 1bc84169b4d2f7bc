"""The standard suites' run: scenarios one after another, each recorded as soon as it ends.

Scenarios run one after another (two cores leave no room for overlap), each
through :func:`benchmarks.suite.harness.run_scenario`. After every scenario
``results.json`` is rewritten and its rows appended to ``samples.csv`` and
``staleness.csv``, so an interrupted run keeps what it finished. Ctrl-C stops
the scenario in progress (recorded as ``interrupted``); the harness kills its
child processes. The web group (:mod:`benchmarks.web.group`: nginx in front of the
lab, HTTP/1.1 and HTTP/2) runs after the scenarios, when asked, and is saved as
results.json's ``web``; without nginx it is recorded as skipped, with the reason.
Choosing the scenarios and the command line are
:mod:`benchmarks.run`'s; what every run directory shares is
:mod:`benchmarks.suite.rundir`'s.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.results.files import SAMPLES_COLUMNS, STALENESS_COLUMNS, append_rows, save
from benchmarks.results.model import Anatomy, Results, ScenarioResult
from benchmarks.suite import console
from benchmarks.suite.harness import Outcome, run_scenario
from benchmarks.suite.rundir import RunDirectory
from benchmarks.suite.scenarios import Scenario
from benchmarks.web.cases import WebSize
from benchmarks.web.compression import compression
from benchmarks.web.group import nginx_missing, run_group, skipped
from clients import ClientError
from lab.proxy.nginx import ProxyError


class Run(RunDirectory):
    """One run's output directory and the results accumulated so far."""

    def __init__(self, out_dir: Path, results: Results) -> None:
        super().__init__(out_dir)
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

    def record_web(self, document: dict[str, Any], rows: Sequence[tuple[Any, ...]] = ()) -> None:
        """Save the web group's document (or why it did not run) in results.json, and its
        latency samples in samples.csv."""
        append_rows(self.out_dir / "samples.csv", SAMPLES_COLUMNS, rows)
        self.results = dataclasses.replace(self.results, web=document)
        save(self.results, self.out_dir)


def interrupted(scenario: Scenario) -> ScenarioResult:
    """The record of a scenario cut short by Ctrl-C."""
    return ScenarioResult(name=scenario.name, group=scenario.group, params=scenario.params(),
                          status="interrupted", error="stopped by Ctrl-C")


async def run_all(run: Run, scenarios: list[Scenario], seed: int) -> None:
    """Run ``scenarios`` in order, recording each; a cancellation (Ctrl-C) records the
    scenario it cut short as interrupted and propagates."""
    with console.Progress(scenarios) as progress:
        for scenario in scenarios:
            progress.begin(scenario)
            started = time.monotonic()
            try:
                outcome = await run_scenario(scenario, seed, run.log_dir)
            except asyncio.CancelledError:
                run.record(Outcome(interrupted(scenario)))
                progress.note(f"[yellow]interrupted[/] {scenario.name}")
                raise
            elapsed = round(time.monotonic() - started, 2)
            outcome = dataclasses.replace(
                outcome, result=dataclasses.replace(outcome.result, elapsed_s=elapsed))
            run.record(outcome)
            progress.done(outcome.result)


async def run_web(run: Run, size: WebSize) -> None:
    """Run the web group and record it: its document; ``skipped`` with the reason when nginx
    is missing (not a failure: the report says why), with the compression cases alone; or
    ``failed`` with what went wrong."""
    missing = nginx_missing()
    if missing is not None:
        console.terminal.print(f"[yellow]web group skipped[/]: {missing}; measuring only "
                               "WebSocket compression, which needs no proxy")
        try:
            run.record_web({**skipped(missing), "compression": await compression(size)})
        except (ClientError, OSError) as exc:
            run.record_web({**skipped(missing), "failed": str(exc)})
        return
    console.terminal.print(f"web group: {size.clients} clients per case, {size.seconds:g} s "
                           "windows, direct and through nginx")
    try:
        document, rows = await run_group(size)
    except (ProxyError, ClientError, OSError) as exc:  # nginx, the lab or a client failed
        console.terminal.print(f"[red]web group failed[/]: {exc}")
        run.record_web({"failed": str(exc)})
        return
    run.record_web(document, rows)
    console.terminal.print("web group: done")
