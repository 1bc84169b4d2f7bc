"""Build the charts and ``report.md`` / ``report.html`` of one saved run, without rerunning it.

:func:`build` (which both suites call at the end of a run, and
``python -m benchmarks.report`` calls on a saved one) reads only
``results.json``, ``samples.csv`` and ``staleness.csv``, writes PNG + SVG charts
and the two reports into the same directory, and returns. Prices and
assumptions come from the run's ``settings``, then from the caller's overrides;
every one has a default. This module only wires things together: tables are
computed in :mod:`benchmarks.report.tables` / :mod:`benchmarks.report.tables_groups`,
sentences in :mod:`benchmarks.report.narrative`, Markdown in
:mod:`benchmarks.report.render`.

A run directory that also holds a reconnect storm's or a soak's results
(:mod:`benchmarks.storm`) gets them under its faults (:mod:`benchmarks.report.storm_chapter`).

A run of the scale suite (:mod:`benchmarks.scale`) gets its own chapter
instead, from ``reports/template/scale.md`` and
:mod:`benchmarks.report.scale_chapter`: it has no trader, sweep or relay to
report on.
"""

from __future__ import annotations

import dataclasses
import string
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.report import (
    anatomy,
    broker_chapter,
    charts,
    narrative,
    render,
    scale_chapter,
    storm_chapter,
    web_chapters,
)
from benchmarks.report.scale_tables import is_scale_suite
from benchmarks.report.tables import (
    at_delay,
    bandwidth_rows,
    reference_delay,
    staleness_cost_rows,
    trader_rows,
    transport_key,
)
from benchmarks.report.tables_groups import (
    burst_rows,
    fault_rows,
    longpoll_worst_rows,
    scale_rows,
    sweep_rows,
    theory_points,
)
from benchmarks.results.costs import CostSettings
from benchmarks.results.rundata import RunData, load_run
from benchmarks.results.transports import STREAMED

TEMPLATES = Path(__file__).resolve().parents[2] / "reports" / "template"
"""Where ``report.md`` (Markdown with ``${placeholders}``) and ``report.html`` (the shell) live."""

PROVENANCE = """\
- Latency percentiles (p50, p99, max): `latency_ms` of each scenario in results.json, over its
  timed window (`window_s`); the CDFs: `latency_us` in samples.csv.
- Staleness: `staleness_ms` in results.json (mean); "from samples": `staleness_us` in
  staleness.csv, one GBM draw per row.
- Bytes per update: the scenario's `wire` counters (request + response headers, framing, body)
  divided by `wire.messages`; "relay B/update" is `relay.bytes_upstream + bytes_downstream`
  over the same messages, the ground truth the split must match.
- Requests per minute: `server.stats.requests` over `window_s` (else `wire.requests` over
  warm-up + duration), per client.
- Server CPU per message: `server.cpu_s / delivered`; memory per client:
  `(server.peak_rss_bytes − server.rss_start_bytes) / clients`.
- Each table names its scenario in its last column; the cost and bandwidth tables use the trader
  scenarios at the reference delay.
- Chapters 10 and 11 (the web group): `web.measured.<transport>.<route>` and
  `web.probes.<probe>.<transport>` in results.json; each measured case's latency samples are the
  rows of samples.csv named `web-<route>-<transport>`. Mbps at 1,000 clients are extrapolated
  from the measured bytes per update."""


def resolve_settings(
    results: dict[str, Any], overrides: dict[str, Any] | None
) -> tuple[CostSettings, list[str]]:
    """Defaults ← the run's ``settings`` ← ``overrides``; also the names the overrides changed."""
    names = {f.name for f in dataclasses.fields(CostSettings)}
    unknown = set(overrides or {}) - names
    if unknown:
        raise ValueError(f"unknown report setting(s): {', '.join(sorted(unknown))}")
    from_run = {k: v for k, v in (results.get("settings") or {}).items() if k in names}
    try:
        base = CostSettings(**from_run)
        chosen = dataclasses.replace(base, **{k: v for k, v in (overrides or {}).items()
                                              if v is not None})
    except TypeError as exc:
        raise ValueError(f"bad report setting: {exc}") from exc
    changed = [f"{k} = {getattr(chosen, k):g} (run: {getattr(base, k):g})"
               for k in sorted(names) if getattr(chosen, k) != getattr(base, k)]
    return chosen, changed


def run_info(run: RunData, run_dir: Path) -> str:
    """One paragraph naming the run, its environment and any scenario that did not finish."""
    r, env = run.results, run.results.get("environment") or {}
    text = (
        f"Run `{run_dir.name}`: suite **{r.get('suite', '?')}**, seed {r.get('seed', '?')}, "
        f"created {r.get('created', '?')}; Python {env.get('python', '?')}, aiohttp "
        f"{env.get('aiohttp', '?')}, {env.get('os', '?')}, {env.get('cpu_count', '?')} CPUs. "
        f"{len(run.scenarios)} scenarios finished."
    )
    if run.failed:
        names = ", ".join(f"`{s['name']}` ({s.get('status')}: {s.get('error') or '—'})"
                          for s in run.failed)
        text += f" Not used (did not finish): {names}."
    return text


def _latency_by_delay(run: RunData) -> list[tuple[float, dict[str, np.ndarray]]]:
    rows = trader_rows(run)
    out = []
    for delay in sorted({r.delay_ms for r in rows}):
        series = {r.transport: run.latency_ms.get(r.scenario, np.empty(0))
                  for r in at_delay(rows, delay)}
        out.append((delay, series))
    return out


def build(run_dir: Path, settings_overrides: dict[str, Any] | None = None) -> Path:
    """Write the charts, report.md and report.html into ``run_dir``; return report.html's path.

    Raises :class:`RunDataError` (a ``ValueError``) for an unreadable run and
    ``ValueError`` for an unknown or invalid setting.
    """
    run = load_run(run_dir)
    settings, changed = resolve_settings(run.results, settings_overrides)
    if any(is_scale_suite(s) for s in run.results["scenarios"]):
        fields = {"run_info": run_info(run, run_dir), "run_dir": str(run_dir),
                  **scale_chapter.fields(run, run_dir)}
        return _write(run_dir, "scale.md", fields, "scale report")
    trader = trader_rows(run)
    reference = at_delay(trader, reference_delay(trader, settings.reference_delay_ms))
    cost = staleness_cost_rows(run, settings)
    band = bandwidth_rows(run, settings)
    worst, sweep, scale = longpoll_worst_rows(run), sweep_rows(run), scale_rows(run)
    faults, bursts = fault_rows(run), burst_rows(run)
    freshest_push = min((c for c in cost if c.transport in STREAMED),
                        key=lambda c: c.staleness_mean_ms, default=None)
    push_staleness = {r.transport: r.staleness_mean_ms for r in reference
                      if r.transport in STREAMED and r.staleness_mean_ms is not None}
    drawn = [
        charts.chart_latency_cdf(run_dir, _latency_by_delay(run)),
        charts.chart_latency_vs_delay(run_dir, theory_points(run)),
        charts.chart_staleness_sweep(run_dir, sweep, push_staleness),
        charts.chart_bytes_per_update(run_dir, reference),
        charts.chart_requests_per_minute(run_dir, reference),
        charts.chart_scale(run_dir, scale),
    ]
    captured = run.results.get("anatomy") or {}
    order = sorted(captured, key=transport_key)
    fields = {
        "run_info": run_info(run, run_dir),
        "run_dir": str(run_dir),
        "conclusions": render.bullets([
            narrative.latency(reference),
            narrative.staleness(cost, settings),
            narrative.bandwidth(reference, band),
            narrative.rfc6202(worst),
            narrative.sweep(sweep, freshest_push),
            narrative.scale(scale),
            narrative.faults(faults),
        ]),
        "staleness_cost": render.staleness_cost(cost, settings),
        "bandwidth": render.bandwidth(band),
        "longpoll": render.longpoll_worst(worst),
        "trader": render.trader(trader),
        "sweep": render.sweep(sweep),
        "scale": render.scale(scale),
        "bursts": render.bursts(bursts),
        "faults": "\n\n".join(filter(None, [render.faults(faults),
                                             storm_chapter.section(run_dir)])),
        "anatomy": anatomy.render_anatomy(captured, order) or "*No captures in this run.*",
        "http2": web_chapters.http2_chapter(run.results.get("web")),
        "proxy": web_chapters.proxy_chapter(run.results.get("web")),
        "compression": web_chapters.compression_section(run.results.get("web")),
        "broker": broker_chapter.section(run_dir),
        "assumptions": render.assumptions(settings, changed),
        "provenance": PROVENANCE,
    }
    fields.update({f"chart_{c.name.replace('-', '_')}": render.chart(c) for c in drawn})
    return _write(run_dir, "report.md", fields, "report")


def _write(run_dir: Path, template_name: str, fields: dict[str, str], kind: str) -> Path:
    """Fill a Markdown template into report.md and report.html; return report.html's path."""
    template = string.Template((TEMPLATES / template_name).read_text(encoding="utf-8"))
    markdown = template.substitute(fields)
    (run_dir / "report.md").write_text(markdown, encoding="utf-8")
    shell = (TEMPLATES / "report.html").read_text(encoding="utf-8")
    html = render.to_html(markdown, shell, f"Right Now Lab {kind} — {run_dir.name}", run_dir)
    target = run_dir / "report.html"
    target.write_text(html, encoding="utf-8")
    return target
