"""Turning one scale run's raw readings into a results.json scenario: pure functions, no I/O.

Inputs are the swarm processes' reports (:func:`benchmarks.scale.swarm.report`) and
the server's process-tree readings; the output is a
:class:`benchmarks.results.model.ScenarioResult` plus the scale-only extras that
results.json carries beside it (see :func:`scenario_dict`):

- ``server.cpu_us_per_delivery``: server CPU over the window / messages delivered in it;
- ``server.rss_per_connection_bytes``: (RSS once every client is connected −
  RSS before any connected) / clients, summed over the server's processes,
  taken before the feed's messages could pile up anywhere;
- ``server.requests_per_cpu_s`` (polls): requests answered in the window / server CPU;
- ``server.fanout_ms`` (the floor): the duration of its ``send()`` loop per tick;
- ``loss``: gaps, duplicates, missed notices, undelivered messages, failed clients,
  clients still connecting when the window opened (``late_clients``);
- ``loadgen_utils``: each swarm process's share of one core over the window;
- ``latency_ms`` from publish to the kernel's arrival time at a timed client's
  socket (``timed_clients`` of them); ``read_latency_ms`` to when the swarm
  process read it; ``batched_share``: timed messages read together with a later
  one, whose arrival time (the read's last segment's) is an upper bound —
  flagged above 1 %; ``latency_lower_ms``: the least p95 and p99 could be if
  every such message had arrived the moment it was published
  (:func:`lower_bounds`), so a reader can tell whether the late reads could
  change a verdict.

Judging a scenario (does a breaking-point step hold?) is not done here: see
:mod:`benchmarks.results.scale_verdicts`, which also defines the flags' words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.results.model import (
    LoadgenFigures,
    MachineFigures,
    ScenarioResult,
    ServerFigures,
)
from benchmarks.results.scale_verdicts import BACKLOG_FLAG, OUTSIDE_FLAG, READ_TOGETHER
from benchmarks.suite import measure


@dataclass(frozen=True, slots=True)
class ServerReadings:
    """The server's process tree as /proc saw it, the floor's fan-out times (µs), and how far
    the machine's TCP receive-pressure counters moved from the window's start to the swarms'
    reports (:func:`benchmarks.suite.procstats.receive_pressure`), and the packets the kernel
    dropped on full input backlogs (``backlog_limit`` deep) from the swarms' start to their
    reports (:func:`benchmarks.suite.procstats.backlog_drops`)."""

    cpu_s: float
    processes: int
    rss_idle_bytes: int
    rss_ready_bytes: int
    rss_start_bytes: int
    rss_end_bytes: int
    peak_rss_bytes: int
    fanouts_us: Sequence[int] = ()
    receive_pressure: Mapping[str, int] = field(default_factory=dict)
    backlog_drops: int = 0
    backlog_limit: int | None = None


def loss(reports: Sequence[Mapping[str, Any]], published: int, clients: int) -> dict[str, int]:
    """Every way a message can go missing, summed over the swarm processes."""
    delivered = sum(r["delivered"] for r in reports)
    return {
        "gaps": sum(r["gaps"] for r in reports),
        "duplicates": sum(r["duplicates"] for r in reports),
        "missed": sum(r["missed"] for r in reports),
        "undelivered": max(0, published * clients - delivered),
        "failed_clients": sum(r["failed"] for r in reports),
        # Clients neither ready when the window opened nor failed; one that failed after
        # it opened was ready then, so it is in both counts.
        "late_clients": sum(max(0, r["clients"] - r.get("ready_at_window", r["clients"])
                                - r["failed"]) for r in reports),
        "incomplete_clients": sum(r["incomplete"] for r in reports),
    }


def build(name: str, params: dict[str, Any], reports: Sequence[Mapping[str, Any]],
          server: ServerReadings, machine: MachineFigures, window_s: float,
          ) -> tuple[ScenarioResult, dict[str, Any], list[tuple[int, int, int, int, int]]]:
    """The scenario result, its extras and its latency sample rows.

    ``latency_ms`` runs from the publish time ``t_us`` to the kernel's arrival
    time on the client's socket (what a client on another machine would see,
    free of this machine's load-generator scheduling); ``read_latency_ms``, an
    extra, to the moment the swarm process read the message.
    """
    transport = params["transport"]
    clients = int(params["clients"])
    poll = transport == "poll"
    samples = [(int(c), int(s), int(t), int(r), int(a))
               for rep in reports for c, s, t, r, a in rep["samples"]]
    lows = [r["min_seq"] for r in reports if r["min_seq"] is not None]
    highs = [r["max_seq"] for r in reports if r["max_seq"] is not None]
    published = max(highs) - min(lows) + 1 if lows else 0
    delivered = sum(r["delivered"] for r in reports)
    batched = sum(r.get("batched", 0) for r in reports)
    timed = sum(r["timed_delivered"] for r in reports)
    requests = sum(r["window_requests"] for r in reports)
    lost = loss(reports, 0 if poll else published, clients)
    utils = [(r["cpu_window_s"] or 0.0) / max(r["window_wall_s"] or window_s, 1e-3)
             for r in reports]
    loadgen = LoadgenFigures(
        processes=len(reports), cpu_s=round(sum(r["cpu_window_s"] or 0.0 for r in reports), 4),
        cpu_util=round(max(utils, default=0.0), 4),
        saturated=max(utils, default=0.0) >= measure.SATURATED_UTIL,
    )
    figures = ServerFigures(
        cpu_s=round(server.cpu_s, 6), peak_rss_bytes=server.peak_rss_bytes,
        rss_start_bytes=server.rss_start_bytes, rss_end_bytes=server.rss_end_bytes,
        rss_idle_bytes=server.rss_idle_bytes, stats={},
    )
    extras_server: dict[str, Any] = {
        "processes": server.processes,
        "cpu_us_per_delivery": round(server.cpu_s / delivered * 1e6, 3) if delivered else None,
        "rss_per_connection_bytes": round((server.rss_ready_bytes - server.rss_idle_bytes)
                                          / clients, 1),
    }
    if requests:
        extras_server["requests_per_cpu_s"] = round(requests / max(server.cpu_s, 1e-9), 1)
    if server.fanouts_us:
        extras_server["fanout_ms"] = asdict(measure.distribution(server.fanouts_us))
    flags = _flags(params, loadgen, utils, server.cpu_s / window_s, server.processes, lost,
                   published, delivered, poll)
    late = max((r["window_late_ms"] for r in reports), default=0.0)
    if late > 0:
        flags.append(f"loadgen behind: a swarm learnt of the window {late:,.0f} ms after it "
                     "opened (messages it read before then are not counted)")
    latencies = [a - t for _c, _s, t, _r, a in samples]
    lower = lower_bounds(latencies, batched / timed) if batched and latencies and not poll \
        else None
    if lower and batched > 0.01 * timed:
        flags.append(f"loadgen behind: {batched / timed:.0%} {READ_TOGETHER} (their arrival "
                     "time is an upper bound; p95 would be "
                     f"{lower['p95']:,.1f} ms at the least)")
    flags += [f.replace("other processes took", f"{OUTSIDE_FLAG}: other processes took")
              for f in measure.machine_flags(machine)]
    pressed = {k: v for k, v in server.receive_pressure.items() if v}
    if pressed:
        flags.append("receive queues short of room (machine-wide TCP counters: "
                     + ", ".join(f"{k} {v:,}" for k, v in pressed.items())
                     + "): a waiting socket may have slowed the server")
    if server.backlog_drops:
        flags.append(f"{BACKLOG_FLAG} {server.backlog_drops:,} packets (a CPU's input backlog, "
                     f"net.core.netdev_max_backlog = {server.backlog_limit or '?'}, overflowed; "
                     "TCP sent them again after a timeout): see the README's scale suite")
    errors = sorted({e for r in reports for e in r["errors"]})
    result = ScenarioResult(
        name=name, group="scale", params=params, status="ok",
        error="; ".join(errors[:3]) or None, window_s=window_s, server=figures, loadgen=loadgen,
        delivered=delivered, published=published if not poll else None,
        latency_ms=measure.distribution(latencies) if not poll else None,
        flags=flags, transport=transport, sampled=any(r["sampled"] for r in reports),
        machine=machine,
    )
    extras = {"server": extras_server, "loss": lost, "window_requests": requests,
              "loadgen_utils": [round(u, 4) for u in utils],
              "ready_s": max((r["ready_s"] for r in reports), default=None)}
    extras["batched_share"] = round(batched / timed, 4) if timed else None
    extras["timed_clients"] = sum(r["timed_clients"] for r in reports)
    extras["receive_pressure"] = dict(server.receive_pressure)
    extras["backlog_drops"] = server.backlog_drops
    extras["backlog_limit"] = server.backlog_limit
    if lower:
        extras["latency_lower_ms"] = lower
    if samples and not poll:
        extras["read_latency_ms"] = asdict(measure.distribution(r - t for _c, _s, t, r, _a
                                                                in samples))
    return result, extras, samples if not poll else []


def _flags(params: Mapping[str, Any], loadgen: LoadgenFigures, utils: Sequence[float],
           server_util: float, processes: int, lost: Mapping[str, int], published: int,
           delivered: int, poll: bool) -> list[str]:
    found = []
    busiest = max(range(len(utils)), key=utils.__getitem__, default=None)
    if loadgen.saturated and busiest is not None:
        found.append(f"loadgen saturated (swarm {busiest} at {utils[busiest]:.0%} of a core)")
    cores = int(params.get("server_workers") or 1)
    if server_util >= measure.SATURATED_UTIL * cores:
        found.append(f"server at its limit ({server_util:.0%} of a core, {processes} processes)")
    if not poll and (lost["undelivered"] or lost["gaps"] or lost["missed"]):
        expected = published * int(params["clients"])
        found.append(f"incomplete delivery: {delivered} of {expected}, {lost['gaps']} gaps, "
                     f"{lost['missed']} missed")
    rate, window = float(params["rate"]), float(params["duration_s"])
    if not poll and published < 0.5 * rate * window:
        found.append(f"feed behind: {published} published, ~{rate * window:.0f} expected")
    if lost["failed_clients"]:
        found.append(f"{lost['failed_clients']} of {params['clients']} clients failed")
    if lost["late_clients"] > 0:
        found.append(f"{lost['late_clients']} of {params['clients']} clients still connecting "
                     "when the window opened (server slow to accept)")
    return found


def lower_bounds(latencies_us: Sequence[int], overstated: float) -> dict[str, float]:
    """The least p95 and p99 (ms) could be when a share ``overstated`` of the sample may be
    too high: messages read together with a later one carry the later one's arrival time.

    Lowering a share f of a sample, by any amount, leaves its q-quantile no
    lower than the (q − f)-quantile before, so that is the bound, whatever the
    read-together messages' true arrival times were.
    """
    ordered = sorted(v / 1000 for v in latencies_us)
    return {name: round(measure.percentile(ordered, q - 100 * overstated), 3)
            if q > 100 * overstated else 0.0 for name, q in (("p95", 95), ("p99", 99))}


def scenario_dict(result: ScenarioResult, extras: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario as results.json holds it: the model's fields plus the scale extras."""
    data = asdict(result)
    for key, value in extras.items():
        if key == "server" and data.get("server") is not None:
            data["server"].update(value)
        else:
            data[key] = value
    return data
