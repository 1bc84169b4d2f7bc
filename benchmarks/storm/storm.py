"""A reconnect storm: the lab restarted under thousands of clients, and how they come back.

One restart (:func:`run_restart`), for clients with jitter or without:

1. start ``python -m lab`` on a free port, then the crowd processes
   (:mod:`benchmarks.storm.crowd`, at most :data:`CROWD_SIZE` clients each, from loopback
   source addresses of :data:`PER_ADDRESS` clients each), and wait until every client has a first message;
2. after ``settle_s``, kill the server (SIGKILL by default: a crash; ``graceful`` sends
   SIGTERM, and the lab closes its connections itself) and start it again on the same port;
3. ask the crowds every :data:`STATUS_EVERY_S` which clients have opened a connection since
   the kill, until all have (or ``max_back_s`` passed), then let messages flow ``hold_s`` so
   every client sees its first message after the restart;
4. collect the crowds' reports and compute the figures (:mod:`benchmarks.storm.figures`).

What a restart costs, honestly: the lab keeps no history across a restart, so its seqs begin
again at 1, and a client's resume point is beyond the new head. The lab takes such a ``since``
as its head: the client gets only what is published after it returns, and the messages the
new server published before that (``unseen``) are never sent, without a ``missed`` notice.
A client can tell when the first seq it gets is at or below its resume point (``detected``),
not when the new sequence has already passed it (``undetected``). ``gaps`` counts jumps inside
one sequence (and across a reconnect before the restart), and must be 0. Messages the old server published after a client's last read and
before it died are unknowable to anyone and not counted. Every child is stopped by its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.storm.figures import attempts_per_bin, back_seconds, restart_losses
from benchmarks.suite.children import Child
from lab.contract import now_us

CROWD_SIZE = 3000
"""Clients per crowd process."""
STATUS_EVERY_S = 0.25
"""How often the crowds are asked who is back."""
BIN_S = 0.01
"""Width of the attempts-over-time bins, seconds: fine enough to show a schedule's
synchronised retries as the spikes they are (coarser bins average them away)."""
BEFORE_S = 1.0
"""Seconds before the kill that the attempts series starts at."""


@dataclass(frozen=True)
class StormPlan:
    """One storm's configuration: clients per transport, the feed's rate, the timings."""

    websocket: int = 5000
    sse: int = 1000
    rate: float = 2.0
    settle_s: float = 3.0
    hold_s: float = 3.0
    max_back_s: float = 60.0
    graceful: bool = False
    seed: int = 1

    def crowds(self) -> list[tuple[str, int]]:
        """(transport, clients) of each crowd process."""
        out = []
        for transport, count in (("websocket", self.websocket), ("sse", self.sse)):
            parts = math.ceil(count / CROWD_SIZE)
            out += [(transport, count // parts + (1 if i < count % parts else 0))
                    for i in range(parts)]
        return out


PER_ADDRESS = 250
"""Clients per loopback source address: the lab caps connections per client address, and a
classroom's clients come from as many addresses as it has students."""


def sources(crowd: int, clients: int) -> str:
    """The loopback source addresses of crowd number ``crowd`` (of :data:`CROWD_SIZE` at most),
    one per :data:`PER_ADDRESS` of its ``clients``; crowds never share one."""
    per_crowd = math.ceil(CROWD_SIZE / PER_ADDRESS)
    first = 2 + per_crowd * crowd
    return ",".join(f"127.0.{1 + (first + k) // 250}.{(first + k) % 250 + 1}"
                    for k in range(math.ceil(clients / PER_ADDRESS)))


async def start_server(plan: StormPlan, port: int, log_dir: Path) -> tuple[Child, int]:
    """``python -m lab`` on ``port`` (0: a free one); the child and its port once healthy."""
    server = Child("server", log_dir / "storm.server.log")
    await server.start("-m", "lab", "--no-class-link", "--port", str(port), "--rate", f"{plan.rate:g}",
                       "--seed", str(plan.seed), "--steady", "--log-level", "WARNING")
    return server, await server.wait_serving(30.0)


async def kill(server: Child, graceful: bool) -> None:
    """Stop the server as a crash (SIGKILL) or a clean shutdown (SIGTERM), and reap it."""
    if not graceful:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
    await server.stop(grace_s=10.0)


async def who_is_back(crowds: list[Child], since_us: int) -> int:
    """How many clients of all crowds have opened a connection after ``since_us``."""
    back = 0
    for crowd in crowds:
        crowd.send({"status": True})
    for crowd in crowds:
        back += sum(1 for t in (await crowd.expect("status", 30.0))["opens"] if t > since_us)
    return back


async def run_restart(plan: StormPlan, jitter: bool, log_dir: Path) -> dict[str, Any]:
    """One restart under the plan's crowd; the figures of :func:`figures_of`."""
    async with contextlib.AsyncExitStack() as stack:
        server, port = await start_server(plan, 0, log_dir)
        stack.push_async_callback(lambda: server.stop())
        crowds = []
        for i, (transport, count) in enumerate(plan.crowds()):
            crowd = Child(f"crowd {i}", log_dir / f"storm.crowd{i}.log")
            await crowd.start("-m", "benchmarks.storm.crowd", "--url", f"http://127.0.0.1:{port}",
                              "--transport", transport, "--clients", str(count),
                              "--sources", sources(i, count), "--seed", str(plan.seed * 100 + i),
                              *(() if jitter else ("--no-jitter",)),
                              "--ready-timeout", f"{30 + count / 200:g}", stdin=True)
            stack.push_async_callback(crowd.stop)
            crowds.append(crowd)
        for crowd in crowds:
            await crowd.expect("ready", 90.0 + plan.websocket / 100)
        await asyncio.sleep(plan.settle_s)
        kill_us = now_us()
        await kill(server, plan.graceful)
        server, _ = await start_server(plan, port, log_dir)
        up_us = now_us()
        clients = plan.websocket + plan.sse
        deadline = kill_us + plan.max_back_s * 1e6
        while now_us() < deadline and await who_is_back(crowds, kill_us) < clients:
            await asyncio.sleep(STATUS_EVERY_S)
        await asyncio.sleep(plan.hold_s)
        for crowd in crowds:
            crowd.send({"report": True})
        reports = [await crowd.expect("report", 120.0) for crowd in crowds]
    return figures_of(plan, jitter, reports, kill_us, up_us)


def figures_of(plan: StormPlan, jitter: bool, reports: list[dict[str, Any]], kill_us: int,
               up_us: int) -> dict[str, Any]:
    """The restart's figures from the crowds' reports (pure)."""
    opens = [o for r in reports for o in r["opens_us"]]
    back_s, not_back = back_seconds(opens, kill_us)
    span = (-BEFORE_S, BIN_S * math.ceil(((back_s or plan.max_back_s) + 1.0) / BIN_S))
    attempts = [t for r in reports for t in r["attempts_us"]]
    bins = attempts_per_bin(attempts, kill_us, BIN_S, span)
    losses = restart_losses((resume, first) for r in reports
                            for resume, first, t in r["resumes"] if t > kill_us)
    errors: Counter[str] = Counter()
    for r in reports:
        errors.update(r["errors"])
    return {
        "jitter": jitter, "plan": asdict(plan), "kill_us": kill_us,
        "server_down_s": round((up_us - kill_us) / 1e6, 3), "back_s": back_s,
        "back_after_up_s": None if back_s is None else round(back_s - (up_us - kill_us) / 1e6, 3),
        "not_back": not_back,
        "attempts_after_kill": sum(1 for t in attempts if t > kill_us),
        "peak_attempts_per_s": round(max(bins, default=0) / BIN_S),
        "gaps": sum(r["gaps"] for r in reports) + sum(
            max(0, first - resume - 1) for r in reports for resume, first, t in r["resumes"]
            if t <= kill_us and resume is not None),
        "duplicates": sum(r["duplicates"] for r in reports),
        "missed": sum(r["missed"] for r in reports),
        "restart": asdict(losses), "errors": dict(errors),
        "bin_s": BIN_S, "bins_from_s": span[0], "attempts_per_bin": bins,
    }
