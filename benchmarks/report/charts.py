"""The report's charts: matplotlib figures drawn from computed table rows, saved as PNG and SVG.

Each ``chart_*`` function takes rows from :mod:`benchmarks.report.tables` (never
the raw files), draws one figure with the object API (``Figure`` + the Agg
canvas, no pyplot state), saves ``NAME.png`` and ``NAME.svg`` and returns a
:class:`Chart`. With nothing to draw it returns a :class:`Chart` whose
``skipped`` says why, and writes no file. Output is deterministic (no dates
in the files, fixed SVG ids) so a rebuilt report diffs cleanly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from benchmarks.report.tables import TraderRow, transport_key
from benchmarks.report.tables_groups import ScaleRow, SweepRow, TheoryPoint

matplotlib.rcParams["svg.hashsalt"] = "right-now-lab"

COLOURS = {
    "poll": "#d62728", "longpoll": "#ff7f0e", "stream": "#2ca02c",
    "sse": "#1f77b4", "websocket": "#9467bd",
}
OTHER_COLOURS = ("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart: its file stem, title, and either the files written or why it was skipped."""

    name: str
    title: str
    png: Path | None = None
    svg: Path | None = None
    skipped: str | None = None


def colour(transport: str) -> str:
    """A fixed colour per transport, so every chart reads the same way."""
    if transport in COLOURS:
        return COLOURS[transport]
    return OTHER_COLOURS[sum(map(ord, transport)) % len(OTHER_COLOURS)]


def new_figure(width: float = 9.0, height: float = 4.2) -> Figure:
    """An empty figure on the Agg canvas (no pyplot state), sized in inches."""
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _plain_log(ax: Axes) -> None:
    """Label log axes with plain numbers at 1, 2, 5 × 10ⁿ; leave minor ticks unlabelled."""
    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "log":
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            axis.set_minor_formatter(NullFormatter())


def save_chart(figure: Figure, out_dir: Path, name: str, title: str) -> Chart:
    """Write ``NAME.png`` and ``NAME.svg`` (log axes labelled plainly, no dates in the files)."""
    png, svg = out_dir / f"{name}.png", out_dir / f"{name}.svg"
    for ax in figure.axes:
        _plain_log(ax)
    figure.savefig(png, dpi=110, metadata={"Software": None})
    figure.savefig(svg, metadata={"Date": None, "Creator": None})
    return Chart(name, title, png, svg)


def chart_latency_cdf(
    out_dir: Path, by_delay: Sequence[tuple[float, dict[str, np.ndarray]]]
) -> Chart:
    """Latency CDF per transport, one panel per one-way delay (trader scenarios)."""
    name, title = "latency-cdf", "Latency CDF per transport"
    panels = [(d, series) for d, series in by_delay if any(v.size for v in series.values())]
    if not panels:
        return Chart(name, title, skipped="no trader scenarios with latency samples")
    figure = new_figure(4.0 * len(panels) + 1.0, 4.0)
    axes = figure.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (delay, series) in zip(axes, panels, strict=True):
        for transport in sorted(series, key=transport_key):
            values = np.sort(series[transport])
            if not values.size:
                continue
            fraction = np.arange(1, values.size + 1) / values.size
            ax.step(np.maximum(values, 0.01), fraction, where="post", label=transport,
                    color=colour(transport))
        ax.set_xscale("log")
        ax.set_title(f"one-way delay {delay:g} ms")
        ax.set_xlabel("publish → receive latency (ms, log)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("fraction of messages")
    axes[-1].legend(loc="lower right", fontsize="small")
    return save_chart(figure, out_dir, name, title)


def chart_staleness_sweep(
    out_dir: Path, rows: Sequence[SweepRow], push: dict[str, float]
) -> Chart:
    """Mean staleness against poll interval and against requests per minute."""
    name, title = "staleness-sweep", "Staleness vs poll interval vs requests per minute"
    rows = [r for r in rows if r.staleness_mean_ms is not None]
    if not rows:
        return Chart(name, title, skipped="no poll-sweep scenarios with staleness")
    figure = new_figure(10.0, 4.2)
    left, right = figure.subplots(1, 2)
    for transport in sorted({r.transport for r in rows}, key=transport_key):
        mine = [r for r in rows if r.transport == transport]
        x = [r.interval_s for r in mine]
        left.plot(x, [r.staleness_mean_ms for r in mine], "o-", color=colour(transport),
                  label=f"{transport} mean")
        p99 = [(r.interval_s, r.staleness_p99_ms) for r in mine if r.staleness_p99_ms]
        if p99:
            left.plot(*zip(*p99, strict=True), "v--", color=colour(transport), alpha=0.6,
                      label=f"{transport} p99")
        rpm = [(r.requests_per_min, r.staleness_mean_ms) for r in mine if r.requests_per_min]
        if rpm:
            right.plot(*zip(*rpm, strict=True), "o-", color=colour(transport), label=transport)
            for r in mine:
                if r.requests_per_min:
                    right.annotate(f"{r.interval_s:g} s", (r.requests_per_min,
                                   r.staleness_mean_ms), textcoords="offset points",
                                   xytext=(4, 4), fontsize="x-small")
    for transport, value in sorted(push.items(), key=lambda kv: transport_key(kv[0])):
        left.axhline(value, color=colour(transport), linestyle=":", linewidth=1.2,
                     label=f"{transport} (push) mean")
        right.axhline(value, color=colour(transport), linestyle=":", linewidth=1.2)
    left.set(xscale="log", yscale="log", xlabel="poll interval (s, log)",
             ylabel="staleness (ms, log)", title="staleness vs interval")
    right.set(xscale="log", yscale="log", xlabel="requests per minute per client (log)",
              ylabel="mean staleness (ms, log)", title="what each request buys")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
    left.legend(fontsize="x-small")
    return save_chart(figure, out_dir, name, title)


def _label_bars(ax: Axes, tops: Sequence[float], value_format: str, ylabel: str,
                title: str) -> None:
    """Write each bar's value above it (``value_format``), then the y label, the title and
    horizontal grid lines."""
    for x, top in enumerate(tops):
        ax.annotate(value_format.format(top), (x, top), ha="center", va="bottom",
                    fontsize="small")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)


def chart_bytes_per_update(out_dir: Path, rows: Sequence[TraderRow]) -> Chart:
    """Bytes per delivered update, stacked header / framing / payload, per transport."""
    name, title = "bytes-per-update", "Bytes per delivered update"
    rows = [r for r in rows if r.split is not None]
    if not rows:
        return Chart(name, title, skipped="no trader scenarios with wire counters")
    figure = new_figure(8.0, 4.2)
    ax = figure.subplots()
    labels = [r.transport for r in rows]
    bottom = np.zeros(len(rows))
    for part, shade in (("header", "#7f7f7f"), ("framing", "#bcbd22"), ("payload", "#1f77b4")):
        values = np.array([getattr(r.split, part) for r in rows])
        ax.bar(labels, values, bottom=bottom, label=part, color=shade)
        bottom += values
    ax.legend()
    _label_bars(ax, list(bottom), "{:,.0f} B", "bytes per delivered update (both directions)",
                f"{title} (one-way delay {rows[0].delay_ms:g} ms)")
    return save_chart(figure, out_dir, name, title)


def chart_requests_per_minute(out_dir: Path, rows: Sequence[TraderRow]) -> Chart:
    """HTTP requests per minute per client, per transport (server counters, timed window)."""
    name, title = "requests-per-minute", "HTTP requests per minute per client"
    rows = [r for r in rows if r.requests_per_min is not None]
    if not rows:
        return Chart(name, title, skipped="no trader scenarios with request counts")
    figure = new_figure(8.0, 4.0)
    ax = figure.subplots()
    values = [r.requests_per_min or 0.0 for r in rows]
    ax.bar([r.transport for r in rows], values, color=[colour(r.transport) for r in rows])
    _label_bars(ax, values, "{:,.1f}", "requests per minute per client",
                f"{title} (one-way delay {rows[0].delay_ms:g} ms)")
    return save_chart(figure, out_dir, name, title)


def chart_scale(out_dir: Path, rows: Sequence[ScaleRow]) -> Chart:
    """Server CPU per delivered message, memory per client and p99 latency vs clients (log–log)."""
    name, title = "scale", "Server cost and latency vs number of clients"
    if not rows:
        return Chart(name, title, skipped="no scale scenarios")
    figure = new_figure(12.0, 4.0)
    axes = figure.subplots(1, 3)
    panels = (
        ("cpu_us_per_message", "server CPU per delivered message (µs)"),
        ("memory_kb_per_client", "server memory growth per client (KB)"),
        ("p99_ms", "p99 latency (ms)"),
    )
    for ax, (field, label) in zip(axes, panels, strict=True):
        for series in dict.fromkeys(r.series for r in rows):
            mine = [r for r in rows if r.series == series]
            points = [(r.clients, getattr(r, field)) for r in mine if getattr(r, field)]
            if points:
                style = "o-" if mine[0].workers <= 1 else "s--"
                ax.plot(*zip(*points, strict=True), style, color=colour(mine[0].transport),
                        label=series)
        ax.set(xscale="log", yscale="log", xlabel="clients (log)", title=label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize="small")
    return save_chart(figure, out_dir, name, title)


def chart_latency_vs_delay(out_dir: Path, points: Sequence[TheoryPoint]) -> Chart:
    """Measured median and worst latency per one-way delay, with the theoretical lines on top."""
    name, title = "latency-vs-delay", "Latency vs one-way delay, measured and theoretical"
    transports = sorted({p.transport for p in points}, key=transport_key)
    if len({p.delay_ms for p in points}) < 2:
        return Chart(name, title, skipped="fewer than two one-way delays in the trader scenarios")
    figure = new_figure(3.2 * len(transports) + 0.8, 3.8)
    axes = figure.subplots(1, len(transports), squeeze=False)[0]
    for ax, transport in zip(axes, transports, strict=True):
        mine = sorted((p for p in points if p.transport == transport), key=lambda p: p.delay_ms)
        x = [p.delay_ms for p in mine]
        ax.plot(x, [p.p50_ms for p in mine], "o", color=colour(transport), label="measured p50")
        ax.plot(x, [p.max_ms for p in mine], "v", color=colour(transport), alpha=0.6,
                label="measured max")
        if all(p.typical_ms is not None for p in mine):
            ax.plot(x, [p.typical_ms for p in mine], "-", color="black", linewidth=1,
                    label=_typical_label(transport))
            if any(p.worst_ms != p.typical_ms for p in mine):
                ax.plot(x, [p.worst_ms for p in mine], "--", color="black", linewidth=1,
                        label=_worst_label(transport))
        ax.set(title=transport, xlabel="one-way delay d (ms)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="x-small")
    axes[0].set_ylabel("latency (ms)")
    return save_chart(figure, out_dir, name, title)


def _typical_label(transport: str) -> str:
    return "theory: d + interval/2" if transport == "poll" else "theory: d"


def _worst_label(transport: str) -> str:
    return "theory worst: d + interval" if transport == "poll" else "theory worst: 3d (RFC 6202)"
