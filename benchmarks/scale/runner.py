"""Running one scale case: its server, its swarms, the readings of its window, its scenario.

For each case one server runs in its own process (the lab with ``--workers 1``
or ``2`` and ``--steady --log-level WARNING``, with ``--plain`` for ``lab-plain``,
or a baseline from :mod:`benchmarks.baselines`; a case with a ``source`` runs the
lab from that checkout, see :class:`~benchmarks.scale.cases.Source`), and N
connections are spread over
:data:`~benchmarks.scale.cases.CLIENTS_PER_SWARM`-sized swarm processes
(:mod:`benchmarks.scale.swarm`), each bound to its own loopback source
addresses. The timeline of a case:

1. start the server; read its process tree's RSS while no client is connected;
2. start the swarms; once every connection has received a message, read the
   RSS again (memory per connection = the difference / N, before the feed's
   messages can pile up anywhere); each swarm reads what its untimed
   connections hold (:meth:`benchmarks.scale.swarm_connections.Swarm.catch_up`),
   then wait ``warmup_s``;
3. time a steady window on a shared wall clock: server CPU (summed over the
   primary and its workers, from /proc), the machine's CPU (/proc/stat), each
   swarm's own CPU; the floor's per-tick fan-out times from its ``/stats``;
4. collect the swarms' reports (exact counts, gaps, a latency subsample), stop
   everything and build the scenario (:mod:`benchmarks.scale.figures`).

A case with ``flooders`` also starts a chat flooder (:mod:`benchmarks.scale.flooder`)
once the swarms are ready; it floods through the warm-up and the window, and its
report (posts answered, posts refused) goes into the scenario as ``flood``.

Everything is loopback, bounded in count and time; every child is stopped when
the case ends, fails or is cancelled. Which cases run, and in what order, is not
decided here (:mod:`benchmarks.scale.search`), nor is anything written to disk
but the children's logs (:mod:`benchmarks.scale.output`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from benchmarks.results.model import ScenarioResult
from benchmarks.scale import cpuspeed
from benchmarks.scale.cases import Case
from benchmarks.scale.figures import ServerReadings, build, scenario_dict
from benchmarks.scale.process_tree import tree_sample
from benchmarks.suite import procstats
from benchmarks.suite.children import Child, ChildError, sleep_until
from benchmarks.suite.measure import machine_figures
from lab.contract import now_us

CONNECT_IN_FLIGHT = 96
"""TCP connects in flight over all swarms: under aiohttp's default listen backlog (128), as
the baselines use it."""


async def start_server(case: Case, seed: int, log_dir: Path) -> tuple[Child, int]:
    """Start the case's server on a free port; return it and the port once /healthz answers."""
    server = Child(f"server {case.server}", log_dir / f"{case.name}.server.log")
    await server.start(*case.server_args(seed), "--port", "0",
                       tree=case.source.path if case.source else None)
    return server, await server.wait_serving(30.0)


async def start_swarms(case: Case, port: int, seed: int, log_dir: Path) -> list[Child]:
    """Spawn the swarms; each gets an even share of clients and four source addresses."""
    swarms, offset = [], 0
    ready_timeout = case.ready_timeout_s
    for i in range(case.swarms):
        count = case.clients // case.swarms + (1 if i < case.clients % case.swarms else 0)
        sources = ",".join(f"127.0.{1 + (2 + 4 * i + k) // 250}.{(2 + 4 * i + k) % 250 + 1}"
                           for k in range(4))
        swarm = Child(f"swarm {i}", log_dir / f"{case.name}.swarm{i}.log")
        await swarm.start(
            "-m", "benchmarks.scale.swarm", "--url", f"http://127.0.0.1:{port}",
            "--transport", case.transport, "--clients", str(count),
            "--client-offset", str(offset), "--sources", sources,
            "--interval", f"{case.interval_s or 0.0:g}", "--seed", str(seed + i),
            "--connect-concurrency", str(max(8, CONNECT_IN_FLIGHT // case.swarms)),
            "--max-samples", str(max(1000, 40_000 // case.swarms)),
            "--timed-every", str(case.timed_every), "--timed-read-ms", f"{1000 / case.rate:g}",
            *(("--idle-priority",) if case.idle_loadgen else ()),
            "--ready-timeout", f"{ready_timeout:g}",
            "--max-duration", f"{ready_timeout + case.warmup_s + case.duration_s + 120:g}",
            stdin=True,
        )
        swarms.append(swarm)
        offset += count
    return swarms


async def start_flooder(case: Case, port: int, log_dir: Path) -> Child:
    """Start the case's chat flooder; return it once every one of its identities joined."""
    flooder = Child("flooder", log_dir / f"{case.name}.flooder.log")
    await flooder.start("-m", "benchmarks.scale.flooder", "--url", f"http://127.0.0.1:{port}",
                        "--connections", str(case.flooders),
                        "--max-duration", f"{case.warmup_s + case.duration_s + 60:g}", stdin=True)
    await flooder.expect("ready", 30.0)
    return flooder


async def floor_fanouts(port: int, start_us: int, end_us: int) -> list[int]:
    """The floor's fan-out durations (µs) of the ticks inside the window."""
    async with (aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{port}/stats") as response):
        stats = await response.json(loads=orjson.loads)
    return [d for t, d, _n in stats["fanouts"] if start_us <= t < end_us]


async def run_case(case: Case, seed: int, log_dir: Path,
                   ) -> tuple[dict[str, Any], list[tuple[int, int, int, int, int]]]:
    """Run ``case``; return its results.json scenario and latency sample rows.

    A failure becomes an ``error`` scenario; cancellation propagates after every
    child is stopped. Before anything starts, while none of the suite's processes
    runs, the machine's own speed is read (``machine_speed_ms``, see
    :mod:`benchmarks.scale.cpuspeed`).
    """
    speed = {"machine_speed_ms": cpuspeed.reading()}
    try:
        scenario, samples = await _run_case(case, seed, log_dir)
    except (ChildError, procstats.ProcessGone, aiohttp.ClientError, OSError, KeyError) as exc:
        failed = ScenarioResult(name=case.name, group="scale", params=case.params(),
                                status="error", error=f"{type(exc).__name__}: {exc}",
                                transport=case.transport)
        return scenario_dict(failed, speed), []
    return {**scenario, **speed}, samples


async def _run_case(case: Case, seed: int, log_dir: Path,
                    ) -> tuple[dict[str, Any], list[tuple[int, int, int, int, int]]]:
    async with contextlib.AsyncExitStack() as stack:
        server, port = await start_server(case, seed, log_dir)
        stack.push_async_callback(server.stop)
        await asyncio.sleep(0.3)  # let start-up garbage settle before the idle reading
        idle = tree_sample(server.pid)
        drops = procstats.backlog_drops()
        swarms = await start_swarms(case, port, seed, log_dir)
        for swarm in swarms:
            stack.push_async_callback(swarm.stop)
        for swarm in swarms:
            await swarm.expect("ready", case.ready_timeout_s + 30.0)
        ready = tree_sample(server.pid)
        for swarm in swarms:  # all at once: each reads its untimed connections' backlog
            swarm.send({"catch_up": True})
        catch_up_s = max([(await swarm.expect("caught_up", case.ready_timeout_s + 30.0))["sweep_s"]
                          for swarm in swarms])
        flooder = await start_flooder(case, port, log_dir) if case.flooders else None
        if flooder is not None:
            stack.push_async_callback(flooder.stop)

        # The swarms learn the window now, a whole warm-up ahead: a swarm at idle priority on
        # a busy machine may take a while to read it (see window_late_ms).
        start_us = now_us() + int(case.warmup_s * 1e6) + 200_000
        end_us = start_us + int(case.duration_s * 1e6)
        for swarm in swarms:
            swarm.send({"window": [start_us, end_us], "drain_s": case.drain_s})
        await sleep_until(start_us)
        tcp1 = procstats.receive_pressure()
        p1, m1, own1 = tree_sample(server.pid), procstats.machine_cpu(), time.process_time()
        series = await _watch_rss(server.pid, case, start_us, end_us)
        p2, m2, own2 = tree_sample(server.pid), procstats.machine_cpu(), time.process_time()
        fanouts = await floor_fanouts(port, start_us, end_us) if case.server == "floor" else []
        flood = None
        if flooder is not None:
            flooder.send({"stop": True})
            flood = await flooder.expect("report", 30.0)
        reports = [await swarm.expect("report", case.drain_s + 60.0) for swarm in swarms]
        tcp2 = procstats.receive_pressure()
        drops = procstats.backlog_drops() - drops

    window_s = (end_us - start_us) / 1e6
    server_cpu = p2.cpu_s - p1.cpu_s
    ours = server_cpu + (own2 - own1) + sum(r["cpu_window_s"] or 0.0 for r in reports)
    readings = ServerReadings(
        cpu_s=server_cpu, processes=p2.processes, rss_idle_bytes=idle.rss_bytes,
        rss_ready_bytes=ready.rss_bytes, rss_start_bytes=p1.rss_bytes,
        rss_end_bytes=p2.rss_bytes, peak_rss_bytes=p2.peak_rss_bytes, fanouts_us=fanouts,
        receive_pressure={k: tcp2[k] - tcp1[k] for k in tcp1},
        backlog_drops=drops, backlog_limit=procstats.backlog_limit(),
    )
    result, extras, samples = build(case.name, case.params(), reports, readings,
                                    machine_figures(m1, m2, window_s, ours, os.cpu_count() or 1),
                                    window_s)
    extras["catch_up_s"] = catch_up_s
    if flood is not None:
        extras["flood"] = {k: flood[k] for k in ("posted", "limited", "other", "seconds", "cpu_s")}
    if series:
        extras["rss_series"] = series
        extras["rss_growth_bytes_per_min"] = _slope_per_min(series)
    return scenario_dict(result, extras), samples


async def _watch_rss(pid: int, case: Case, start_us: int, end_us: int) -> list[list[float]]:
    """Sleep through the window; for a soak, sample the tree's RSS every ``soak_every_s``."""
    if not case.soak_every_s:
        await sleep_until(end_us)
        return []
    series = []
    while now_us() < end_us:
        series.append([round((now_us() - start_us) / 1e6, 2), tree_sample(pid).rss_bytes])
        await asyncio.sleep(min(case.soak_every_s, max(0.0, (end_us - now_us()) / 1e6)))
    return series


def _slope_per_min(series: list[list[float]]) -> float | None:
    """Least-squares RSS growth in bytes per minute."""
    if len(series) < 3:
        return None
    n = len(series)
    mx = sum(t for t, _ in series) / n
    my = sum(r for _, r in series) / n
    sxx = sum((t - mx) ** 2 for t, _ in series)
    return round(sum((t - mx) * (r - my) for t, r in series) / sxx * 60, 1) if sxx else None
