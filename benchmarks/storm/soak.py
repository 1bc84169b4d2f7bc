"""A soak with churn: minutes of clients arriving and leaving, and what the server keeps.

:func:`run_soak` starts ``python -m lab`` (one process, the feed at ``rate``) and the churn
processes (:mod:`benchmarks.storm.churn`, at most :data:`CHURN_SIZE` seats each; the chat
posters and the stayers are spread over them), and every ``sample_s`` reads the server's
resident memory (its process tree, from /proc), its open descriptors (``/proc/PID/fd``) and
the connections it holds (``open_connections`` of ``/api/stats``, summed over transports).
The figures: the memory slope after ``warmup_s`` in MB/min (least squares), the descriptors'
slope and their first and last values after the warm-up (a leak grows with every session;
churn alone moves them up and down), the stayers' gaps (must be 0), and the churn processes'
own counts. The ring buffer fills during the first ``history / rate`` seconds, so the warm-up
should cover it for the slope to mean a leak. Every child is stopped by its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.scale.process_tree import tree_sample
from benchmarks.storm.figures import slope_per_minute
from benchmarks.suite.children import Child
from lab.contract import now_us

CHURN_SIZE = 400
"""Seats per churn process (the project's clients parse every byte: they are not lean)."""
HISTORY = 1000
"""The soak server's ring buffer per topic: full after 100 s at the default rate."""


@dataclass(frozen=True)
class SoakPlan:
    """One soak's configuration."""

    clients: int = 1000
    minutes: float = 10.0
    warmup_s: float = 120.0
    stay_s: float = 20.0
    stayers: float = 0.1
    posters: int = 20
    rate: float = 10.0
    sample_s: float = 5.0
    seed: int = 1

    def processes(self) -> list[tuple[int, int, int]]:
        """(seats, stayers, posters) of each churn process."""
        parts = math.ceil(self.clients / CHURN_SIZE)
        stayers = round(self.clients * self.stayers)
        return [(self.clients // parts + (1 if i < self.clients % parts else 0),
                 stayers // parts + (1 if i < stayers % parts else 0),
                 self.posters // parts + (1 if i < self.posters % parts else 0))
                for i in range(parts)]


def open_descriptors(pid: int) -> int:
    """How many descriptors process ``pid`` holds open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


async def open_connections(http: aiohttp.ClientSession, port: int) -> int:
    """The connections the server holds, over every transport (-1 if it did not answer)."""
    try:
        async with http.get(f"http://127.0.0.1:{port}/api/stats") as answer:
            stats = await answer.json()
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return -1
    return sum(t.get("open_connections", 0) for t in stats.get("transports", {}).values())


async def sample(pid: int, port: int, start_us: int, end_us: int, every_s: float
                 ) -> list[tuple[float, int, int, int]]:
    """(seconds, RSS bytes, descriptors, connections) every ``every_s`` until ``end_us``."""
    rows = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        while (now := now_us()) < end_us:
            rows.append((round((now - start_us) / 1e6, 2), tree_sample(pid).rss_bytes,
                         open_descriptors(pid), await open_connections(http, port)))
            await asyncio.sleep(min(every_s, max(0.0, (end_us - now_us()) / 1e6)))
    return rows


async def run_soak(plan: SoakPlan, log_dir: Path
                   ) -> tuple[dict[str, Any], list[tuple[float, int, int, int]]]:
    """Run the soak; return its figures and its samples."""
    duration_s = plan.minutes * 60
    async with contextlib.AsyncExitStack() as stack:
        server = Child("server", log_dir / "soak.server.log")
        await server.start("-m", "lab", "--no-class-link", "--port", "0", "--rate", f"{plan.rate:g}",
                           "--seed", str(plan.seed), "--history", str(HISTORY),
                           "--log-level", "WARNING")
        stack.push_async_callback(server.stop)
        port = await server.wait_serving(30.0)
        churners = []
        for i, (seats, stayers, posters) in enumerate(plan.processes()):
            churn = Child(f"churn {i}", log_dir / f"soak.churn{i}.log")
            await churn.start("-m", "benchmarks.storm.churn", "--url", f"http://127.0.0.1:{port}",
                              "--clients", str(seats), "--stayers", str(stayers),
                              "--stay", f"{plan.stay_s:g}", "--posters", str(posters),
                              "--duration", f"{duration_s:g}", "--seed", str(plan.seed * 100 + i))
            stack.push_async_callback(churn.stop)
            churners.append(churn)
        start_us = now_us()
        samples = await sample(server.pid, port, start_us, start_us + int(duration_s * 1e6),
                               plan.sample_s)
        reports = [await churn.expect("report", 150.0) for churn in churners]
    return figures_of(plan, samples, reports), samples


def figures_of(plan: SoakPlan, samples: list[tuple[float, int, int, int]],
               reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The soak's figures from its samples and the churn reports (pure)."""
    settled = [s for s in samples if s[0] >= plan.warmup_s]
    rss_slope = slope_per_minute([(t, rss / 2**20) for t, rss, _, _ in samples], plan.warmup_s)
    fds_slope = slope_per_minute([(t, fds) for t, _, fds, _ in samples], plan.warmup_s)
    late_slope = slope_per_minute([(t, rss / 2**20) for t, rss, _, _ in samples],
                                  plan.minutes * 60 * 2 / 3)  # buffers long since full
    failures: Counter[str] = Counter()
    posts: Counter[str] = Counter()
    for r in reports:
        failures.update(r["failures"])
        posts.update(r["posts"])
    return {
        "plan": asdict(plan), "samples": len(samples), "settled_samples": len(settled),
        "rss_mb_per_min": None if rss_slope is None else round(rss_slope, 3),
        "rss_mb_per_min_last_third": None if late_slope is None else round(late_slope, 3),
        "rss_first_mb": round(settled[0][1] / 2**20, 1) if settled else None,
        "rss_last_mb": round(settled[-1][1] / 2**20, 1) if settled else None,
        "fds_per_min": None if fds_slope is None else round(fds_slope, 2),
        "fds_first": settled[0][2] if settled else None,
        "fds_last": settled[-1][2] if settled else None,
        "fds_max": max((s[2] for s in samples), default=None),
        "sessions": sum(r["sessions"] for r in reports),
        "stayers": sum(r["stayers"] for r in reports),
        "stayers_gaps": sum(r["stayers_gaps"] for r in reports),
        "stayers_messages": sum(r["stayers_messages"] for r in reports),
        "stayers_reconnects": sum(r["stayers_reconnects"] for r in reports),
        "churn_gaps": sum(r["churn_gaps"] for r in reports),
        "failures": dict(failures), "posts": dict(posts),
    }
