"""The scale chapter: its tables and sentences in Markdown, from a scale run's rows.

:func:`fields` fills ``reports/template/scale.md`` (the tables of what the
engineering bought are :mod:`benchmarks.report.scale_bought`'s). Tables show each
scenario's flags in the same row as the figures they affect; sentences are
written from the numbers (:mod:`benchmarks.report.narrative` style: a sentence whose
figures are missing is left out, never guessed). Nothing here computes a
figure or a verdict beyond unit conversions and ratios of two shown numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchmarks.report import scale_charts
from benchmarks.report.narrative import ratio
from benchmarks.report.render import bullets, chart, fmt, table
from benchmarks.report.scale_bought import bought, scenario_cell, summary
from benchmarks.report.scale_tables import (
    BreakingRow,
    FanoutRow,
    MachineSpeed,
    ScalePoint,
    Soak,
    breaking_rows,
    compare_clients,
    fanout_rows,
    find,
    machine_speed,
    points,
    soak,
)
from benchmarks.report.scale_targets import Target, targets
from benchmarks.results.rundata import RunData
from benchmarks.results.scale_verdicts import P95_LIMIT_MS, STEP_MARK
from benchmarks.results.transports import STREAMED


def _flags(flags: Sequence[str]) -> str:
    return "; ".join(flags)


def _lost(p: ScalePoint) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in p.lost.items()) or "0"


def cases(rows: Sequence[ScalePoint]) -> str:
    """Every scale-suite case with all its figures and flags."""
    body = [[p.transport, p.series, f"{p.clients:,}", p.purpose, fmt(p.p50_ms), fmt(p.p95_ms),
             fmt(p.p99_ms), fmt(p.cpu_us_per_delivery, 2), fmt(p.kb_per_connection, 2),
             fmt(p.requests_per_cpu_s, 0), _lost(p),
             "—" if p.loadgen_max_util is None else f"{p.loadgen_max_util:.0%}",
             _flags(p.flags), scenario_cell(p)] for p in rows]
    return table(["transport", "server", "N", "case", "p50 (ms)", "p95 (ms)", "p99 (ms)",
                  "CPU µs/delivery", "KB/connection", "requests/CPU-s", "lost",
                  "busiest swarm", "flags", "scenario"], body)


def breaking(rows: Sequence[BreakingRow]) -> str:
    """Where each server's transport broke, and how far it was tested."""
    if not rows:
        return "*No breaking-point search in this run (`--no-breaking`?).*"
    body = [[r.transport, r.server, "none" if not r.held else f"{r.held:,}",
             f"{r.tried_up_to:,}" + ("" if r.limit is None else f" (search up to {r.limit:,})"),
             "—" if r.failed_at is None else f"{r.failed_at:,}: {r.why}",
             ", ".join(f"{n:,} {STEP_MARK[ok]}" for n, ok in r.steps), _flags(r.flags)]
            for r in rows]
    return table(["transport", "server", "largest N held", "tested up to", "first step not held",
                  "steps", "flags at the largest N held"], body)


def fanout(rows: Sequence[FanoutRow]) -> str:
    """Each transport's p99 next to the floor's time for one fan-out at the same N."""
    if not rows:
        return "*The floor did not run in this run: no fan-out times to compare with.*"
    body = [[f"{r.clients:,}", r.point.transport, r.point.series, fmt(r.point.p99_ms),
             fmt(r.fanout_p50_ms), fmt(r.fanout_p99_ms),
             "—" if r.ratio is None else f"{r.ratio:.2f}×", _flags(r.point.flags)] for r in rows]
    return table(["N", "transport", "server", "p99 (ms)", "floor fan-out p50 (ms)",
                  "floor fan-out p99 (ms)", "p99 / fan-out p99", "flags"], body)


def target_table(rows: Sequence[Target]) -> str:
    """The scale targets: what was measured, the target, the verdict and the flags that bear."""
    if not rows:
        return "*No comparison cases in this run: no target can be judged.*"
    body = [[t.item, t.measured, t.target, f"**{t.verdict}**", _flags(t.flags)] for t in rows]
    return table(["target", "measured", "target value", "verdict", "flags"], body)


def short_poll(rows: Sequence[ScalePoint]) -> str:
    """Short poll's requests per CPU-second next to the constant handler's."""
    polls = [p for p in rows if p.transport == "poll" and p.requests_per_cpu_s]
    if not polls:
        return "*No short-poll cases in this run.*"
    constant = find(polls, "poll", "constant")
    base = constant.requests_per_cpu_s if constant else None
    body = [[p.series, f"{p.clients:,}", fmt(p.requests_per_cpu_s, 0),
             "—" if not base else f"{(p.requests_per_cpu_s or 0) / base:.0%}", _flags(p.flags)]
            for p in polls]
    return table(["server", "connections (closed loop)", "requests/CPU-s", "of constant's",
                  "flags"], body)


def memory(rows: Sequence[ScalePoint], n: int | None) -> str:
    """KB per idle connection of each server and transport at the comparison N."""
    mine = [p for p in rows if p.clients == n and p.kb_per_connection is not None
            and p.purpose == "compare"]
    if not mine:
        return "*No memory figures in this run.*"
    body = [[p.transport, p.series, fmt(p.kb_per_connection, 2), _flags(p.flags)] for p in mine]
    return table(["transport", "server", "KB per idle connection", "flags"], body)


def soak_text(soaked: Soak | None) -> str:
    """One sentence on the soak's growth, from its series."""
    if soaked is None or not soaked.series:
        return "*No memory soak in this run.*"
    first, last = soaked.series[0][1], soaked.series[-1][1]
    text = (f"Over {soaked.duration_s / 60:.1f} min with {soaked.clients:,} {soaked.transport} "
            f"clients on {soaked.server}, the server's RSS went from {first / 1e6:,.1f} MB to "
            f"{last / 1e6:,.1f} MB")
    if soaked.history and soaked.warmup_s:
        text += (f" (it kept {soaked.history:,} messages per topic, a buffer full before the "
                 f"window opened {soaked.warmup_s:,.0f} s after every client connected)")
    if soaked.growth_bytes_per_min is not None:
        text += (f"; the least-squares growth is {soaked.growth_bytes_per_min / 1e6:+,.2f} MB per "
                 f"minute ({soaked.growth_bytes_per_min / soaked.clients / 1024:+,.2f} KB per "
                 "client per minute)")
    return text + (f". Flags: {_flags(soaked.flags)}." if soaked.flags else ".")


def verdicts(rows: Sequence[Target]) -> str | None:
    """How many targets were met, which were missed."""
    judged = [t for t in rows if t.met is not None]
    if not judged:
        return None
    missed = [f"{t.item} ({t.target})" for t in judged if not t.met]
    text = f"{sum(bool(t.met) for t in judged)} of {len(judged)} targets measured were met"
    text += f"; missed: {'; '.join(missed)}" if missed else ""
    unmeasured = len(rows) - len(judged)
    return text + (f". {unmeasured} could not be judged from this run." if unmeasured else ".")


def one_core(rows: Sequence[ScalePoint], n: int | None) -> str | None:
    """The lab's CPU per delivery against the floor's at the comparison N."""
    floor = find(rows, "websocket", "floor", n)
    parts = []
    for t in STREAMED:
        lab = find(rows, t, "lab", n)
        if lab is None or lab.cpu_us_per_delivery is None:
            continue
        part = f"{t} {lab.cpu_us_per_delivery:.1f} µs"
        if floor and floor.cpu_us_per_delivery:
            part += f" ({ratio(lab.cpu_us_per_delivery, floor.cpu_us_per_delivery)} the floor)"
        parts.append(part)
    if not parts or n is None:
        return None
    text = f"At N = {n:,} on one process the lab spent per delivered message: {', '.join(parts)}"
    if floor and floor.cpu_us_per_delivery:
        text += f"; the floor's bare send loop {floor.cpu_us_per_delivery:.1f} µs"
    return text + "."


def workers(rows: Sequence[ScalePoint], n: int | None) -> str | None:
    """What the second worker did to p99 at the comparison N, per transport (and its first flag:
    two workers saturate this machine's two cores sooner, which can make them slower)."""
    parts = []
    for t in (*STREAMED, "longpoll"):
        one, two = find(rows, t, "lab", n), find(rows, t, "lab-2workers", n)
        if one and two and one.p99_ms and two.p99_ms:
            flag = f"; flagged: {two.flags[0]}" if two.flags else ""
            parts.append(f"{t} {one.p99_ms:,.0f} → {two.p99_ms:,.0f} ms "
                         f"({ratio(two.p99_ms, one.p99_ms)}{flag})")
    if not parts or n is None:
        return None
    return f"A second worker changed p99 at N = {n:,} as follows: {', '.join(parts)}."


def broke(rows: Sequence[BreakingRow]) -> str | None:
    """The largest N each server held, per transport."""
    if not rows:
        return None
    parts = [f"{r.transport} on {r.server} "
             + (f"{r.held:,}" if r.held else "none")
             + ("" if r.failed_at else f" (no step failed; tested up to {r.tried_up_to:,})")
             + (f" ({r.failed_at:,} undetermined)" if r.undetermined else "")
             for r in rows]
    return (f"Largest N holding p95 < {P95_LIMIT_MS:g} ms with nothing lost: "
            f"{', '.join(parts)}.")


def flagged(rows: Sequence[ScalePoint]) -> str | None:
    """Which cases carry a flag, so no figure is read at face value by mistake."""
    hit = [p for p in rows if p.flags]
    if not hit:
        return "No case was flagged: every figure stands as measured."
    return (f"{len(hit)} of {len(rows)} cases carry a flag (machine saturated, load generator "
            f"saturated, late clients, incomplete delivery…); they are circled on the charts and "
            f"the flag is shown next to each figure below.")


def machine(speed: MachineSpeed | None) -> str | None:
    """How much the machine's own speed varied over the run: the noise every figure carries."""
    if speed is None:
        return None
    return (f"The machine itself: one fixed loop, timed on each core before every case, took "
            f"{speed.fastest_ms:.1f}–{speed.slowest_ms:.1f} ms (median {speed.median_ms:.1f}, "
            f"{speed.readings} readings; the slowest, before `{speed.slowest_before}`, "
            f"{speed.spread:.1f}× the fastest). The host runs these cores at varying speed, "
            f"which the guest's steal time does not show. Every figure here carries that noise: "
            f"compare within one run, and read a target met or missed by a few per cent as "
            f"within it, not settled.")


def fields(run: RunData, run_dir: Path) -> dict[str, str]:
    """The scale template's placeholders: conclusions, tables and charts."""
    rows = points(run)
    n = compare_clients(rows)
    broken = breaking_rows(run, rows)
    soaked = soak(run)
    judged = targets(rows, broken, soaked)
    charts = [scale_charts.chart_cost(run_dir, rows), scale_charts.chart_latency(run_dir, rows),
              scale_charts.chart_soak(run_dir, soaked)]
    return {
        "scale_conclusions": bullets([verdicts(judged), summary(rows, n), one_core(rows, n),
                                      workers(rows, n), broke(broken), flagged(rows),
                                      machine(machine_speed(run))]),
        "scale_bought": bought(rows, n),
        "scale_targets": target_table(judged),
        "scale_cases": cases(rows) if rows else "*No scale-suite cases in this run.*",
        "scale_breaking": breaking(broken),
        "scale_fanout": fanout(fanout_rows(rows)),
        "scale_short_poll": short_poll(rows),
        "scale_memory": memory(rows, n),
        "scale_soak": soak_text(soaked),
        **{f"chart_{c.name.replace('-', '_')}": chart(c) for c in charts},
    }
