"""Markdown for each section of the report, from computed rows; and Markdown → HTML.

Functions here format; they compute nothing beyond unit conversions, so the
numbers in the text are the numbers in the tables. The static prose lives in
``reports/template/report.md``; these functions fill its placeholders.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from pathlib import Path

from markdown_it import MarkdownIt

from benchmarks.report.charts import Chart
from benchmarks.report.narrative import usd
from benchmarks.report.tables import CLIENT_COUNTS, BandwidthRow, StalenessCostRow, TraderRow
from benchmarks.report.tables_groups import BurstRow, FaultRow, ScaleRow, SweepRow, WorstCaseRow
from benchmarks.results import costs


def fmt(value: float | None, digits: int = 1) -> str:
    """A number with thousands separators, or an em dash when missing."""
    return "—" if value is None else f"{value:,.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-style Markdown table; ``|`` inside a cell is escaped."""
    def cells(row: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"

    lines = [cells(headers), "|" + "---|" * len(headers)]
    lines += [cells(row) for row in rows]
    return "\n".join(lines)


def chart(item: Chart) -> str:
    """An image reference, or the reason the chart was skipped."""
    if item.skipped:
        return f"*Chart skipped — {item.title}: {item.skipped}.*"
    return f"![{item.title}]({item.name}.png)\n\n[SVG]({item.name}.svg)"


def bullets(lines: Sequence[str | None]) -> str:
    """A Markdown list of the sentences that exist."""
    kept = [f"- {line}" for line in lines if line]
    return "\n".join(kept) if kept else "- Not enough scenarios in this run to compare."


def staleness_cost(rows: Sequence[StalenessCostRow], settings: costs.CostSettings) -> str:
    """The cost-of-staleness table (per transport, reference delay)."""
    if not rows:
        return "*No trader scenarios: nothing to price.*"
    body = [
        [
            r.transport,
            f"{r.staleness_mean_ms:,.1f}" + (" ¹" if r.staleness_source == "latency" else ""),
            str(r.samples),
            f"{r.closed_form * 1e4:.3f}",
            "—" if r.from_samples is None else f"{r.from_samples * 1e4:.3f}",
            usd(r.usd_per_day),
            "—" if r.usd_per_day_samples is None else usd(r.usd_per_day_samples),
            fmt(r.requests_per_day, 0),
            "—" if r.request_usd_per_day is None else usd(r.request_usd_per_day),
            "—" if r.bandwidth_usd_per_day is None else usd(r.bandwidth_usd_per_day),
            f"`{r.scenario}`",
        ]
        for r in rows
    ]
    headers = [
        "transport", "mean staleness (ms)", "samples", "E|ΔS/S| closed form (bp)",
        "E|ΔS/S| from samples (bp)", "staleness $/day (closed form)",
        "staleness $/day (samples)", f"requests/day ({settings.clients:,} clients)",
        "request $/day", "bandwidth $/day", "scenario",
    ]
    note = ""
    if any(r.staleness_source == "latency" for r in rows):
        note = "\n\n¹ No staleness samples for this scenario: its delivery latency stands in."
    return table(headers, body) + note


def bandwidth(rows: Sequence[BandwidthRow]) -> str:
    """The bandwidth table at 1k/10k/100k clients beside websocket.org's figures."""
    if not rows:
        return "*No data.*"
    headers = ["what", "bytes per update", "bytes/s per client"]
    headers += [f"Mbps at {n:,}" for n in CLIENT_COUNTS] + ["source"]
    body = [
        [r.label, fmt(r.bytes_per_update, 1), fmt(r.bytes_per_s, 1)]
        + [f"{m:,.3f}" if m < 1 else f"{m:,.1f}" for m in r.mbps]
        + [r.source if r.source.startswith("websocket.org") else f"`{r.source}`"]
        for r in rows
    ]
    return table(headers, body)


def longpoll_worst(rows: Sequence[WorstCaseRow]) -> str:
    """Long-poll latency in one-way transits beside RFC 6202's three."""
    if not rows:
        return "*No long-poll scenarios over a non-zero delay: nothing to compare.*"
    body = [
        [
            f"`{r.scenario}`", r.group, f"{r.delay_ms:g}", fmt(r.p50_ms), fmt(r.p99_ms),
            fmt(r.max_ms), f"{r.transits:.2f}", f"{3 * r.delay_ms:g}",
            fmt(r.messages_per_request, 2),
        ]
        for r in rows
    ]
    headers = ["scenario", "group", "d (ms)", "p50 (ms)", "p99 (ms)", "max (ms)",
               "max / d (transits)", "RFC 6202 worst ≈ 3d (ms)", "messages per response"]
    return table(headers, body)


def trader(rows: Sequence[TraderRow]) -> str:
    """Every trader scenario's latency, staleness, requests and bytes."""
    if not rows:
        return "*No trader scenarios in this run.*"
    body = [
        [
            r.transport, f"{r.delay_ms:g}", "—" if r.interval_s is None else f"{r.interval_s:g}",
            fmt(r.p50_ms), fmt(r.p99_ms), fmt(r.max_ms), fmt(r.staleness_mean_ms),
            fmt(r.requests_per_min), fmt(r.split.header if r.split else None),
            fmt(r.split.framing if r.split else None), fmt(r.split.payload if r.split else None),
            fmt(r.split.relay if r.split else None), f"`{r.scenario}`",
        ]
        for r in rows
    ]
    headers = ["transport", "d (ms)", "poll interval (s)", "p50 (ms)", "p99 (ms)", "max (ms)",
               "mean staleness (ms)", "requests/min", "header B/update", "framing B/update",
               "payload B/update", "relay B/update", "scenario"]
    return table(headers, body)


def sweep(rows: Sequence[SweepRow]) -> str:
    """The poll-interval sweep table."""
    if not rows:
        return "*No poll-sweep scenarios in this run.*"
    body = [
        [r.transport, f"{r.interval_s:g}", fmt(r.staleness_mean_ms), fmt(r.staleness_p99_ms),
         fmt(r.latency_p50_ms), fmt(r.requests_per_min), f"`{r.scenario}`"]
        for r in rows
    ]
    return table(["transport", "interval (s)", "mean staleness (ms)", "p99 staleness (ms)",
                  "p50 latency (ms)", "requests/min per client", "scenario"], body)


def scale(rows: Sequence[ScaleRow]) -> str:
    """The scale table."""
    if not rows:
        return "*No scale scenarios in this run.*"
    body = [
        [r.series, f"{r.clients:,}", f"{r.delivered:,}", fmt(r.cpu_us_per_message),
         fmt(r.memory_kb_per_client), fmt(r.p50_ms), fmt(r.p99_ms),
         fmt(None if r.bytes_per_s is None else r.bytes_per_s / 1000), fmt(r.requests_per_s),
         "; ".join(r.flags) or "", f"`{r.scenario}`"]
        for r in rows
    ]
    return table(["transport", "clients", "delivered", "CPU µs/message", "memory KB/client",
                  "p50 (ms)", "p99 (ms)", "kB/s (relay)", "requests/s", "flags", "scenario"], body)


def bursts(rows: Sequence[BurstRow]) -> str:
    """Burst scenarios: latency and batching."""
    if not rows:
        return "*No burst scenarios in this run.*"
    body = [
        [r.transport, r.burst, f"{r.delay_ms:g}", fmt(r.p50_ms), fmt(r.p99_ms),
         fmt(r.max_ms), fmt(r.messages_per_request, 2), f"`{r.scenario}`"]
        for r in rows
    ]
    return table(["transport", "burst", "d (ms)", "p50 (ms)", "p99 (ms)", "max (ms)",
                  "messages per request", "scenario"], body)


def faults(rows: Sequence[FaultRow]) -> str:
    """Fault scenarios: gaps and recovery."""
    if not rows:
        return "*No fault scenarios in this run.*"
    body = [
        [r.transport, fmt(r.cut_every_s, 1), fmt(r.cuts, 0), fmt(r.reconnects, 0),
         fmt(r.gaps, 0), fmt(r.duplicates, 0), fmt(r.recovery_p50_ms), fmt(r.recovery_max_ms),
         f"`{r.scenario}`"]
        for r in rows
    ]
    return table(["transport", "cut every (s)", "cuts", "reconnects", "gaps", "duplicates",
                  "recovery p50 (ms)", "recovery max (ms)", "scenario"], body)


def assumptions(settings: costs.CostSettings, overridden: Sequence[str]) -> str:
    """Every assumption behind the money and bandwidth figures, with its value."""
    sigma_s = costs.sigma_per_sqrt_second(settings.volatility, settings.trading_seconds_per_year)
    lines = [
        (f"Prices follow geometric Brownian motion with annual volatility σ = "
        f"{settings.volatility:g}. A year is {settings.trading_seconds_per_year:,.0f} trading "
        f"seconds (252 days × 6.5 h), so σ per √second = {sigma_s:.3e}. Drift is ignored."),
        ("Expected relative price error after τ seconds: E|ΔS/S| ≈ σ·√(2τ/π) (normal "
        "approximation, exact as σ√τ → 0). \"From samples\" draws one exact GBM move per "
        "measured staleness sample (seeded with the run's seed)."),
        ("Staleness is the age of the newest price the client holds, sampled on a fixed clock "
        "(DESIGN.md); it includes the feed's own gaps between price changes."),
        (f"Money per day = {usd(settings.trade_volume_usd_per_day)} traded per day × E|ΔS/S|: "
        "each trade uses a price as stale as the average one, with no adverse selection (a "
        "counterparty who picks off stale quotes would make it worse)."),
        (f"Requests cost ${settings.usd_per_million_requests:g} per million and transfer "
        f"${settings.usd_per_gb:g} per GB (10⁹ bytes); the daily bill is for "
        f"{settings.clients:,} clients connected {settings.hours_per_day:g} h a day."),
        ("Bytes are application bytes as the relay counted them (HTTP heads, chunk lines, SSE "
        "fields, WebSocket frames, bodies); TCP/IP and TLS overhead are not counted, as in "
        "websocket.org's figures."),
        ("Mbps in the bandwidth table are 2²⁰ bits per second, the unit behind websocket.org's "
        "6.6 Mbps (871 B × 8 × 1,000 = 6,968,000 bit/s)."),
        (f"Cost tables use the trader scenarios nearest to a one-way delay of "
        f"{settings.reference_delay_ms:g} ms."),
        ("Theoretical latency lines count network transits only (server and client time is "
        "ignored); measured points sit slightly above them."),
        ("Everything ran on one machine: clients, relay and server share its cores; the relay "
        "adds the one-way delay in each direction."),
    ]
    if overridden:
        lines.append("Changed from the run's settings for this report: " + ", ".join(overridden))
    return bullets(lines)


LOCAL_PNG = re.compile(r'<img src="([^"/:]+\.png)"')


def to_html(markdown: str, shell: str, title: str, assets: Path) -> str:
    """Render Markdown into the HTML shell, embedding each local PNG as a data URI."""
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)

    def embed(match: re.Match[str]) -> str:
        path = assets / match.group(1)
        if not path.is_file():
            return match.group(0)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'<img src="data:image/png;base64,{data}"'

    body = LOCAL_PNG.sub(embed, body)
    body = re.sub(r'<p><a href="[^"/:]+\.svg">SVG</a></p>', "", body)
    return shell.replace("${title}", title).replace("${body}", body)
