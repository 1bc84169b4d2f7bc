"""Tables for the poll sweep, long-poll worst case, scale, bursts and faults.

Pure functions on :class:`RunData` like :mod:`benchmarks.report.tables` (which
holds the trader, cost and bandwidth tables); every row names its scenario.
Nothing here formats text or draws.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from benchmarks.report.tables import (
    number,
    requests_per_min_per_client,
    stat,
    trader_rows,
    transport_key,
)
from benchmarks.results import costs
from benchmarks.results.rundata import RunData


@dataclass(frozen=True, slots=True)
class SweepRow:
    """One poll interval: how stale the trader's price was, and how many requests it took."""

    scenario: str
    transport: str
    interval_s: float
    staleness_mean_ms: float | None
    staleness_p99_ms: float | None
    latency_p50_ms: float | None
    requests_per_min: float | None


def sweep_rows(run: RunData) -> list[SweepRow]:
    """Poll-sweep scenarios ordered by transport then interval."""
    rows = [
        SweepRow(
            scenario=s["name"],
            transport=s["params"]["transport"],
            interval_s=float(s["params"]["interval_s"]),
            staleness_mean_ms=stat(s, "staleness_ms", "mean"),
            staleness_p99_ms=stat(s, "staleness_ms", "p99"),
            latency_p50_ms=stat(s, "latency_ms", "p50"),
            requests_per_min=requests_per_min_per_client(s),
        )
        for s in run.group("poll_sweep")
        if number(s["params"].get("interval_s"))
    ]
    return sorted(rows, key=lambda r: (transport_key(r.transport), r.interval_s))


def staleness_fit(rows: list[SweepRow]) -> tuple[float, float] | None:
    """Least-squares ``mean staleness (ms) = a + b·interval (s)`` over the sweep, or None."""
    points = [(r.interval_s, r.staleness_mean_ms) for r in rows if r.staleness_mean_ms is not None]
    if len({x for x, _ in points}) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    return mean_y - slope * mean_x, slope


@dataclass(frozen=True, slots=True)
class WorstCaseRow:
    """Long-poll latency against RFC 6202's three transits, for one scenario with a delay."""

    scenario: str
    group: str
    delay_ms: float
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float
    transits: float
    """Worst latency in units of the one-way delay."""
    messages_per_request: float | None


def longpoll_worst_rows(run: RunData) -> list[WorstCaseRow]:
    """Every long-poll scenario (trader or burst) run over a non-zero delay."""
    rows = []
    for s in run.scenarios:
        params = s["params"]
        delay = number(params.get("delay_ms")) or 0.0
        worst = stat(s, "latency_ms", "max")
        if params["transport"] != "longpoll" or delay <= 0 or worst is None:
            continue
        if s.get("group") not in ("trader", "burst"):
            continue
        rows.append(
            WorstCaseRow(
                scenario=s["name"],
                group=s["group"],
                delay_ms=delay,
                p50_ms=stat(s, "latency_ms", "p50"),
                p99_ms=stat(s, "latency_ms", "p99"),
                max_ms=worst,
                transits=worst / delay,
                messages_per_request=_per_request(s),
            )
        )
    return sorted(rows, key=lambda r: (r.group != "trader", r.delay_ms, r.scenario))


@dataclass(frozen=True, slots=True)
class TheoryPoint:
    """Measured latency at one delay beside what the network alone would give."""

    scenario: str
    transport: str
    delay_ms: float
    p50_ms: float | None
    max_ms: float | None
    typical_ms: float | None
    worst_ms: float | None


def theory_points(run: RunData) -> list[TheoryPoint]:
    """Trader scenarios with their theoretical typical and worst latency."""
    points = []
    for row in trader_rows(run):
        theory = costs.theoretical_latency_ms(row.transport, row.delay_ms, row.interval_s)
        typical, worst = theory if theory else (None, None)
        points.append(
            TheoryPoint(
                row.scenario, row.transport, row.delay_ms, row.p50_ms, row.max_ms, typical, worst
            )
        )
    return points


@dataclass(frozen=True, slots=True)
class ScaleRow:
    """One transport at one fleet size: what the server spent per delivered message."""

    scenario: str
    transport: str
    workers: int
    clients: int
    delivered: int
    cpu_us_per_message: float | None
    memory_kb_per_client: float | None
    p50_ms: float | None
    p99_ms: float | None
    bytes_per_s: float | None
    requests_per_s: float | None
    flags: tuple[str, ...]
    server: str = "lab"

    @property
    def series(self) -> str:
        """The line this row belongs to: the transport, a baseline server's name, the workers."""
        name = self.transport if self.server == "lab" else f"{self.transport} ({self.server})"
        return name if self.workers <= 1 else f"{name} ×{self.workers} workers"


def scale_rows(run: RunData) -> list[ScaleRow]:
    """Scale scenarios ordered by transport then number of clients."""
    rows = []
    for s in run.group("scale"):
        params, server = s["params"], s.get("server") or {}
        clients = int(params.get("clients") or 1)
        delivered = int(s.get("delivered") or 0)
        cpu = number(server.get("cpu_s"))
        peak, start = number(server.get("peak_rss_bytes")), number(server.get("rss_start_bytes"))
        idle = number(server.get("rss_idle_bytes"))  # before any client connected
        window = number(s.get("window_s"))
        rpm = requests_per_min_per_client(s)
        relay = s.get("relay") or {}
        moved = (number(relay.get("bytes_upstream")) or 0.0) + (
            number(relay.get("bytes_downstream")) or 0.0
        )
        span = (number(params.get("duration_s")) or 0.0) + (number(params.get("warmup_s")) or 0.0)
        rows.append(
            ScaleRow(
                scenario=s["name"],
                transport=params["transport"],
                workers=int(params.get("server_workers") or 1),
                clients=clients,
                delivered=delivered,
                cpu_us_per_message=cpu / delivered * 1e6 if cpu is not None and delivered else None,
                memory_kb_per_client=(start - idle) / clients / 1024
                if start is not None and idle is not None
                else (peak - start) / clients / 1024
                if peak is not None and start is not None
                else None,
                p50_ms=stat(s, "latency_ms", "p50"),
                p99_ms=stat(s, "latency_ms", "p99"),
                bytes_per_s=moved / span if moved and span else None,
                requests_per_s=rpm * clients / 60.0 if rpm is not None and window else None,
                flags=tuple(s.get("flags") or ()),
                server="lab" if str(params.get("server", "lab")).startswith("lab")
                else str(params["server"]),
            )
        )
    return sorted(rows, key=lambda r: (transport_key(r.transport), r.server, r.workers, r.clients))


@dataclass(frozen=True, slots=True)
class FaultRow:
    """One transport with its connections cut every few seconds."""

    scenario: str
    transport: str
    cut_every_s: float | None
    cuts: int | None
    reconnects: int | None
    gaps: int | None
    duplicates: int | None
    recovery_p50_ms: float | None
    recovery_max_ms: float | None


def fault_rows(run: RunData) -> list[FaultRow]:
    """Fault scenarios ordered by transport."""

    def count(block: dict[str, Any], key: str) -> int | None:
        value = number(block.get(key))
        return None if value is None else int(value)

    rows = [
        FaultRow(
            scenario=s["name"],
            transport=s["params"]["transport"],
            cut_every_s=number(s["params"].get("cut_every_s")),
            cuts=count(s.get("relay") or {}, "cuts"),
            reconnects=count(s.get("wire") or {}, "reconnects"),
            gaps=count(s.get("wire") or {}, "gaps"),
            duplicates=count(s.get("wire") or {}, "duplicates"),
            recovery_p50_ms=stat(s, "recovery_ms", "p50"),
            recovery_max_ms=stat(s, "recovery_ms", "max"),
        )
        for s in run.group("faults")
    ]
    return sorted(rows, key=lambda r: transport_key(r.transport))


@dataclass(frozen=True, slots=True)
class BurstRow:
    """One transport under bursts faster than the round trip."""

    scenario: str
    transport: str
    burst: str
    delay_ms: float
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    messages_per_request: float | None


def _per_request(scenario: dict[str, Any]) -> float | None:
    """Messages per HTTP response, for the transports that make one request per response."""
    if scenario["params"]["transport"] not in ("poll", "longpoll"):
        return None
    wire = scenario.get("wire") or {}
    requests, messages = number(wire.get("requests")), number(wire.get("messages"))
    return messages / requests if requests and messages else None


def burst_rows(run: RunData) -> list[BurstRow]:
    """Burst scenarios ordered by transport; ``burst`` is the runner's parameter, verbatim."""
    rows = []
    for s in run.group("burst"):
        rows.append(
            BurstRow(
                scenario=s["name"],
                transport=s["params"]["transport"],
                burst=json.dumps(s["params"].get("burst"), sort_keys=True),
                delay_ms=number(s["params"].get("delay_ms")) or 0.0,
                p50_ms=stat(s, "latency_ms", "p50"),
                p99_ms=stat(s, "latency_ms", "p99"),
                max_ms=stat(s, "latency_ms", "max"),
                messages_per_request=_per_request(s),
            )
        )
    return sorted(rows, key=lambda r: (transport_key(r.transport), r.scenario))
