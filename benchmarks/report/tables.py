"""The report's tables, computed from one run: pure functions on :class:`RunData`.

Each function returns rows (frozen dataclasses) that name the scenario they
come from, so every figure in the report traces back to results.json or the
CSVs. Nothing here formats text or draws; :mod:`benchmarks.report.render` and
:mod:`benchmarks.report.charts` do that. Missing data gives ``None`` fields or no
rows, never an exception: a run may lack whole groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.results import costs
from benchmarks.results.rundata import RunData
from benchmarks.results.transports import TRANSPORTS


def transport_key(name: str) -> tuple[int, str]:
    """Sort key putting the lab's transports first, in contract order; others (the baselines)
    follow by name."""
    return (TRANSPORTS.index(name) if name in TRANSPORTS else len(TRANSPORTS), name)


def number(value: Any) -> float | None:
    """A JSON number as float; anything else (null, missing, bool) as None."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def stat(scenario: dict[str, Any], block: str, key: str) -> float | None:
    """One figure of a summary block such as ``latency_ms.p99``, or None."""
    summary = scenario.get(block) or {}
    return number(summary.get(key))


@dataclass(frozen=True, slots=True)
class WireSplit:
    """Bytes per delivered update, split the way the stacked chart shows them."""

    header: float
    framing: float
    payload: float
    relay: float | None
    """Bytes the relay counted (both directions) per update: the ground truth."""

    @property
    def total(self) -> float:
        """Header + framing + payload."""
        return self.header + self.framing + self.payload


def wire_split(scenario: dict[str, Any]) -> WireSplit | None:
    """Whole-run wire counters divided by the messages the clients received."""
    wire = scenario.get("wire") or {}
    messages = number(wire.get("messages"))
    if not messages:
        return None
    header = (number(wire.get("request_header_bytes")) or 0.0) + (
        number(wire.get("response_header_bytes")) or 0.0
    )
    relay = scenario.get("relay") or {}
    relay_total = number(relay.get("bytes_upstream")), number(relay.get("bytes_downstream"))
    return WireSplit(
        header=header / messages,
        framing=(number(wire.get("framing_bytes")) or 0.0) / messages,
        payload=(number(wire.get("body_bytes")) or 0.0) / messages,
        relay=None if None in relay_total
        else sum(relay_total) / messages,  # type: ignore[arg-type]
    )


def requests_per_min_per_client(scenario: dict[str, Any]) -> float | None:
    """Requests per minute per client, from the server's counters over the timed window.

    Falls back to the clients' whole-run count over warm-up + duration when
    the server's window delta is absent.
    """
    params = scenario["params"]
    clients = number(params.get("clients")) or 1.0
    stats = (scenario.get("server") or {}).get("stats") or {}
    window = number(scenario.get("window_s"))
    if number(stats.get("requests")) is not None and window:
        return float(stats["requests"]) / window * 60.0 / clients
    requests = number((scenario.get("wire") or {}).get("requests"))
    span = (number(params.get("duration_s")) or 0.0) + (number(params.get("warmup_s")) or 0.0)
    return None if requests is None or not span else requests / span * 60.0 / clients


def updates_per_s_per_client(scenario: dict[str, Any]) -> float | None:
    """Messages delivered per second per client inside the timed window."""
    window = number(scenario.get("window_s"))
    delivered = number(scenario.get("delivered"))
    clients = number(scenario["params"].get("clients")) or 1.0
    return None if not window or delivered is None else delivered / window / clients


@dataclass(frozen=True, slots=True)
class TraderRow:
    """One trader scenario: one client, one transport, one network delay."""

    scenario: str
    transport: str
    delay_ms: float
    interval_s: float | None
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None
    staleness_mean_ms: float | None
    requests_per_min: float | None
    split: WireSplit | None
    updates_per_s: float | None

    @property
    def bytes_per_s(self) -> float | None:
        """Application bytes per second for this one client."""
        if self.split is None or self.updates_per_s is None:
            return None
        return self.split.total * self.updates_per_s


def trader_rows(run: RunData) -> list[TraderRow]:
    """Every trader scenario, ordered by transport then delay."""
    rows = [
        TraderRow(
            scenario=s["name"],
            transport=s["params"]["transport"],
            delay_ms=number(s["params"].get("delay_ms")) or 0.0,
            interval_s=number(s["params"].get("interval_s")),
            p50_ms=stat(s, "latency_ms", "p50"),
            p99_ms=stat(s, "latency_ms", "p99"),
            max_ms=stat(s, "latency_ms", "max"),
            mean_ms=stat(s, "latency_ms", "mean"),
            staleness_mean_ms=stat(s, "staleness_ms", "mean"),
            requests_per_min=requests_per_min_per_client(s),
            split=wire_split(s),
            updates_per_s=updates_per_s_per_client(s),
        )
        for s in run.group("trader")
    ]
    return sorted(rows, key=lambda r: (transport_key(r.transport), r.delay_ms))


def reference_delay(rows: list[TraderRow], wanted_ms: float) -> float | None:
    """The measured delay nearest to ``wanted_ms`` (ties: the smaller)."""
    delays = sorted({r.delay_ms for r in rows})
    return min(delays, key=lambda d: (abs(d - wanted_ms), d)) if delays else None


def at_delay(rows: list[TraderRow], delay_ms: float | None) -> list[TraderRow]:
    """The rows measured at one delay, one per transport (the first if repeated)."""
    chosen: dict[str, TraderRow] = {}
    for row in rows:
        if row.delay_ms == delay_ms:
            chosen.setdefault(row.transport, row)
    return sorted(chosen.values(), key=lambda r: transport_key(r.transport))


@dataclass(frozen=True, slots=True)
class StalenessCostRow:
    """What one transport's staleness and traffic cost per day (reference delay)."""

    scenario: str
    transport: str
    staleness_mean_ms: float
    staleness_source: str
    """``staleness`` (staleness.csv / results) or ``latency`` (used as a stand-in)."""
    samples: int
    closed_form: float
    """E|ΔS/S| from σ·√(2τ/π) at the mean staleness."""
    from_samples: float | None
    """E|ΔS/S| from one GBM draw per measured staleness sample."""
    usd_per_day: float
    usd_per_day_samples: float | None
    requests_per_day: float | None
    """Requests per day for all ``settings.clients`` clients."""
    request_usd_per_day: float | None
    bytes_per_day: float | None
    bandwidth_usd_per_day: float | None


def staleness_cost_rows(run: RunData, settings: costs.CostSettings) -> list[StalenessCostRow]:
    """Cost of staleness, requests and bytes per transport at the reference delay."""
    trader = trader_rows(run)
    sigma_s = costs.sigma_per_sqrt_second(settings.volatility, settings.trading_seconds_per_year)
    seed = int(run.results.get("seed") or 1)
    out: list[StalenessCostRow] = []
    for row in at_delay(trader, reference_delay(trader, settings.reference_delay_ms)):
        samples, source = run.staleness_ms.get(row.scenario), "staleness"
        mean = row.staleness_mean_ms
        if mean is None and samples is not None and samples.size:
            mean = float(np.mean(samples))
        if mean is None:
            samples, source, mean = run.latency_ms.get(row.scenario), "latency", row.mean_ms
        if mean is None:
            continue
        closed = costs.expected_abs_return(sigma_s, mean / 1000.0)
        sampled = None
        if samples is not None and samples.size:
            sampled = costs.sampled_abs_return(sigma_s, (samples / 1000.0).tolist(), seed)
        volume = settings.trade_volume_usd_per_day
        requests = bytes_day = None
        if row.requests_per_min is not None:
            requests = costs.per_day(row.requests_per_min / 60.0, settings.hours_per_day)
            requests *= settings.clients
        if row.bytes_per_s is not None:
            bytes_day = costs.per_day(row.bytes_per_s, settings.hours_per_day) * settings.clients
        out.append(
            StalenessCostRow(
                scenario=row.scenario,
                transport=row.transport,
                staleness_mean_ms=mean,
                staleness_source=source,
                samples=0 if samples is None else int(samples.size),
                closed_form=closed,
                from_samples=sampled,
                usd_per_day=costs.staleness_cost_usd_per_day(closed, volume),
                usd_per_day_samples=None
                if sampled is None
                else costs.staleness_cost_usd_per_day(sampled, volume),
                requests_per_day=requests,
                request_usd_per_day=None
                if requests is None
                else costs.request_cost_usd(requests, settings.usd_per_million_requests),
                bytes_per_day=bytes_day,
                bandwidth_usd_per_day=None
                if bytes_day is None
                else costs.bandwidth_cost_usd(bytes_day, settings.usd_per_gb),
            )
        )
    return out


CLIENT_COUNTS = (1_000, 10_000, 100_000)
"""The fleet sizes of the bandwidth table (websocket.org's)."""


@dataclass(frozen=True, slots=True)
class BandwidthRow:
    """Bandwidth for 1k/10k/100k clients from one measured per-client rate."""

    label: str
    source: str
    """Scenario name, or the citation for reference rows."""
    bytes_per_update: float | None
    bytes_per_s: float
    mbps: tuple[float, ...]


def bandwidth_rows(run: RunData, settings: costs.CostSettings) -> list[BandwidthRow]:
    """Measured rows at the reference delay, our per-poll and per-frame overhead, and 2010's."""
    trader = trader_rows(run)
    rows: list[BandwidthRow] = []
    reference = at_delay(trader, reference_delay(trader, settings.reference_delay_ms))
    for row in reference:
        if row.bytes_per_s is None or row.split is None:
            continue
        label = f"{row.transport}, all bytes, {row.updates_per_s:.1f} updates/s"
        if row.interval_s is not None:
            label += f", poll every {row.interval_s:g} s"
        rows.append(_bandwidth(label, row.scenario, row.split.total, row.bytes_per_s))
    for row in reference:
        split = row.split
        if split is None:
            continue
        if row.transport == "poll" and row.requests_per_min:
            per_poll = header_bytes_per_request(run, row.scenario)
            if per_poll is not None:
                label = "poll, headers only, 1 poll/s (websocket.org's case)"
                rows.append(_bandwidth(label, row.scenario, per_poll, per_poll))
        if row.transport == "websocket":
            label = "websocket, framing only, 1 message/s (websocket.org's case)"
            rows.append(_bandwidth(label, row.scenario, split.framing, split.framing))
    header, frame = costs.WEBSOCKET_ORG_HEADER_BYTES, costs.WEBSOCKET_ORG_FRAME_BYTES
    for label, per_client in (
        (f"websocket.org 2010: polling, {header} B of headers, 1 poll/s", float(header)),
        (f"websocket.org 2010: WebSocket, {frame} B of framing, 1 message/s", float(frame)),
    ):
        rows.append(_bandwidth(label, "websocket.org (2010)", per_client, per_client))
    return rows


def _bandwidth(label: str, source: str, per_update: float, per_s: float) -> BandwidthRow:
    mbps = tuple(costs.megabits_per_second(per_s * n) for n in CLIENT_COUNTS)
    return BandwidthRow(label, source, per_update, per_s, mbps)


def header_bytes_per_request(run: RunData, scenario_name: str) -> float | None:
    """Request + response header bytes per HTTP request in one scenario."""
    for scenario in run.scenarios:
        if scenario["name"] != scenario_name:
            continue
        wire = scenario.get("wire") or {}
        requests = number(wire.get("requests"))
        if not requests:
            return None
        return (
            (number(wire.get("request_header_bytes")) or 0.0)
            + (number(wire.get("response_header_bytes")) or 0.0)
        ) / requests
    return None
