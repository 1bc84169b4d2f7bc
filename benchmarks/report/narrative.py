"""Conclusions and assumptions written from the numbers: pure functions returning sentences.

Every sentence here is built from comparisons between table rows, so it
changes when the measurements do (the tests check this). A sentence whose
inputs are missing is left out rather than written with blanks. Money and
units are formatted here; no figure is computed here (the tables do that), and
Markdown structure is :mod:`benchmarks.report.render`'s job.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.report.tables import BandwidthRow, StalenessCostRow, TraderRow
from benchmarks.report.tables_groups import (
    FaultRow,
    ScaleRow,
    SweepRow,
    WorstCaseRow,
    staleness_fit,
)
from benchmarks.results import costs
from benchmarks.results.transports import STREAMED


def usd(value: float) -> str:
    """Dollars with sensible precision ($12,345 / $12.35 / $0.0123 / $0)."""
    if value == 0:
        return "$0"
    if abs(value) >= 100:
        return f"${value:,.0f}"
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:.4f}"


def ratio(a: float, b: float) -> str:
    """``a`` against ``b`` as "3.2×"."""
    return f"{a / b:,.1f}×" if b else "∞×"


def latency(rows: Sequence[TraderRow]) -> str | None:
    """Push against polling at the reference delay, in medians."""
    push = [r for r in rows if r.transport in STREAMED and r.p50_ms is not None]
    poll = next((r for r in rows if r.transport == "poll" and r.p50_ms is not None), None)
    if not push or poll is None or poll.p50_ms is None:
        return None
    d = rows[0].delay_ms
    low = min(r.p50_ms for r in push if r.p50_ms is not None)
    high = max(r.p50_ms for r in push if r.p50_ms is not None)
    near = "close to" if high <= 1.5 * d + 2.0 else "well above"
    text = (
        f"At a one-way delay of {d:g} ms, the push transports "
        f"({', '.join(r.transport for r in push)})"
        f" delivered half of all updates within {low:.1f}–{high:.1f} ms, {near} the {d:g} ms the"
        " network alone takes; "
    )
    interval = f"every {poll.interval_s:g} s " if poll.interval_s else ""
    if poll.p50_ms > high:
        text += (
            f"short polling {interval}needed {poll.p50_ms:.0f} ms at the median, "
            f"{ratio(poll.p50_ms, high)} the slowest push transport."
        )
    else:
        text += (
            f"short polling {interval}was not slower at the median ({poll.p50_ms:.1f} ms) — "
            "unexpected (a poll waits about half its interval); check this run's flags."
        )
    return text


def staleness(rows: Sequence[StalenessCostRow], settings: costs.CostSettings) -> str | None:
    """The money lost to staleness, freshest against stalest, and against the request bill."""
    if len(rows) < 2:
        return None
    best = min(rows, key=lambda r: r.usd_per_day)
    worst = max(rows, key=lambda r: r.usd_per_day)
    gap = worst.usd_per_day - best.usd_per_day
    text = (
        f"Trading {usd(settings.trade_volume_usd_per_day)} a day at the price the "
        f"{worst.transport} client held ({worst.staleness_mean_ms:.0f} ms old on average) loses "
        f"about {usd(worst.usd_per_day)} a day to price moves the trader has not seen yet; at "
        f"the {best.transport} client's ({best.staleness_mean_ms:.0f} ms) it is "
        f"{usd(best.usd_per_day)}, {usd(gap)} a day less."
    )
    if worst.request_usd_per_day is not None and best.request_usd_per_day is not None:
        bill = (worst.request_usd_per_day - best.request_usd_per_day) / max(settings.clients, 1)
        if gap > bill > 0:
            text += (
                f" {worst.transport.capitalize()}'s extra requests cost {usd(bill)} per client "
                f"a day, so for this desk staleness is the bigger bill ({ratio(gap, bill)})."
            )
        elif bill > gap:
            text += (
                f" {worst.transport.capitalize()}'s extra requests cost {usd(bill)} per client "
                f"a day, more than the staleness they save ({ratio(bill, gap)})."
            )
    floor_ms = 1000.0 / settings.rate if settings.rate else None
    if floor_ms and best.staleness_mean_ms > 0.5 * floor_ms:
        text += (
            f" Even the freshest transport holds a price {best.staleness_mean_ms:.0f} ms old: the "
            f"feed changes only {settings.rate:g} times a second (on average {floor_ms:.0f} ms "
            "apart), and no transport can deliver a price before it exists."
        )
    return text


def bandwidth(trader: Sequence[TraderRow], rows: Sequence[BandwidthRow]) -> str | None:
    """Cheapest against dearest transport per update, and our poll headers against 871 bytes."""
    measured = [r for r in trader if r.split is not None and r.split.total > 0]
    if len(measured) < 2:
        return None
    cheap = min(measured, key=lambda r: r.split.total)  # type: ignore[union-attr]
    dear = max(measured, key=lambda r: r.split.total)  # type: ignore[union-attr]
    assert cheap.split is not None and dear.split is not None
    text = (
        f"Per delivered update, {cheap.transport} moved {cheap.split.total:,.0f} bytes and "
        f"{dear.transport} {dear.split.total:,.0f} bytes "
        f"({ratio(dear.split.total, cheap.split.total)}"
        f"); headers are {100 * dear.split.header / dear.split.total:.0f}% of {dear.transport}'s."
    )
    ours = next((r for r in rows if r.label.startswith("poll, headers only")), None)
    if ours is not None and ours.bytes_per_update is not None:
        fewer = "fewer" if ours.bytes_per_update < costs.WEBSOCKET_ORG_HEADER_BYTES else "more"
        text += (
            f" Our short poll carries {ours.bytes_per_update:,.0f} bytes of headers per request, "
            f"{fewer} than websocket.org's 871 (no cookies, short user agent): 1,000 clients "
            f"polling once a second would send {ours.mbps[0]:.2f} Mbps of headers, not 6.6."
        )
    return text


def rfc6202(rows: Sequence[WorstCaseRow]) -> str | None:
    """The measured long-poll worst case in one-way transits, against RFC 6202's three."""
    trader = [r for r in rows if r.group == "trader"] or list(rows)
    if not trader:
        return None
    worst = max(trader, key=lambda r: r.transits)
    text = (
        f"Long polling's worst latency was {worst.max_ms:.0f} ms over a {worst.delay_ms:g} ms "
        f"one-way delay: {worst.transits:.1f} transits (scenario {worst.scenario}). "
    )
    if worst.transits > costs.RFC6202_WORST_TRANSITS:
        return text + "That is over three network transits, as RFC 6202 §2.2 says."
    if worst.transits >= 2.5:
        return text + (
            "That is close to RFC 6202's \"over three network transits\": the full worst case "
            "needs a message published just as a response leaves, which a short run rarely hits."
        )
    return text + (
        "That is well below RFC 6202's \"over three network transits\": no message in this run "
        "was published in the gap between a response and the next request."
    )


def sweep(rows: Sequence[SweepRow], target: StalenessCostRow | None) -> str | None:
    """How staleness grows with the poll interval, and what interval would match push."""
    fit = staleness_fit([r for r in rows if r.transport == "poll"])
    if fit is None:
        return None
    intercept, slope = fit
    text = (
        f"In the poll sweep, mean staleness grew by {slope:.0f} ms per second of poll interval "
        f"(least-squares fit {intercept:.0f} + {slope:.0f}·interval ms; a uniform wait predicts "
        "500)."
    )
    if target is None:
        return text
    needed = (target.staleness_mean_ms - intercept) / slope if slope > 0 else -1.0
    if needed <= 0:
        return text + (
            f" No poll interval matches {target.transport}'s {target.staleness_mean_ms:.0f} ms: "
            f"the fit's floor of {intercept:.0f} ms is already above it."
        )
    return text + (
        f" Matching {target.transport}'s {target.staleness_mean_ms:.0f} ms would take polling "
        f"every {needed:.2f} s, {60 / needed:,.0f} requests per minute per client."
    )


def scale(rows: Sequence[ScaleRow]) -> str | None:
    """CPU per delivered message at the largest fleet: cheapest against dearest transport."""
    largest = max((r.clients for r in rows), default=0)
    top = [r for r in rows if r.clients == largest and r.cpu_us_per_message]
    if len(top) < 2:
        return None
    cheap = min(top, key=lambda r: r.cpu_us_per_message or 0.0)
    dear = max(top, key=lambda r: r.cpu_us_per_message or 0.0)
    assert cheap.cpu_us_per_message and dear.cpu_us_per_message
    text = (
        f"At {largest:,} clients the server spent {cheap.cpu_us_per_message:.1f} µs of CPU per "
        f"delivered message over {cheap.series} and {dear.cpu_us_per_message:.1f} µs over "
        f"{dear.series} ({ratio(dear.cpu_us_per_message, cheap.cpu_us_per_message)})."
    )
    flagged = sorted({r.scenario for r in rows if r.flags})
    if flagged:
        text += f" Flagged, read with care: {', '.join(flagged)}."
    return text


def faults(rows: Sequence[FaultRow]) -> str | None:
    """Which transports lost messages when their connections were cut."""
    known = [r for r in rows if r.gaps is not None]
    if not known:
        return None
    clean = [r.transport for r in known if r.gaps == 0]
    lossy = [f"{r.transport} ({r.gaps})" for r in known if r.gaps]
    every = known[0].cut_every_s
    text = f"With connections cut every {every:g} s, " if every else "Under connection cuts, "
    if clean:
        text += f"{', '.join(clean)} resumed without losing a message"
    if lossy:
        text += ("; " if clean else "") + f"messages were lost by {', '.join(lossy)}"
    recovered = [r for r in known if r.recovery_p50_ms is not None]
    if len(recovered) >= 2:
        fast = min(recovered, key=lambda r: r.recovery_p50_ms or 0.0)
        slow = max(recovered, key=lambda r: r.recovery_p50_ms or 0.0)
        if fast.recovery_p50_ms == slow.recovery_p50_ms:
            return text + f"; median recovery was {fast.recovery_p50_ms:.0f} ms for all."
        text += (
            f"; median recovery ranged from {fast.recovery_p50_ms:.0f} ms ({fast.transport}) to "
            f"{slow.recovery_p50_ms:.0f} ms ({slow.transport})"
        )
    return text + "."
