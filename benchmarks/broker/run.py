"""Running one broker case: its servers (and Redis), its swarms split over the nodes, its figures.

The three setups serve the same WebSocket subscribers at the same feed rate:

- ``one-process``: ``python -m lab --workers 1``, the hub sequences;
- ``two-workers``: ``--workers 2`` on one machine, the primary sequences;
- ``two-nodes``: two ``python -m lab --broker`` nodes on one ``redis-server``
  (without persistence), Redis sequences; the first node runs the feed
  (``--feed always``), the subscribers are split evenly over both.

The swarms are the scale suite's (:mod:`benchmarks.scale.swarm`, started by
:func:`benchmarks.scale.runner.start_swarms`, one set per node) and so is the
window protocol: every client connected and caught up, a warm-up, then a timed
window on the shared wall clock. Measured over the window: latency from the
publish time ``t_us`` (stamped by the feed's node before Redis sequences it) to
the kernel's arrival time at a timed client, p50 and p99; CPU per delivery of
each node (its process tree) and of all nodes; Redis's own CPU per published
message; and loss (gaps, duplicates, missed notices, undelivered). Everything
runs on this machine (loopback): the broker hop is measured, the network
between machines is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.scale.cases import Case
from benchmarks.scale.figures import loss
from benchmarks.scale.process_tree import tree_sample
from benchmarks.scale.runner import start_swarms
from benchmarks.suite import procstats
from benchmarks.suite.children import Child, sleep_until
from lab.contract import now_us

SETUPS: dict[str, tuple[tuple[str, ...], ...]] = {
    "one-process": (("--workers", "1"),),
    "two-workers": (("--workers", "2"),),
    "two-nodes": (("--feed", "always"), ("--feed", "never")),
}
"""Each setup's nodes, by their own flags (a ``two-nodes`` node also gets ``--broker``)."""
LAB = ("-m", "lab", "--log-level", "WARNING", "--steady", "--heartbeat", "600", "--no-class-link")
"""Every node's common flags: the scale suite's (no WebSocket pings during a case)."""


@dataclass(frozen=True, slots=True)
class BrokerCase:
    """One measured configuration: a setup, N WebSocket subscribers, a feed rate, a window."""

    setup: str
    clients: int
    rate: float = 10.0
    duration_s: float = 10.0
    warmup_s: float = 2.0

    def __post_init__(self) -> None:
        if self.setup not in SETUPS:
            raise ValueError(f"unknown setup {self.setup!r} (choose from {', '.join(SETUPS)})")
        if not 2 <= self.clients <= 60_000:
            raise ValueError("clients must be 2..60000")

    @property
    def name(self) -> str:
        """``broker-<setup>-<clients>``."""
        return f"broker-{self.setup}-{self.clients}"

    def shares(self) -> list[int]:
        """Subscribers per node (an even split)."""
        nodes = len(SETUPS[self.setup])
        return [self.clients // nodes + (1 if i < self.clients % nodes else 0)
                for i in range(nodes)]

    def swarm_case(self, clients: int) -> Case:
        """The scale suite's case that describes one node's swarms (their sizes and timing)."""
        return Case("lab", "websocket", clients, rate=self.rate, duration_s=self.duration_s,
                    warmup_s=self.warmup_s)


class RedisProcess:
    """A ``redis-server`` child on a free port without persistence, stopped by its PID."""

    def __init__(self, port: int) -> None:
        path = shutil.which("redis-server")
        if path is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.port = port
        self.process = subprocess.Popen(
            [path, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @property
    def url(self) -> str:
        """The broker URL the nodes get."""
        return f"redis://127.0.0.1:{self.port}/0"

    async def ready(self, timeout: float = 10.0) -> None:
        """Wait until it answers PING."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.write(b"PING\r\n")
                answer = await reader.readline()
                writer.close()
                if answer.startswith(b"+PONG"):
                    return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        """Terminate and reap it."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


async def start_nodes(case: BrokerCase, seed: int, log_dir: Path, broker: str | None,
                      stack: contextlib.AsyncExitStack) -> list[tuple[Child, int]]:
    """Start the setup's nodes one after the other (the feed's first); each with its port."""
    nodes = []
    for index, flags in enumerate(SETUPS[case.setup]):
        child = Child(f"node {index}", log_dir / f"{case.name}.node{index}.log")
        await child.start(*LAB, "--rate", f"{case.rate:g}", "--seed", str(seed), *flags,
                          *(("--broker", broker) if broker else ()), "--port", "0")
        stack.push_async_callback(child.stop)
        nodes.append((child, await child.wait_serving(30.0)))
    return nodes


async def run_broker_case(case: BrokerCase, seed: int, log_dir: Path) -> dict[str, Any]:
    """Run ``case``; its figures as one JSON-ready dict (``status`` ``error`` on failure)."""
    async with contextlib.AsyncExitStack() as stack:
        redis = None
        if case.setup == "two-nodes":
            redis = RedisProcess(free_port())
            stack.callback(redis.stop)
            await redis.ready()
        nodes = await start_nodes(case, seed, log_dir, redis.url if redis else None, stack)
        swarms_of: list[list[Child]] = []
        for index, ((_child, port), share) in enumerate(zip(nodes, case.shares(), strict=True)):
            node_logs = log_dir / f"{case.name}.node{index}"
            node_logs.mkdir(exist_ok=True)
            swarms = await start_swarms(case.swarm_case(share), port, seed + 100 * index,
                                        node_logs)
            for swarm in swarms:
                stack.push_async_callback(swarm.stop)
            swarms_of.append(swarms)
        everyone = [swarm for swarms in swarms_of for swarm in swarms]
        ready_timeout = case.swarm_case(case.clients).ready_timeout_s + 30.0
        for swarm in everyone:
            await swarm.expect("ready", ready_timeout)
        for swarm in everyone:
            swarm.send({"catch_up": True})
        for swarm in everyone:
            await swarm.expect("caught_up", ready_timeout)
        start_us = now_us() + int(case.warmup_s * 1e6) + 200_000
        end_us = start_us + int(case.duration_s * 1e6)
        drain_s = case.swarm_case(case.clients).drain_s
        for swarm in everyone:
            swarm.send({"window": [start_us, end_us], "drain_s": drain_s})
        await sleep_until(start_us)
        cpu1 = [tree_sample(child.pid).cpu_s for child, _ in nodes]
        redis1 = procstats.sample(redis.process.pid).cpu_s if redis else 0.0
        await sleep_until(end_us)
        cpu2 = [tree_sample(child.pid).cpu_s for child, _ in nodes]
        redis2 = procstats.sample(redis.process.pid).cpu_s if redis else 0.0
        reports = [[await s.expect("report", drain_s + 60.0) for s in swarms]
                   for swarms in swarms_of]
    return figures(case, [b - a for a, b in zip(cpu1, cpu2, strict=True)],
                   redis2 - redis1 if redis else None, reports)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (nearest rank) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def figures(case: BrokerCase, node_cpu_s: list[float], redis_cpu_s: float | None,
            reports: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """The case's figures from the window's CPU readings and the swarms' reports."""
    flat = [r for node in reports for r in node]
    lows = [r["min_seq"] for r in flat if r["min_seq"] is not None]
    highs = [r["max_seq"] for r in flat if r["max_seq"] is not None]
    published = max(highs) - min(lows) + 1 if lows else 0
    latencies = [(arrival - t_us) / 1000 for r in flat
                 for _c, _s, t_us, _read, arrival in r["samples"]]
    delivered = [sum(r["delivered"] for r in node) for node in reports]
    per_node = [round(cpu * 1e6 / d, 2) if d else None
                for cpu, d in zip(node_cpu_s, delivered, strict=True)]
    return {
        "name": case.name, "group": "broker", "status": "ok", "params": dataclasses.asdict(case),
        "published": published, "delivered": sum(delivered),
        "latency_ms": {"p50": _round(percentile(latencies, 50)),
                       "p99": _round(percentile(latencies, 99)), "samples": len(latencies)},
        "cpu_us_per_delivery": {"nodes": per_node, "all": round(
            sum(node_cpu_s) * 1e6 / sum(delivered), 2) if sum(delivered) else None},
        "node_cpu_s": [round(c, 3) for c in node_cpu_s],
        "redis_cpu_us_per_message": round(redis_cpu_s * 1e6 / published, 1)
        if redis_cpu_s is not None and published else None,
        "loss": loss(flat, published, case.clients),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
