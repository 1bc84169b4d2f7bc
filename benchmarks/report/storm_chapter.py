"""The faults chapter's storm and soak section: tables and charts from saved results only.

:func:`section` reads ``storm.json``, ``storm-attempts.csv``'s source figures and ``soak.json``
/ ``soak-samples.csv`` of a run directory (:mod:`benchmarks.results.storm`), draws the
attempts-per-second chart (with and without jitter, on one time axis from the restart) and the
soak's memory and descriptors over time, and returns Markdown; an empty string when the run
has neither. The main report puts it under its faults; ``python -m benchmarks.storm`` writes it
as a report of its own (:func:`write_report`). Every figure is labelled measured: nothing here
models or extrapolates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.report.charts import Chart, new_figure, save_chart
from benchmarks.report.render import chart, fmt, table, to_html
from benchmarks.results.storm import SOAK_FILE, STORM_FILE, load, load_soak_samples

TEMPLATES = Path(__file__).resolve().parents[2] / "reports" / "template"
JITTER_STYLE = {True: ("#1f77b4", "full jitter"), False: ("#d62728", "no jitter")}


def chart_attempts(out_dir: Path, runs: list[dict[str, Any]]) -> Chart:
    """Connection attempts per second over time from the kill, one line per jitter setting."""
    name, title = "storm-attempts", "Reconnect storm: connection attempts per second (measured)"
    if not runs:
        return Chart(name, title, skipped="no storm in this run")
    figure = new_figure(9.0, 4.0)
    ax = figure.subplots()
    for run in runs:
        width = run["bin_s"]
        xs = [run["bins_from_s"] + i * width for i in range(len(run["attempts_per_bin"]))]
        ys = [n / width for n in run["attempts_per_bin"]]
        colour, label = JITTER_STYLE[bool(run["jitter"])]
        ax.step(xs, ys, where="post", color=colour, label=f"{label} (back in "
                f"{fmt(run['back_s'], 2)} s)")
    ax.axvline(0, color="#444444", linestyle=":", label="server killed")
    ax.set(xlabel="seconds from the kill", ylabel=f"attempts per second ({runs[0]['bin_s']:g} s bins)",
           title=title)
    ax.legend()
    return save_chart(figure, out_dir, name, title)


def chart_soak(out_dir: Path, samples: list[tuple[float, int, int, int]], warmup_s: float
               ) -> Chart:
    """The soak's server memory and open descriptors over time, the warm-up shaded."""
    name, title = "soak", "Soak with churn: server memory and descriptors (measured)"
    if not samples:
        return Chart(name, title, skipped="no soak in this run")
    figure = new_figure(9.0, 5.2)
    top, bottom = figure.subplots(2, 1, sharex=True)
    minutes = [t / 60 for t, *_ in samples]
    top.plot(minutes, [rss / 2**20 for _, rss, _, _ in samples], color="#1f77b4")
    top.set(ylabel="RSS (MB)", title=title)
    bottom.plot(minutes, [fds for _, _, fds, _ in samples], color="#2ca02c", label="descriptors")
    bottom.plot(minutes, [n for *_, n in samples], color="#7f7f7f", linestyle="--",
                label="connections (/api/stats)")
    bottom.set(xlabel="minutes", ylabel="count")
    bottom.legend()
    for ax in (top, bottom):
        ax.axvspan(0, warmup_s / 60, color="#dddddd", alpha=0.6)
    return save_chart(figure, out_dir, name, title)


def storm_table(runs: list[dict[str, Any]]) -> str:
    """One row per restart."""
    rows = []
    for r in runs:
        plan, restart = r["plan"], r["restart"]
        rows.append([
            JITTER_STYLE[bool(r["jitter"])][1], f"{plan['websocket']:,} + {plan['sse']:,}",
            fmt(r["server_down_s"], 2), fmt(r["back_s"], 2), fmt(r.get("back_after_up_s"), 2),
            f"{r['not_back']:,}",
            f"{r['attempts_after_kill']:,}", f"{r['peak_attempts_per_s']:,}", f"{r['gaps']:,}",
            f"{restart['unseen']:,}", f"{restart['detected']:,} / {restart['undetected']:,}",
        ])
    return table(["schedule", "WS + SSE clients", "server down (s)", "all back (s)",
                  "back after up (s)", "not back", "attempts", "peak attempts/s", "gaps",
                  "unseen (new sequence)", "restart seen / not"], rows)


STORM_TEXT = """\
The lab was killed under its clients and started again on the same port. *All back* counts
from the kill to the last client's first good answer, *back after up* from the moment the new
server answered its health check (start-up time varies from run to run); *attempts* are every
connection attempt after the kill. The lab keeps no history across a restart: its seqs begin again at 1, and it
takes a resume point beyond its head as its head, so the messages the new server published
before a client returned (*unseen*) are never sent, with no `missed` notice. A client sees the
new sequence when the first seq it gets is at or below its resume point (*restart seen*); when
the new sequence has already passed that point it cannot tell. *Gaps* (jumps inside one
sequence) must be 0. Raw counts per bin: `storm-attempts.csv`."""


def soak_table(soak: dict[str, Any]) -> str:
    """The soak's figures as one table."""
    plan = soak["plan"]
    posts = ", ".join(f"{status}: {n:,}" for status, n in soak["posts"].items()) or "—"
    rows = [
        ["clients (stayers)", f"{plan['clients']:,} ({soak['stayers']:,})"],
        ["length, warm-up", f"{plan['minutes']:g} min, {plan['warmup_s']:g} s"],
        ["sessions opened", f"{soak['sessions']:,}"],
        ["memory slope after warm-up", f"{fmt(soak['rss_mb_per_min'], 3)} MB/min"],
        ["memory slope over the last third",
         f"{fmt(soak.get('rss_mb_per_min_last_third'), 3)} MB/min"],
        ["memory after warm-up → end", f"{fmt(soak['rss_first_mb'])} → {fmt(soak['rss_last_mb'])} MB"],
        ["descriptors after warm-up → end (max)",
         f"{soak['fds_first']} → {soak['fds_last']} ({soak['fds_max']})"],
        ["descriptor slope after warm-up", f"{fmt(soak['fds_per_min'], 2)} /min"],
        ["stayers' gaps (messages)", f"{soak['stayers_gaps']:,} ({soak['stayers_messages']:,})"],
        ["stayers' reconnects", f"{soak['stayers_reconnects']:,}"],
        ["chat posts by status", posts],
        ["client failures", ", ".join(f"{k}: {v}" for k, v in soak["failures"].items()) or "none"],
    ]
    return table(["soak (measured)", "value"], rows)


def section(run_dir: Path) -> str:
    """The Markdown of the storm and soak results in ``run_dir`` ('' when there are none)."""
    storm, soak = load(run_dir, STORM_FILE), load(run_dir, SOAK_FILE)
    parts = []
    if storm is not None:
        parts += ["### Reconnect storm (measured)", STORM_TEXT, storm_table(storm["runs"]),
                  chart(chart_attempts(run_dir, storm["runs"]))]
    if soak is not None:
        parts += ["### Soak with churn (measured)", soak_table(soak),
                  chart(chart_soak(run_dir, load_soak_samples(run_dir), soak["plan"]["warmup_s"]))]
    return "\n\n".join(parts)


def write_report(run_dir: Path) -> Path:
    """Write ``report.md`` and ``report.html`` of a storm or soak run; return the HTML's path."""
    markdown = "# Right Now Lab: reconnect storm and soak\n\n" + (
        section(run_dir) or "*No storm or soak results in this directory.*") + "\n"
    (run_dir / "report.md").write_text(markdown, encoding="utf-8")
    shell = (TEMPLATES / "report.html").read_text(encoding="utf-8")
    html = to_html(markdown, shell, f"Right Now Lab storm — {run_dir.name}", run_dir)
    target = run_dir / "report.html"
    target.write_text(html, encoding="utf-8")
    return target
