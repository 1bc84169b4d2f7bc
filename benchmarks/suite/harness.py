"""Running one scenario with honest process isolation.

Three kinds of process take part, and none measures itself:

- the **server**: ``python -m lab`` in its own process (and session); its CPU
  seconds and memory are read from /proc at the window's edges
  (:mod:`benchmarks.suite.procstats`), its counters from ``/api/stats``;
- the **load generator**: one or more ``python -m benchmarks.suite.loadgen`` workers
  holding the clients; each reports its own CPU over the window;
- the **relay** (:class:`lab.netem.Relay`) with the scenario's network
  conditions runs *inside this runner's process*, so its CPU is neither the
  server's nor the load generator's; the runner's process time over the window
  is reported as the relay's. Scale scenarios skip the relay (``relay=False``)
  and connect straight to the server.

The timeline: start workers and server together; when ``/healthz`` answers,
start the relay and tell the workers where to connect; wait until every client
has received a message, then ``warmup_s``; then the window opens at an agreed
wall-clock instant and only messages published inside it count. After the
window the workers drain in-flight messages, close their clients and report.

Every child runs in its own session so a terminal's Ctrl-C reaches only the
runner, which then kills its children itself (see :class:`Child`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from benchmarks.results.model import (
    LoadgenFigures,
    RelayFigures,
    ScenarioResult,
    ServerFigures,
)
from benchmarks.suite import measure, procstats
from benchmarks.suite.children import Child, ChildError, sleep_until
from benchmarks.suite.scenarios import Scenario
from lab.contract import now_us
from lab.netem import NetemConfig, Relay

STALENESS_CLIENTS = 5
"""Clients per worker whose staleness is sampled (every 10 ms, inside the window)."""
MAX_SAMPLES = 20_000
"""Latency samples a worker returns at most; above it a seeded uniform subsample."""
CAPTURE_BYTES = 4096


class HarnessError(ChildError):
    """A scenario could not run (a child failed to start, answer or report)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One scenario's result, its raw rows, and the relay's first capture if any."""

    result: ScenarioResult
    samples: list[tuple[int, int, int, int]] = field(default_factory=list)
    staleness: list[tuple[int, int, int]] = field(default_factory=list)
    capture: tuple[bytes, bytes] | None = None


async def start_server(scenario: Scenario, seed: int, log_dir: Path,
                       stack: contextlib.AsyncExitStack) -> tuple[Child, int]:
    """Start ``python -m lab`` on a free port; return it and its port once /healthz answers.

    The child is stopped when ``stack`` closes (registered before it is spawned, so
    a Ctrl-C during start-up cannot leave it behind).
    """
    server = Child("server", log_dir / f"{scenario.name}.server.log")
    stack.push_async_callback(server.stop)
    await server.start(
        "-m", "lab", "--no-class-link", "--port", "0", "--rate", f"{scenario.rate:g}", "--seed", str(seed),
        "--log-level", "WARNING", *(["--steady"] if scenario.group == "scale" else []),
    )
    return server, await server.wait_serving(20.0)


async def start_workers(scenario: Scenario, seed: int, log_dir: Path,
                        stack: contextlib.AsyncExitStack) -> list[tuple[Child, Path]]:
    """Spawn the load-generator processes (stopped when ``stack`` closes).

    Clients are split as evenly as possible.
    """
    n = scenario.worker_count
    workers = []
    offset = 0
    for i in range(n):
        count = scenario.clients // n + (1 if i < scenario.clients % n else 0)
        out = log_dir / f"{scenario.name}.worker{i}.json"
        job = {
            "transport": scenario.transport, "clients": count, "client_offset": offset,
            "interval_s": scenario.interval_s, "staleness_clients": STALENESS_CLIENTS,
            "keep_arrivals": scenario.cut_every_s is not None, "max_samples": MAX_SAMPLES,
            "ready_timeout_s": 10.0 + count / 50, "seed": seed + i, "out": str(out),
        }
        child = Child(f"load generator {i}", log_dir / f"{scenario.name}.worker{i}.log")
        stack.push_async_callback(child.stop)
        await child.start("-m", "benchmarks.suite.loadgen", "--job", orjson.dumps(job).decode(),
                          stdin=True)
        workers.append((child, out))
        offset += count
    return workers


async def _stats(session: aiohttp.ClientSession, port: int) -> dict[str, Any]:
    async with session.get(f"http://127.0.0.1:{port}/api/stats") as response:
        response.raise_for_status()
        return await response.json(loads=orjson.loads)


async def _track_cuts(relay: Relay, cuts: list[int]) -> None:
    """Timestamp the relay's forced cuts by watching its counter (2 ms resolution)."""
    seen = relay.cuts
    while True:
        await asyncio.sleep(0.002)
        if relay.cuts != seen:
            cuts.extend([now_us()] * (relay.cuts - seen))
            seen = relay.cuts


async def _settle(session: aiohttp.ClientSession, port: int, transport: str) -> dict[str, Any]:
    """Server stats once the transport's connections are all closed (or after 2 s)."""
    for _ in range(40):
        stats = await _stats(session, port)
        if stats["transports"][transport]["open_connections"] == 0:
            break
        await asyncio.sleep(0.05)
    return stats


async def run_scenario(scenario: Scenario, seed: int, log_dir: Path) -> Outcome:
    """Run ``scenario`` and measure it; a failure becomes an ``error`` result.

    Cancellation (Ctrl-C) propagates after every child is stopped.
    """
    try:
        return await _run(scenario, seed, log_dir)
    except (ChildError, aiohttp.ClientError, procstats.ProcessGone, OSError) as exc:
        return Outcome(ScenarioResult(name=scenario.name, group=scenario.group,
                                      params=scenario.params(), status="error",
                                      error=f"{type(exc).__name__}: {exc}"))


async def _run(scenario: Scenario, seed: int, log_dir: Path) -> Outcome:
    async with contextlib.AsyncExitStack() as stack:
        workers = await start_workers(scenario, seed, log_dir, stack)
        server, port = await start_server(scenario, seed, log_dir, stack)
        relay = None
        url = f"http://127.0.0.1:{port}"
        if scenario.relay:
            config = NetemConfig(
                delay_s=scenario.delay_ms / 1000, jitter_s=scenario.jitter_ms / 1000,
                cut_every_s=scenario.cut_every_s, capture_bytes=CAPTURE_BYTES, seed=seed,
            )
            relay = await stack.enter_async_context(Relay(upstream=("127.0.0.1", port),
                                                          config=config))
            url = relay.url
        session = await stack.enter_async_context(aiohttp.ClientSession())
        for child, _ in workers:
            await child.expect("loaded", 30.0)
        stats0, idle = await _stats(session, port), procstats.sample(server.pid)
        for child, _ in workers:
            child.send({"url": url})
        for child, _ in workers:
            ready = await child.expect("ready", 30.0 + scenario.clients / 20)
            if not ready["ready"]:
                raise HarnessError(f"{child.name}: no client received a message "
                                   f"({ready.get('error') or 'no reason given'})")
        await asyncio.sleep(scenario.warmup_s)

        start_us = now_us() + 100_000
        end_us = start_us + int(scenario.duration_s * 1e6)
        for child, _ in workers:
            child.send({"window": [start_us, end_us], "drain_s": scenario.drain_s})
        cuts: list[int] = []
        if relay is not None and scenario.cut_every_s:
            tracker = asyncio.create_task(_track_cuts(relay, cuts))
            stack.callback(tracker.cancel)
        await sleep_until(start_us)
        p1, r1, m1 = procstats.sample(server.pid), time.process_time(), procstats.machine_cpu()
        w1 = time.monotonic()
        stats1 = await _stats(session, port)
        await sleep_until(end_us)
        p2, r2, m2 = procstats.sample(server.pid), time.process_time(), procstats.machine_cpu()
        w2 = time.monotonic()
        stats2 = await _stats(session, port)

        reports = []
        for child, out in workers:
            await child.expect("done", scenario.drain_s + 30.0)
            reports.append(orjson.loads(out.read_bytes()))
        relay_figures, capture = None, None
        if relay is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(relay.wait_idle(), 5.0)
            relay_figures = RelayFigures(
                bytes_upstream=relay.bytes_upstream, bytes_downstream=relay.bytes_downstream,
                connections=relay.connections, cuts=relay.cuts, cpu_s=round(r2 - r1, 4),
                cpu_util=round((r2 - r1) / scenario.duration_s, 4),
            )
            if relay.captures:
                sent, received = relay.captures[0]
                capture = (sent, received)
        stats3 = await _settle(session, port, scenario.transport)

    t = scenario.transport
    server_figures = ServerFigures(
        cpu_s=round(p2.cpu_s - p1.cpu_s, 4), peak_rss_bytes=p2.peak_rss_bytes,
        rss_start_bytes=p1.rss_bytes, rss_end_bytes=p2.rss_bytes, rss_idle_bytes=idle.rss_bytes,
        stats=measure.stats_delta(stats1["transports"][t], stats2["transports"][t]),
        stats_run=measure.stats_delta(stats0["transports"][t], stats3["transports"][t]),
    )
    head_delta = stats2["topics"]["prices"]["head"] - stats1["topics"]["prices"]["head"]
    measured = _outcome(scenario, reports, server_figures, relay_figures, capture, cuts,
                        (start_us, end_us), head_delta)
    return _with_machine(measured, m1, m2, w2 - w1, r2 - r1)


def _with_machine(outcome: Outcome, m1: tuple[float, float, float],
                  m2: tuple[float, float, float], wall_s: float, runner_cpu_s: float) -> Outcome:
    """Add the whole machine's CPU over the window (``wall_s`` long), and flag a busy machine."""
    result = outcome.result
    ours = runner_cpu_s + (result.server.cpu_s if result.server else 0.0)
    ours += result.loadgen.cpu_s if result.loadgen else 0.0
    machine = measure.machine_figures(m1, m2, wall_s, ours, os.cpu_count() or 1)
    return dataclasses.replace(outcome, result=dataclasses.replace(
        result, machine=machine, flags=[*result.flags, *measure.machine_flags(machine)]))


def _outcome(scenario: Scenario, reports: Sequence[dict[str, Any]], server: ServerFigures,
             relay: RelayFigures | None, capture: tuple[bytes, bytes] | None, cuts: list[int],
             window: tuple[int, int], head_delta: int) -> Outcome:
    """Combine the workers' reports with the server's and relay's figures."""
    window_s = scenario.duration_s
    utils = [r["cpu_window_s"] / max(r["window_wall_s"] or window_s, 1e-3) for r in reports
             if r["cpu_window_s"] is not None]
    loadgen_util = max(utils, default=0.0)
    loadgen = LoadgenFigures(
        processes=len(reports), cpu_s=round(sum(r["cpu_window_s"] or 0 for r in reports), 4),
        cpu_util=round(loadgen_util, 4), saturated=loadgen_util >= measure.SATURATED_UTIL,
    )
    samples = [tuple(s) for r in reports for s in r["samples"]]
    staleness = [tuple(s) for r in reports for s in r["staleness"]]
    lows = [r["min_seq"] for r in reports if r["min_seq"] is not None]
    highs = [r["max_seq"] for r in reports if r["max_seq"] is not None]
    published = max(highs) - min(lows) + 1 if lows else head_delta
    delivered = sum(r["delivered"] for r in reports)
    failed = sum(r["error_count"] for r in reports)
    recovery = None
    if scenario.cut_every_s:
        arrivals = [tuple(a) for r in reports for a in r["arrivals"]]
        recovery = measure.distribution(measure.recovery_us(cuts, arrivals, *window))
    transports = sorted({t for r in reports for t in r["transports"]})
    found = measure.flags(
        clients=scenario.clients, delivered=delivered, published=published,
        loadgen_util=loadgen_util, relay_util=relay.cpu_util if relay else None,
        server_util=server.cpu_s / window_s, failed_clients=failed, rate=scenario.rate,
        window_s=window_s,
    )
    errors = sorted({e for r in reports for e in r["errors"].values()})
    result = ScenarioResult(
        name=scenario.name, group=scenario.group, params=scenario.params(), status="ok",
        error="; ".join(errors[:3]) or None, window_s=window_s, server=server, loadgen=loadgen,
        relay=relay, wire=measure.sum_wire(r["wire"] for r in reports),
        wire_window=measure.sum_wire(r["wire_window"] for r in reports),
        delivered=delivered, published=published,
        latency_ms=measure.distribution(recv - t for _c, _s, t, recv in samples),
        staleness_ms=measure.distribution(s for _c, _t, s in staleness) if staleness else None,
        recovery_ms=recovery, flags=found, transport=transports[0] if transports else None,
        sampled=any(r["sampled"] for r in reports),
    )
    return Outcome(result, samples, staleness, capture)
