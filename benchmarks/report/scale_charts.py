"""Charts of the scale chapter: cost and latency against N per transport, and the memory soak.

Drawn from :mod:`benchmarks.report.scale_tables` rows only, with the helpers of
:mod:`benchmarks.report.charts` (object API, deterministic PNG + SVG). One panel per
transport; in each, one line per server: the lab with one worker and with two,
the same lab served the textbook way (``lab-plain``), and the floor (a bare ``send()``
loop) drawn in every panel as the reference no server can beat on one core.
A point whose scenario carries a flag is circled in red: read it with the
flag shown in the tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes

from benchmarks.report.charts import Chart, new_figure, save_chart
from benchmarks.report.scale_tables import ScalePoint, Soak
from benchmarks.report.tables import transport_key

SERVER_STYLE = {
    "lab": ("#1f77b4", "o-"), "lab-2workers": ("#2ca02c", "s--"), "floor": ("#444444", "v:"),
    "lab-plain": ("#ff7f0e", "^-."), "constant": ("#d62728", "D:"),
}
PANELS = ("websocket", "sse", "stream", "longpoll")


def _series(ax: Axes, rows: Sequence[ScalePoint], field: str) -> None:
    """One line per server (the floor's too), flagged points circled."""
    for server in dict.fromkeys(p.server for p in rows):
        mine = sorted((p for p in rows if p.server == server and getattr(p, field) is not None),
                      key=lambda p: p.clients)
        if not mine:
            continue
        colour, style = SERVER_STYLE.get(server, ("#8c564b", "x-"))
        xs, ys = [p.clients for p in mine], [getattr(p, field) for p in mine]
        ax.plot(xs, ys, style, color=colour, label=mine[0].series)
        flagged = [(p.clients, getattr(p, field)) for p in mine if p.flags]
        if flagged:
            ax.plot(*zip(*flagged, strict=True), "o", markersize=11, markerfacecolor="none",
                    markeredgecolor="#d62728", linestyle="none")


def _per_transport(out_dir: Path, name: str, title: str, rows: Sequence[ScalePoint],
                   fields: Sequence[tuple[str, str]]) -> Chart:
    """A grid: one column per transport present, one row per field; log–log."""
    transports = sorted({p.transport for p in rows if p.transport in PANELS}, key=transport_key)
    if not transports:
        return Chart(name, title, skipped="no push or long-poll scale-suite scenarios")
    floor = [p for p in rows if p.server == "floor"]
    figure = new_figure(3.4 * len(transports) + 0.6, 3.3 * len(fields) + 0.4)
    grid = figure.subplots(len(fields), len(transports), squeeze=False)
    for r, (field, label) in enumerate(fields):
        for c, transport in enumerate(transports):
            ax = grid[r][c]
            mine = [p for p in rows if p.transport == transport and p.server != "floor"]
            _series(ax, [*mine, *floor], field)
            ax.set(xscale="log", yscale="log", xlabel="clients N (log)", ylabel=label,
                   title=transport)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize="x-small")
    figure.suptitle(f"{title} (red circle: flagged point)", fontsize="medium")
    return save_chart(figure, out_dir, name, title)


def chart_cost(out_dir: Path, rows: Sequence[ScalePoint]) -> Chart:
    """Server CPU per delivered message against N, per transport (log–log)."""
    return _per_transport(out_dir, "scale-cost", "Server CPU per delivered message vs N", rows,
                          [("cpu_us_per_delivery", "CPU per delivery (µs)")])


def chart_latency(out_dir: Path, rows: Sequence[ScalePoint]) -> Chart:
    """Latency p50 (top row) and p99 (bottom row) against N, per transport (log–log)."""
    return _per_transport(out_dir, "scale-latency", "Latency vs N", rows,
                          [("p50_ms", "p50 latency (ms)"), ("p99_ms", "p99 latency (ms)")])


def chart_soak(out_dir: Path, soaked: Soak | None) -> Chart:
    """The server's RSS over the soak's window, with its least-squares growth line."""
    name, title = "scale-soak", "Server memory over the soak"
    if soaked is None or len(soaked.series) < 2:
        return Chart(name, title, skipped="no memory soak in this run")
    figure = new_figure(7.5, 3.6)
    ax = figure.subplots()
    ts = [t for t, _ in soaked.series]
    mb = [r / 1e6 for _, r in soaked.series]
    ax.plot(ts, mb, "o-", color=SERVER_STYLE["lab"][0], label="RSS (server process tree)")
    if soaked.growth_bytes_per_min is not None:
        slope = soaked.growth_bytes_per_min / 60 / 1e6
        mt, mm = sum(ts) / len(ts), sum(mb) / len(mb)
        ax.plot(ts, [mm + slope * (t - mt) for t in ts], "--", color="black", linewidth=1,
                label=f"least squares: {soaked.growth_bytes_per_min / 1e6:+.2f} MB/min")
    ax.set(xlabel="seconds into the window", ylabel="RSS (MB)",
           title=f"{soaked.transport} on {soaked.server}, {soaked.clients:,} clients")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return save_chart(figure, out_dir, name, title)
