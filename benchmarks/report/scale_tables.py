"""Rows of the scale chapter, computed from a scale run's results.json alone.

A scale-suite scenario is one whose ``params`` name its ``server`` (the lab
with one or two workers, the lab served the textbook way, ``lab-plain``, or a
baseline: the floor, the constant handler); the standard suite's small scale
group has no such field and is not read here.
Every row keeps its scenario's name and flags, so a table can show the flag
next to the figure it affects. Pure functions over :class:`RunData`: no I/O,
no formatting (:mod:`benchmarks.report.scale_chapter`), no verdicts
(:mod:`benchmarks.report.scale_targets`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from statistics import median
from typing import Any

from benchmarks.report.tables import number, stat, transport_key
from benchmarks.results.rundata import RunData
from benchmarks.results.scale_verdicts import LOSS_KEYS, holds, lost_nothing, step_verdict
from benchmarks.results.transports import STREAMED

TEXTBOOK = "lab-plain"
"""The lab served with ``--plain``: the textbook transports alone, without the engineered
path; every comparison of "what the engineering bought" is against it."""
BASELINES = ("floor", TEXTBOOK, "constant")
"""The floor, the textbook lab and the constant handler, each drawn as its own series beside
the engineered lab."""


@dataclass(frozen=True, slots=True)
class ScalePoint:
    """One scale-suite scenario: its server, N, latency, costs, losses and flags."""

    scenario: str
    server: str
    workers: int
    transport: str
    clients: int
    purpose: str
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    cpu_us_per_delivery: float | None
    kb_per_connection: float | None
    requests_per_cpu_s: float | None
    fanout_p50_ms: float | None
    fanout_p99_ms: float | None
    lost: dict[str, int]
    flags: tuple[str, ...]
    loadgen_max_util: float | None
    p95_lower_ms: float | None = None
    """The least p95 could be had the messages the swarms read late arrived as published
    (``latency_lower_ms``); None when none was read late, so ``p95_ms`` is exact."""
    runs: int = 1
    """Repeated runs merged into this point (see :func:`merge_repeats`)."""

    @property
    def ours(self) -> bool:
        """The engineered lab (one or more workers), not a baseline nor the textbook lab."""
        return self.server not in BASELINES

    @property
    def series(self) -> str:
        """The chart line: ``lab``, ``lab ×2 workers``, or the baseline's name."""
        if not self.ours:
            return self.server
        return "lab" if self.workers <= 1 else f"lab ×{self.workers} workers"

    @property
    def lossless(self) -> bool:
        """Nothing lost (for polls only gaps, missed notices and failed clients count)."""
        return lost_nothing(self.lost, poll=self.transport == "poll")


def is_scale_suite(scenario: dict[str, Any]) -> bool:
    """Whether ``scenario`` came from :mod:`benchmarks.scale` (its params name the server)."""
    return scenario.get("group") == "scale" and "server" in (scenario.get("params") or {})


def points(run: RunData) -> list[ScalePoint]:
    """Every finished scale-suite scenario, by transport, server and N."""
    rows = []
    for s in run.scenarios:
        if not is_scale_suite(s):
            continue
        params, server = s["params"], s.get("server") or {}
        fanout = server.get("fanout_ms") or {}
        per_conn = number(server.get("rss_per_connection_bytes"))
        utils = [u for u in s.get("loadgen_utils") or [] if u is not None]
        rows.append(ScalePoint(
            scenario=s["name"], server=str(params["server"]),
            workers=int(params.get("server_workers") or 1), transport=params["transport"],
            clients=int(params.get("clients") or 0), purpose=str(params.get("purpose") or ""),
            p50_ms=stat(s, "latency_ms", "p50"), p95_ms=stat(s, "latency_ms", "p95"),
            p99_ms=stat(s, "latency_ms", "p99"),
            cpu_us_per_delivery=number(server.get("cpu_us_per_delivery")),
            kb_per_connection=None if per_conn is None else per_conn / 1024,
            requests_per_cpu_s=number(server.get("requests_per_cpu_s")),
            fanout_p50_ms=number(fanout.get("p50")), fanout_p99_ms=number(fanout.get("p99")),
            lost={k: int(v) for k, v in (s.get("loss") or {}).items() if v and k in LOSS_KEYS},
            flags=tuple(s.get("flags") or ()), loadgen_max_util=max(utils, default=None),
            p95_lower_ms=stat(s, "latency_lower_ms", "p95"),
        ))
    return sorted(merge_repeats(rows), key=lambda p: (transport_key(p.transport), not p.ours,
                                                      p.server, p.clients, p.purpose))


def merge_repeats(rows: Sequence[ScalePoint]) -> list[ScalePoint]:
    """One point per configuration: repeated runs (``-r2``, ``-r3``…) merged into the first.

    Each figure is the median over the runs, so one run on a slow stretch of the
    machine does not decide a comparison; losses add up, flags are all kept, the
    load generator's busiest share is the largest.
    """
    groups: dict[tuple[str, int, str, int, str], list[ScalePoint]] = {}
    for p in rows:
        groups.setdefault((p.server, p.workers, p.transport, p.clients, p.purpose), []).append(p)
    return [runs[0] if len(runs) == 1 else _merged(runs) for runs in groups.values()]


def _merged(runs: Sequence[ScalePoint]) -> ScalePoint:
    def mid(field: str) -> float | None:
        values = [v for p in runs if (v := getattr(p, field)) is not None]
        return median(values) if values else None

    lost: dict[str, int] = {}
    for p in runs:
        for key, count in p.lost.items():
            lost[key] = lost.get(key, 0) + count
    utils = [p.loadgen_max_util for p in runs if p.loadgen_max_util is not None]
    first = runs[0]
    return replace(
        first, p50_ms=mid("p50_ms"), p95_ms=mid("p95_ms"), p99_ms=mid("p99_ms"),
        cpu_us_per_delivery=mid("cpu_us_per_delivery"), kb_per_connection=mid("kb_per_connection"),
        requests_per_cpu_s=mid("requests_per_cpu_s"), fanout_p50_ms=mid("fanout_p50_ms"),
        p95_lower_ms=None if all(p.p95_lower_ms is None for p in runs) else median(
            p.p95_ms if p.p95_lower_ms is None else p.p95_lower_ms for p in runs
            if p.p95_ms is not None),
        fanout_p99_ms=mid("fanout_p99_ms"), lost=lost,
        flags=tuple(dict.fromkeys(f for p in runs for f in p.flags)),
        loadgen_max_util=max(utils, default=None), runs=len(runs),
    )


def find(rows: Sequence[ScalePoint], transport: str, server: str,
         clients: int | None = None) -> ScalePoint | None:
    """The first point of ``server`` serving ``transport`` (at ``clients``, if given).

    Without ``clients``: the suite's comparison case, else the first one found.
    """
    mine = [p for p in rows if p.transport == transport and p.server == server
            and (clients is None or p.clients == clients)]
    mine.sort(key=lambda p: p.purpose != "compare")
    return mine[0] if mine else None


def compare_clients(rows: Sequence[ScalePoint]) -> int | None:
    """The N of the side-by-side comparison (the most common N among ``compare`` push cases)."""
    counts = [p.clients for p in rows if p.purpose == "compare" and p.transport != "poll"]
    return max(set(counts), key=lambda n: (counts.count(n), n)) if counts else None


@dataclass(frozen=True, slots=True)
class BreakingRow:
    """Where one server's transport broke: the largest N that held and the first step that did
    not, failed or undetermined (its ``steps`` verdict ``None``: see :func:`holds`)."""

    server: str
    transport: str
    held: int | None
    tried_up_to: int
    limit: int | None
    failed_at: int | None
    why: str | None
    flags: tuple[str, ...]
    steps: tuple[tuple[int, bool | None], ...]

    @property
    def undetermined(self) -> bool:
        """Whether the first step not held is undetermined rather than failed."""
        return self.failed_at is not None and dict(self.steps).get(self.failed_at) is None


def breaking_rows(run: RunData, rows: Sequence[ScalePoint]) -> list[BreakingRow]:
    """The run's ``breaking_points``; without them, the same read off the push scenarios."""
    flags = {p.scenario: p.flags for p in rows}
    by_name = {s["name"]: s for s in run.scenarios}
    out = []
    recorded = run.results.get("breaking_points")
    if recorded:
        for b in recorded:
            steps = sorted(b.get("steps") or [], key=lambda x: x["clients"])
            verdicts = [_step_verdict(x, by_name) for x in steps]
            held = b.get("clients")
            failed = next(((x, why) for x, (ok, why) in zip(steps, verdicts, strict=True)
                           if ok is not True), None)
            best = next((x for x in steps if x["clients"] == held), None)
            out.append(BreakingRow(
                server=b["server"], transport=b["transport"], held=held,
                tried_up_to=max((x["clients"] for x in steps), default=0),
                limit=b.get("limit_tested"), failed_at=failed and failed[0]["clients"],
                why=failed and failed[1],
                flags=tuple(dict.fromkeys(f for name in _step_scenarios(best)
                                          for f in flags.get(name, ()))) if best else (),
                steps=tuple((x["clients"], ok) for x, (ok, _) in zip(steps, verdicts, strict=True)),
            ))
    else:
        for key in dict.fromkeys((p.server, p.transport) for p in rows if p.transport in STREAMED):
            mine = sorted((p for p in rows if (p.server, p.transport) == key),
                          key=lambda p: p.clients)
            judged = [(p, *holds(by_name[p.scenario])) for p in mine]
            passed = [p for p, ok, _ in judged if ok]
            failed = next(((p, why) for p, ok, why in judged if ok is not True), None)
            out.append(BreakingRow(
                server=key[0], transport=key[1], held=passed[-1].clients if passed else None,
                tried_up_to=mine[-1].clients, limit=None,
                failed_at=failed[0].clients if failed else None,
                why=failed[1] if failed else None, flags=passed[-1].flags if passed else (),
                steps=tuple((p.clients, ok) for p, ok, _ in judged),
            ))
    return sorted(out, key=lambda r: (transport_key(r.transport), r.server in BASELINES,
                                      r.server))


def _step_scenarios(step: dict[str, Any]) -> list[str]:
    """A recorded step's tries (``scenarios``; one ``scenario`` in runs before steps were
    repeated)."""
    return list(step.get("scenarios") or [step["scenario"]])


def _step_verdict(step: dict[str, Any], by_name: dict[str, dict[str, Any]],
                  ) -> tuple[bool | None, str]:
    """A recorded step's verdict, from its tries' scenarios when the run holds them all."""
    names = _step_scenarios(step)
    if all(name in by_name for name in names):
        return step_verdict([by_name[name] for name in names])
    return step["holds"], step["why"]


@dataclass(frozen=True, slots=True)
class FanoutRow:
    """A push server's p99 next to the floor's time for one fan-out at the same N."""

    clients: int
    point: ScalePoint
    fanout_p50_ms: float
    fanout_p99_ms: float

    @property
    def ratio(self) -> float | None:
        """p99 latency / the floor's fan-out p99."""
        p99 = self.point.p99_ms
        return p99 / self.fanout_p99_ms if p99 is not None and self.fanout_p99_ms else None


def fanout_rows(rows: Sequence[ScalePoint]) -> list[FanoutRow]:
    """Every push point at an N where the floor reported its fan-out times."""
    floors = {p.clients: p for p in rows if p.fanout_p99_ms is not None
              and p.fanout_p50_ms is not None}
    return [FanoutRow(p.clients, p, floors[p.clients].fanout_p50_ms or 0.0,
                      floors[p.clients].fanout_p99_ms or 0.0)
            for p in sorted(rows, key=lambda p: p.clients)
            if p.clients in floors and p.transport in (*STREAMED, "longpoll")
            and p.purpose != "soak"]


@dataclass(frozen=True, slots=True)
class Soak:
    """The memory soak: the server's RSS over the window and its least-squares growth."""

    scenario: str
    server: str
    transport: str
    clients: int
    duration_s: float
    series: tuple[tuple[float, float], ...]
    growth_bytes_per_min: float | None
    kb_per_connection: float | None
    flags: tuple[str, ...]
    history: int | None = None
    warmup_s: float | None = None


def soak(run: RunData) -> Soak | None:
    """The run's soak scenario (``purpose`` soak, with an RSS series), if any."""
    for s in run.scenarios:
        params = s.get("params") or {}
        if is_scale_suite(s) and params.get("purpose") == "soak" and s.get("rss_series"):
            per_conn = number((s.get("server") or {}).get("rss_per_connection_bytes"))
            return Soak(
                scenario=s["name"], server=str(params["server"]), transport=params["transport"],
                clients=int(params["clients"]),
                duration_s=float(s.get("window_s") or params.get("duration_s") or 0.0),
                series=tuple((float(t), float(r)) for t, r in s["rss_series"]),
                growth_bytes_per_min=number(s.get("rss_growth_bytes_per_min")),
                kb_per_connection=None if per_conn is None else per_conn / 1024,
                flags=tuple(s.get("flags") or ()),
                history=params.get("history"), warmup_s=number(params.get("warmup_s")),
            )
    return None


@dataclass(frozen=True, slots=True)
class MachineSpeed:
    """The fixed loop's timings on every core before every case
    (:mod:`benchmarks.scale.cpuspeed`)."""

    readings: int
    fastest_ms: float
    median_ms: float
    slowest_ms: float
    slowest_before: str

    @property
    def spread(self) -> float:
        """The slowest timing over the fastest."""
        return self.slowest_ms / self.fastest_ms


def machine_speed(run: RunData) -> MachineSpeed | None:
    """Every case's ``machine_speed_ms`` together (None when the run has none)."""
    timed = sorted((float(ms), s["name"]) for s in run.scenarios if is_scale_suite(s)
                   for ms in s.get("machine_speed_ms") or () if ms)
    if not timed:
        return None
    return MachineSpeed(readings=len(timed), fastest_ms=timed[0][0],
                        median_ms=median(ms for ms, _ in timed), slowest_ms=timed[-1][0],
                        slowest_before=timed[-1][1])
