"""What the runner shows on the terminal: the scenario list, progress with ETA, a summary.

Progress is counted in estimated seconds (:meth:`Scenario.estimate_s`), so the
ETA weighs a 1,000-client scenario more than a one-client one; within a
scenario the bar creeps forward with the clock, capped at its estimate.
Nothing here measures anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Self

from rich import progress as rp
from rich.console import Console
from rich.table import Table

from benchmarks.results.model import Results, ScenarioResult
from benchmarks.suite.scenarios import Scenario

terminal = Console()
"""Where both suites print for a person (rich markup allowed)."""
if not terminal.is_terminal:  # a pipe or a file: don't wrap at 80 columns
    terminal = Console(width=160)


def print_list(suites: Mapping[str, Sequence[Scenario]]) -> None:
    """Every suite with its scenarios and an estimated duration."""
    for name, scenarios in suites.items():
        estimate = sum(s.estimate_s() for s in scenarios)
        terminal.print(f"[bold]{name}[/]: {len(scenarios)} scenarios, about {estimate:.0f} s")
        for s in scenarios:
            detail = f"{s.transport}, {s.clients} client{'s' if s.clients > 1 else ''}"
            if s.interval_s:
                detail += f", every {s.interval_s:g} s"
            if s.delay_ms:
                detail += f", delay {s.delay_ms:g} ms"
            if s.rate != 10:
                detail += f", {s.rate:g} msg/s"
            if s.cut_every_s:
                detail += f", cut every {s.cut_every_s:g} s"
            if not s.relay:
                detail += ", no relay"
            terminal.print(f"  {s.name:<34} {s.group:<10} {detail}")


class Progress:
    """A rich progress bar over a list of scenarios, with a line per finished one."""

    def __init__(self, scenarios: Sequence[Scenario]) -> None:
        self._bar = rp.Progress(
            rp.SpinnerColumn(), rp.TextColumn("{task.description}"), rp.BarColumn(),
            rp.TextColumn("{task.fields[count]}"), rp.TimeElapsedColumn(),
            rp.TextColumn("ETA"), rp.TimeRemainingColumn(), console=terminal, transient=True,
        )
        self._total = len(scenarios)
        self._task = self._bar.add_task("starting", total=sum(s.estimate_s() for s in scenarios),
                                        count=f"0/{self._total}")
        self._base = 0.0
        self._current = 0.0
        self._started = 0.0
        self._index = 0
        self._ticker: asyncio.Task[None] | None = None

    def __enter__(self) -> Self:
        self._bar.start()
        self._ticker = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        self._bar.stop()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            elapsed = time.monotonic() - self._started
            self._bar.update(self._task, completed=self._base + min(elapsed, 0.95 * self._current))

    def begin(self, scenario: Scenario) -> None:
        """A scenario starts."""
        self._index += 1
        self._current = scenario.estimate_s()
        self._started = time.monotonic()
        self._bar.update(self._task, description=scenario.name,
                         count=f"{self._index}/{self._total}")

    def done(self, result: ScenarioResult) -> None:
        """A scenario finished (ok or error): print one line for it."""
        self._base += self._current
        self._current = 0.0
        self._bar.update(self._task, completed=self._base)
        self.note(_one_line(result))

    def note(self, text: str) -> None:
        """Print above the bar."""
        self._bar.console.print(text)


def _one_line(r: ScenarioResult) -> str:
    if r.status != "ok":
        return f"[red]✗[/] {r.name}: {r.status} — {r.error}"
    lat = r.latency_ms
    text = f"[green]✓[/] {r.name}"
    if lat and lat.count:
        text += f"  latency p50 {lat.p50:.1f} ms p99 {lat.p99:.1f} ms"
    if r.staleness_ms and r.staleness_ms.count:
        text += f"  staleness p50 {r.staleness_ms.p50:.0f} ms"
    if r.recovery_ms and r.recovery_ms.count:
        text += f"  recovery p50 {r.recovery_ms.p50:.0f} ms"
    if r.flags:
        text += f"  [yellow]{'; '.join(r.flags)}[/]"
    return text


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def print_summary(results: Results, elapsed_s: float) -> None:
    """A table of every scenario's headline figures."""
    table = Table(title=f"{results.suite} suite — {len(results.scenarios)} scenarios in "
                  f"{elapsed_s:.0f} s", title_justify="left")
    for column in ("scenario", "clients", "p50 ms", "p99 ms", "stale p50 ms", "req/min/client",
                   "bytes/msg", "server µs/msg", "notes"):
        table.add_column(column, justify="left" if column in ("scenario", "notes") else "right")
    for r in results.scenarios:
        clients = int(r.params.get("clients", 1))
        if r.status != "ok":
            table.add_row(r.name, str(clients), *["–"] * 6, f"[red]{r.status}[/]: {r.error}")
            continue
        lat, stale, wire = r.latency_ms, r.staleness_ms, r.wire_window
        per_min = bytes_per = cpu_per = None
        if wire and r.window_s:
            per_min = wire.requests / r.window_s * 60 / clients
        if wire and r.delivered:
            bytes_per = (wire.bytes_sent + wire.bytes_received) / r.delivered
        if r.server and r.delivered:
            cpu_per = r.server.cpu_s / r.delivered * 1e6
        table.add_row(
            r.name, str(clients), _fmt(lat.p50 if lat else None), _fmt(lat.p99 if lat else None),
            _fmt(stale.p50 if stale else None, 0), _fmt(per_min), _fmt(bytes_per, 0),
            _fmt(cpu_per, 0), "; ".join(r.flags) or (r.error or ""),
        )
    with contextlib.suppress(BrokenPipeError):
        terminal.print(table)
