"""``python -m benchmarks.scale``: the scale suite of issue 6 — thousands of clients per server.

For each case one server runs in its own process (the lab with ``--workers 1``
or ``2`` and ``--steady --log-level WARNING``, or a baseline from
:mod:`benchmarks.baselines`), and N connections are spread over
:data:`CLIENTS_PER_SWARM`-sized :mod:`benchmarks.swarm` processes, each bound to
its own loopback source addresses. The timeline of a case:

1. start the server; read its process tree's RSS while no client is connected;
2. start the swarms; once every connection has received a message, read the
   RSS again (memory per connection = the difference / N, before the feed's
   messages can pile up anywhere); each swarm reads what its untimed
   connections hold (:meth:`benchmarks.swarm.Swarm.catch_up`), then wait ``warmup_s``;
3. time a steady window on a shared wall clock: server CPU (summed over the
   primary and its workers, from /proc), the machine's CPU (/proc/stat), each
   swarm's own CPU; the floor's per-tick fan-out times from its ``/stats``;
4. collect the swarms' reports (exact counts, gaps, a latency subsample), stop
   everything and build the scenario (:mod:`benchmarks.scale_figures`).

The suite (:func:`plan`): every transport at N = 5,000 against the floor and the
textbook baselines; short poll as closed-loop requests per CPU-second against a
constant handler; a breaking-point search per push transport and worker count
(N stepped 2k → 5k → 7.5k → 10k → 15k, the largest N with p95 < 100 ms and no loss;
for WebSocket also the floor's and the plain aiohttp loop's);
and a memory soak (1,000 WebSocket clients, RSS every few seconds after a
warm-up that fills the ring buffer; one minute by default, ``--soak-minutes 10``
for the full one). Results go to
``<out>/results.json`` (with ``breaking_points`` and ``soak`` beside the
scenarios) and ``samples.csv``, like the other suites; then the report is built.

Everything is loopback, bounded in count and time; children are stopped on
exit, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from benchmarks import cpuspeed, procstats
from benchmarks.children import Child, ChildError, sleep_until
from benchmarks.measure import machine_figures
from benchmarks.results.model import ScenarioResult
from benchmarks.results.scale_verdicts import holds, step_settled, step_verdict
from benchmarks.scale_figures import ServerReadings, build, scenario_dict
from benchmarks.scale_output import ScaleRun
from benchmarks.scale_procs import tree_sample
from lab.contract import now_us

SERVERS: dict[str, tuple[str, ...]] = {
    "lab": ("-m", "lab", "--workers", "1", "--log-level", "WARNING", "--steady"),
    "lab-2workers": ("-m", "lab", "--workers", "2", "--log-level", "WARNING", "--steady"),
    "floor": ("-m", "benchmarks.baselines.floor"),
    "plain-ws": ("-m", "benchmarks.baselines.plain_ws"),
    "plain-sse": ("-m", "benchmarks.baselines.plain_sse"),
    "plain-longpoll": ("-m", "benchmarks.baselines.plain_longpoll"),
    "constant": ("-m", "benchmarks.baselines.constant"),
}
SERVES: dict[str, tuple[str, ...]] = {
    "floor": ("websocket",), "plain-ws": ("websocket",), "plain-sse": ("sse",),
    "plain-longpoll": ("longpoll",), "constant": ("poll",),
}
PUSH = ("websocket", "sse", "stream")
CLIENTS_PER_SWARM = 3000
"""Connections per swarm process (the per-process file limit here is 20,000)."""
TIMED_CLIENTS = 1000
"""Push clients timed per case (at least): every ``N // TIMED_CLIENTS``-th is read once per
interval between messages, midway between two publishes, and gives latency samples; the rest
are read in sweeps (see :mod:`benchmarks.swarm`)."""
COMPARE_WINDOW_S = 10.0
"""The side-by-side cases' timed window: 100 fan-outs, so that one stretch of a slow machine
(half a second of 50 % slower sends was seen here) weighs less on a p99 than in 5 s."""
COMPARE_REPEATS = 3
"""Runs of each side-by-side case (interleaved rounds; the report shows medians)."""
BREAKING_WINDOW_S = 5.0
"""Each breaking-point step's window."""
CONNECT_IN_FLIGHT = 96
"""TCP connects in flight over all swarms: under aiohttp's default listen backlog (128), as
the baselines use it."""
BREAKING_STEPS = (2000, 5000, 7500, 10_000, 15_000)
SOAK_HISTORY = 1000
"""The soak server's ring buffer (messages per topic): full 100 s into the warm-up at 10/s,
so that the soak's window measures growth the buffer does not explain (the default buffer of
10,000 messages ≈ 5 MB would take 17 minutes to fill)."""
LOOPBACK_BACKLOG = 50_000
"""``net.core.netdev_max_backlog`` the suite asks for (Linux's default is 1,000). Its held
clients' delayed ACKs fire in bursts as large as the clients a core sent to within one timer
tick, all queued on that core's input backlog before any is processed: at 10,000 clients on
two workers the default dropped 18,536 packets in one case, at 15,000 clients some 50,000
(then connecting timed out); at 50,000 none dropped, 15,000 clients connected in 5 s, and
the packets processed fell five-fold (no resends)."""
POLL_CLIENTS = 100
"""Closed-loop short-poll connections (requests/CPU-s is measured, not latency)."""
POLL_SWARMS = 2
"""Swarm processes of a closed-loop short poll: one swarm, at a whole core, asked fewer polls
than the lab answers with one (its front door answers a poll in ~20 µs of CPU)."""
QUIET_HEARTBEAT_S = 600.0
"""The lab's WebSocket ping interval where a swarm reads some connections seldom: longer than
any case, so no ping goes out. aiohttp closes a peer that has not answered a ping within half
the interval (7.5 s at the default 15 s), and an untimed connection is read only every
:data:`benchmarks.swarm.HOLD_S` until the window is over, so at 15,000 clients, whose
connecting alone can take 20 s, pings closed thousands of healthy clients. No baseline
sends pings either; the soak, whose clients are all timed and read every 100 ms, keeps the
default."""


@dataclass(frozen=True, slots=True)
class Case:
    """One measured configuration of the scale suite.

    ``interval_s`` is the short poll's pause between polls (0: closed loop);
    ``soak_every_s`` samples the server's RSS that often over the window;
    ``history`` (the lab only) sets ``--history``, the messages each topic keeps.
    """

    server: str
    transport: str
    clients: int
    rate: float = 10.0
    duration_s: float = BREAKING_WINDOW_S
    warmup_s: float = 1.0
    purpose: str = "compare"
    interval_s: float | None = None
    soak_every_s: float | None = None
    history: int | None = None
    repeat: int = 1

    def __post_init__(self) -> None:
        if self.server not in SERVERS:
            raise ValueError(f"unknown server {self.server!r} (choose from {', '.join(SERVERS)})")
        if self.transport not in SERVES.get(self.server, (*PUSH, "longpoll", "poll")):
            raise ValueError(f"server {self.server} does not serve {self.transport}")
        if not 1 <= self.clients <= 19_000 * 8:
            raise ValueError("clients must be 1..152000")
        if self.history is not None and not self.server.startswith("lab"):
            raise ValueError("only the lab takes a history")

    @property
    def name(self) -> str:
        """Unique within a run: transport, server, clients (and the soak)."""
        tail = "-soak" if self.purpose == "soak" else ""
        again = f"-r{self.repeat}" if self.repeat > 1 else ""
        return f"scale-{self.transport}-{self.server}-{self.clients}{tail}{again}"

    @property
    def idle_loadgen(self) -> bool:
        """Whether the swarms run at idle priority: for pushes, whose latency is taken at the
        kernel's arrival time; not for polls, whose clients must ask again promptly (a starved
        poller would slow the loop it measures)."""
        return self.transport in PUSH

    @property
    def timed_every(self) -> int:
        """Every how many clients one is timed (1 for polls: every poller reads at once)."""
        return max(1, self.clients // TIMED_CLIENTS) if self.transport in PUSH else 1

    @property
    def swarms(self) -> int:
        """Swarm processes for this many connections (closed-loop polls: one per core, so the
        load generator out-runs a server that answers a poll faster than a swarm asks one)."""
        if self.transport == "poll" and self.interval_s == 0:
            return POLL_SWARMS
        return max(1, math.ceil(self.clients / CLIENTS_PER_SWARM))

    @property
    def ready_timeout_s(self) -> float:
        """How long connecting may take; a server that cannot accept N this fast fails the step.

        Healthy runs here connect 5,000 clients in 1.5–8 s.
        """
        return 15.0 + self.clients / 500

    @property
    def drain_s(self) -> float:
        """How long swarms wait after the window for a post-window message."""
        return 2.0 + 5 / self.rate + self.clients / 5000

    @property
    def server_options(self) -> tuple[str, ...]:
        """The case's own server options (``--history``, ``--heartbeat``; param
        ``server_options``)."""
        lab = self.server.startswith("lab")
        return (*(("--history", str(self.history)) if self.history else ()),
                *(("--heartbeat", f"{QUIET_HEARTBEAT_S:g}") if lab and self.timed_every > 1
                  else ()))

    def server_args(self, seed: int) -> tuple[str, ...]:
        """The server's command line (without ``--port``)."""
        return (*SERVERS[self.server], "--rate", f"{self.rate:g}", "--seed", str(seed),
                *self.server_options)

    def params(self) -> dict[str, Any]:
        """``params`` of results.json (``loadgen_processes`` = swarm processes, as elsewhere)."""
        return {
            "server": self.server, "server_workers": 2 if self.server == "lab-2workers" else 1,
            "transport": self.transport, "clients": self.clients, "rate": self.rate,
            "duration_s": self.duration_s, "warmup_s": self.warmup_s,
            "interval_s": self.interval_s, "purpose": self.purpose, "relay": False,
            "loadgen_processes": self.swarms,
            "loadgen_priority": "idle" if self.idle_loadgen else "normal", "history": self.history,
            "timed_every": self.timed_every, "repeat": self.repeat,
            "server_options": list(self.server_options),
            "delay_ms": 0.0, "jitter_ms": 0.0, "cut_every_s": None, "burst": None,
        }


async def start_server(case: Case, seed: int, log_dir: Path) -> tuple[Child, int]:
    """Start the case's server on a free port; return it and the port once /healthz answers."""
    server = Child(f"server {case.server}", log_dir / f"{case.name}.server.log")
    await server.start(*case.server_args(seed), "--port", "0")
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
            "-m", "benchmarks.swarm", "--url", f"http://127.0.0.1:{port}",
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
    :mod:`benchmarks.cpuspeed`).
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


def plan(clients: int = 5000, duration_s: float = COMPARE_WINDOW_S, soak_s: float = 60.0,
         repeats: int = COMPARE_REPEATS) -> list[Case]:
    """The suite's fixed cases: every transport at ``clients`` beside its baselines.

    The side-by-side cases run ``repeats`` times, round after round, so that a slow
    stretch of the machine falls on every server alike; the report takes medians.
    """
    pairs = [
        ("floor", "websocket"), ("plain-ws", "websocket"), ("lab", "websocket"),
        ("lab-2workers", "websocket"), ("plain-sse", "sse"), ("lab", "sse"),
        ("lab-2workers", "sse"), ("lab", "stream"), ("lab-2workers", "stream"),
        ("plain-longpoll", "longpoll"), ("lab", "longpoll"), ("lab-2workers", "longpoll"),
    ]
    cases = [Case(s, t, clients, duration_s=duration_s) for s, t in pairs]
    cases += [Case(s, "poll", min(POLL_CLIENTS, clients), duration_s=duration_s, interval_s=0.0)
              for s in ("constant", "lab", "lab-2workers")]
    cases = [replace(c, repeat=r) for r in range(1, repeats + 1) for c in cases]
    if soak_s > 0:  # the ring buffer fills during the warm-up, so the window shows what else grows
        cases.append(Case("lab", "websocket", min(1000, clients), duration_s=soak_s,
                          warmup_s=SOAK_HISTORY / 10.0 + 10.0, purpose="soak",
                          soak_every_s=min(5.0, soak_s / 4), history=SOAK_HISTORY))
    return cases


async def breaking_point(run: ScaleRun, seed: int, server: str, transport: str,
                         start: list[dict[str, Any]], steps: tuple[int, ...]) -> dict[str, Any]:
    """Step N up from the suite's own N (``start``: its side-by-side runs, the first tries
    there) until a step fails; each step is tried until settled (:func:`step_settled`)."""
    tried: dict[int, list[dict[str, Any]]] = {}
    if start:
        tried[start[0]["params"]["clients"]] = list(start)
    n = start[0]["params"]["clients"] if start else steps[0]
    while True:
        tries = tried.setdefault(n, [])
        while not step_settled(tries):
            case = Case(server, transport, n, purpose="breaking", repeat=len(tries) + 1)
            tries.append(await run.run(case, seed))
        ok, _ = step_verdict(tries)
        lower = [s for s in steps if s < n and s not in tried]
        higher = [s for s in steps if s > n]
        if ok and higher:
            n = higher[0]
        elif not ok and lower and not any(step_verdict(tried[m])[0] for m in tried if m < n):
            n = lower[-1]
        else:
            break
    verdicts = {m: step_verdict(tried[m]) for m in sorted(tried)}
    passed = [m for m, (ok, _) in verdicts.items() if ok]
    return {
        "server": server, "transport": transport,
        "clients": passed[-1] if passed else None,
        "limit_tested": max(steps),
        "steps": [{"clients": m, "holds": ok, "why": why,
                   "scenarios": [t["name"] for t in tried[m]],
                   "tries": [holds(t)[0] for t in tried[m]]}
                  for m, (ok, why) in verdicts.items()],
    }


async def run_suite(run: ScaleRun, seed: int, cases: list[Case], breaking: bool,
                    steps: tuple[int, ...] = BREAKING_STEPS) -> None:
    """Run the cases, then the breaking-point search for the lab's push transports."""
    done: dict[str, dict[str, Any]] = {}
    for case in cases:
        done[case.name] = await run.run(case, seed)
    if not breaking:
        return
    for transport in PUSH:
        servers = ("floor", "plain-ws", "lab", "lab-2workers") if transport == "websocket" else (
            "lab", "lab-2workers")
        for server in servers:
            start = [s for s in done.values() if s["params"]["server"] == server
                     and s["transport"] == transport and s["params"]["purpose"] == "compare"]
            run.add_breaking_point(await breaking_point(run, seed, server, transport, start,
                                                        steps))


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__
                                     .splitlines()[0], formatter_class=argparse
                                     .ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add("--out", type=Path, help="report directory (default: reports/<timestamp>-scale)")
    add("--seed", type=int, default=1, help="seed of the feeds and subsamples")
    add("--clients", type=int, default=5000, help="N of the side-by-side comparison")
    add("--duration", type=float, default=COMPARE_WINDOW_S,
        help="timed window of each side-by-side case, seconds")
    add("--repeats", type=int, default=COMPARE_REPEATS,
        help="rounds of the side-by-side cases (the report takes each figure's median)")
    add("--soak-minutes", type=float, default=1.0, help="memory soak length (10 = the full one; "
        "0 skips it)")
    add("--no-breaking", action="store_true", help="skip the breaking-point search")
    add("--no-report", action="store_true", help="write results only; do not build the report")
    return parser


def backlog_warning(limit: int | None) -> str | None:
    """What to tell the user when the kernel's input backlog is shorter than the suite needs."""
    if limit is None or limit >= LOOPBACK_BACKLOG:
        return None
    return (f"warning: net.core.netdev_max_backlog is {limit:,}: at thousands of clients, "
            "loopback will drop bursts of delayed ACKs and TCP will resend them late (each "
            "case where it did is flagged). Raise it first: sudo sysctl -w "
            f"net.core.netdev_max_backlog={LOOPBACK_BACKLOG}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 when every case ran, 1 if one errored, 2 on bad usage, 130 on Ctrl-C."""
    args = build_parser().parse_args(argv)
    if (not 1 <= args.clients <= 19_000 * 8 or args.duration <= 0
            or not 0 <= args.soak_minutes <= 60 or not 1 <= args.repeats <= 9):
        print("error: --clients 1..152000, --duration > 0, --soak-minutes 0..60, --repeats 1..9",
              file=sys.stderr)
        return 2
    try:
        run = ScaleRun.create(args.out, args.seed)
    except OSError as exc:
        print(f"error: cannot write to {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    if warning := backlog_warning(procstats.backlog_limit()):
        print(warning, file=sys.stderr)
    cases = plan(args.clients, args.duration, args.soak_minutes * 60, args.repeats)
    steps = tuple(sorted({*BREAKING_STEPS, args.clients}))
    finished = run.execute(run_suite(run, args.seed, cases, not args.no_breaking, steps))
    return run.finish(finished, build_report=not args.no_report)


if __name__ == "__main__":
    sys.exit(main())

