"""The table of a paired run: each pair's base and head figures, their medians, head/base.

The figures are the scale suite's own, read from the scenarios as results.json
holds them, exactly as the report's scale chapter reads them
(:func:`benchmarks.report.scale_tables.points`): *CPU per delivery* is
``server.cpu_us_per_delivery`` (the server's CPU over the timed window / the
messages delivered in it, in µs) and *p99* is ``latency_ms.p99`` (publish to the
kernel's arrival at a timed client, in ms). Every figure is measured; the
medians are over the pairs, and head/base divides the head's figure by the
base's (the median row: the head's median by the base's). Pure functions: the
scenarios in, Markdown out; running the pairs is :mod:`benchmarks.scale.paired`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

from benchmarks.report.tables import stat

PAIRED = "paired"
"""The ``purpose`` of a paired run's cases."""
LABELS = ("base", "head")
"""The two versions, as their cases' sources are labelled."""


@dataclass(frozen=True, slots=True)
class Figures:
    """One version's figures in one pair: CPU µs per delivery, p99 ms, its scenario and flags
    (None for a figure the scenario lacks: it errored, or was interrupted)."""

    scenario: str
    cpu_us: float | None
    p99_ms: float | None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Pair:
    """One pair of one transport: which version ran first, and both versions' figures."""

    number: int
    first: str
    base: Figures | None
    head: Figures | None


def order(pair: int) -> tuple[str, str]:
    """Which version runs first in pair ``pair`` (from 1): base first in odd pairs, head first
    in even ones, so the runs go base, head, head, base, base, head…"""
    return LABELS if pair % 2 else (LABELS[1], LABELS[0])


def figures(scenario: Mapping[str, Any]) -> Figures:
    """A scenario's two figures, read the way the scale chapter reads them (a scenario that
    errored or was interrupted has neither)."""
    return Figures(scenario=scenario["name"],
                   cpu_us=stat(dict(scenario), "server", "cpu_us_per_delivery"),
                   p99_ms=stat(dict(scenario), "latency_ms", "p99"),
                   flags=tuple(scenario.get("flags") or ()))


def pairs(scenarios: Sequence[Mapping[str, Any]]) -> dict[str, list[Pair]]:
    """Per transport (in the order first run), its pairs in order."""
    found: dict[str, dict[int, dict[str, Figures]]] = {}
    for s in scenarios:
        params = s.get("params") or {}
        label = (params.get("source") or {}).get("label")
        if params.get("purpose") != PAIRED or label not in LABELS:
            continue
        pair = found.setdefault(params["transport"], {}).setdefault(int(params["repeat"]), {})
        pair[label] = figures(s)
    return {transport: [Pair(number, order(number)[0], versions.get("base"),
                             versions.get("head"))
                        for number, versions in sorted(by_pair.items())]
            for transport, by_pair in found.items()}


def commits(scenarios: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Each version's commit, as its cases recorded it."""
    found: dict[str, str] = {}
    for s in scenarios:
        source = (s.get("params") or {}).get("source") or {}
        if source.get("label") in LABELS:
            found.setdefault(source["label"], str(source.get("commit")))
    return found


def mid(values: Sequence[float | None]) -> float | None:
    """The median of the figures present (None if none is)."""
    present = [v for v in values if v is not None]
    return median(present) if present else None


def ratio(head: float | None, base: float | None) -> float | None:
    """head / base as a percentage (None when either is missing, or base is 0)."""
    return 100.0 * head / base if head is not None and base else None


def _fmt(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def _row(head: str, first: str, cpu: tuple[float | None, float | None],
         p99: tuple[float | None, float | None]) -> str:
    cells = [head, first, _fmt(cpu[0], 2), _fmt(cpu[1], 2), _pct(ratio(cpu[1], cpu[0])),
             _fmt(p99[0], 1), _fmt(p99[1], 1), _pct(ratio(p99[1], p99[0]))]
    return "| " + " | ".join(cells) + " |"


def transport_table(transport: str, runs: Sequence[Pair]) -> list[str]:
    """One transport's section: a row per pair, the medians, the scenarios and their flags."""
    def cpu(f: Figures | None) -> float | None:
        return f.cpu_us if f else None

    def p99(f: Figures | None) -> float | None:
        return f.p99_ms if f else None

    lines = [f"### {transport} (measured)", "",
             ("| pair | first | CPU µs/delivery, base | head | head/base "
              "| p99 ms, base | head | head/base |"),
             "|---|---|--:|--:|--:|--:|--:|--:|"]
    lines += [_row(str(p.number), p.first, (cpu(p.base), cpu(p.head)),
                   (p99(p.base), p99(p.head))) for p in runs]
    lines.append(_row(f"median of {len(runs)}", "",
                      (mid([cpu(p.base) for p in runs]), mid([cpu(p.head) for p in runs])),
                      (mid([p99(p.base) for p in runs]), mid([p99(p.head) for p in runs]))))
    ran = [f for p in runs for f in (p.base, p.head) if f]
    lines += ["", "Scenarios in results.json: " + ", ".join(f"`{f.scenario}`" for f in ran)
              + "."]
    lines += [f"- ⚑ `{f.scenario}`: {flag}" for f in ran for flag in f.flags]
    return [*lines, ""]


def paired_markdown(scenarios: Sequence[Mapping[str, Any]]) -> str:
    """The whole paired.md: which commits, how to read it, a section per transport."""
    known = commits(scenarios)
    lines = ["# Paired runs: base and head, alternating", "",
             (f"base `{known.get('base', '?')}`, head `{known.get('head', '?')}`. Every "
             "figure is measured: server CPU per message delivered over the timed window (µs) and "
             "p99 latency from publish to arrival at a timed client (ms), as the scale suite "
             "records them. The median row takes each column's median over the pairs; "
             "head/base is the head's figure over the base's, unrounded (below 100 %: the "
             "head is cheaper or faster). A pair's `first` is the version that ran first in it."), ""]
    by_transport = pairs(scenarios)
    if not by_transport:
        lines.append("No paired case finished.")
    for transport, runs in by_transport.items():
        lines += transport_table(transport, runs)
    return "\n".join(lines).rstrip() + "\n"
