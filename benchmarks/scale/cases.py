"""The scale suite's cases as data: which server, which transport, how many clients, how long.

A :class:`Case` is one measured configuration: a server (the lab with one or
two workers, the lab served the textbook way with ``--plain``, or a baseline of
:mod:`benchmarks.baselines`), a transport and a number of connections N, with
what follows from them (how many swarm processes, how many clients are timed,
how long connecting and draining may take, the server's command line, the
``params`` of results.json).

:func:`plan` is the suite's fixed list: every transport at N = 5,000 served by
the textbook lab (``lab-plain``), the engineered lab with one worker and with two,
and for WebSocket the floor, in interleaved rounds; short poll as closed-loop
requests per CPU-second, the same servers beside a constant handler; and a memory
soak (1,000 WebSocket clients, RSS every few seconds after a warm-up that fills
the ring buffer). The breaking-point steps are cases too, made by
:mod:`benchmarks.scale.search`. This module starts nothing and measures nothing:
running a case is :mod:`benchmarks.scale.runner`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.results.transports import STREAMED
from lab.contract import TRANSPORTS

SERVERS: dict[str, tuple[str, ...]] = {  # flags older versions take too (paired runs)
    "lab": ("-m", "lab", "--workers", "1", "--log-level", "WARNING", "--steady"),
    "lab-plain": ("-m", "lab", "--workers", "1", "--log-level", "WARNING", "--steady", "--plain"),
    "lab-2workers": ("-m", "lab", "--workers", "2", "--log-level", "WARNING", "--steady"),
    "floor": ("-m", "benchmarks.baselines.floor"),
    "constant": ("-m", "benchmarks.baselines.constant"),
}
"""Each server the suite can run, by name: its command line (``python`` and the port aside).
``lab-plain`` is the lab with the same flags as ``lab`` plus ``--plain``: the textbook
transports of ``lab/transports/`` alone, without the engineered path of ``lab/fast/``
(the direct fan-out, the front door), the same bytes on the wire."""
SERVES: dict[str, tuple[str, ...]] = {"floor": ("websocket",), "constant": ("poll",)}
"""The transports each baseline serves (the lab, plain or not, serves them all)."""
CLIENTS_PER_SWARM = 3000
"""Connections per swarm process (the per-process file limit here is 20,000)."""
TIMED_CLIENTS = 1000
"""Push clients timed per case (at least): every ``N // TIMED_CLIENTS``-th is read once per
interval between messages, midway between two publishes, and gives latency samples; the rest
are read in sweeps (see :mod:`benchmarks.scale.swarm_connections`)."""
COMPARE_WINDOW_S = 10.0
"""The side-by-side cases' timed window: 100 fan-outs, so that one stretch of a slow machine
(half a second of 50 % slower sends was seen here) weighs less on a p99 than in 5 s."""
COMPARED = ("lab-plain", "lab", "lab-2workers")
"""The lab's servers in every side-by-side case: textbook, engineered, engineered on two
workers (the floor and the constant handler join them where they serve the transport)."""
COMPARE_REPEATS = 3
"""Runs of each side-by-side case (interleaved rounds; the report shows medians)."""
BREAKING_WINDOW_S = 5.0
"""Each breaking-point step's window."""
BREAKING_STEPS = (2000, 5000, 7500, 10_000, 15_000)
"""The N a breaking-point search steps through (the suite's own N is added to them)."""
SOAK_HISTORY = 1000
"""The soak server's ring buffer (messages per topic): full 100 s into the warm-up at 10/s,
so that the soak's window measures growth the buffer does not explain (the default buffer of
10,000 messages ≈ 5 MB would take 17 minutes to fill)."""
POLL_CLIENTS = 100
"""Closed-loop short-poll connections (requests/CPU-s is measured, not latency)."""
POLL_SWARMS = 2
"""Swarm processes of a closed-loop short poll: one swarm, at a whole core, asked fewer polls
than the lab answers with one (its front door answers a poll in ~20 µs of CPU)."""
QUIET_HEARTBEAT_S = 600.0
"""The lab's WebSocket ping interval where a swarm reads some connections seldom: longer than
any case, so no ping goes out. aiohttp closes a peer that has not answered a ping within half
the interval (7.5 s at the default 15 s), and an untimed connection is read only every
:data:`benchmarks.scale.swarm_connections.HOLD_S` until the window is over, so at 15,000
clients, whose connecting alone can take 20 s, pings closed thousands of healthy clients.
``lab-plain`` takes the same setting, and the floor sends no pings either; the soak, whose
clients are all timed and read every 100 ms, keeps the default."""


@dataclass(frozen=True, slots=True)
class Source:
    """Another checkout of the lab that a case's server runs from (its working directory and
    first on ``PYTHONPATH``), for paired runs of two versions
    (:mod:`benchmarks.scale.paired`); the swarms always run from this tree.

    ``label`` (``base``, ``head``) goes into the case's name, ``commit`` into its params.
    """

    label: str
    path: Path
    commit: str


@dataclass(frozen=True, slots=True)
class Case:
    """One measured configuration of the scale suite.

    ``interval_s`` is the short poll's pause between polls (0: closed loop);
    ``soak_every_s`` samples the server's RSS that often over the window;
    ``history`` (the lab only) sets ``--history``, the messages each topic keeps;
    ``source`` (the lab only) runs the server from another checkout (None: this one);
    ``flooders`` (the lab only) is how many connections of a chat flooder
    (:mod:`benchmarks.scale.flooder`) post as fast as they can through the window (0: none).
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
    source: Source | None = None
    flooders: int = 0

    def __post_init__(self) -> None:
        if self.server not in SERVERS:
            raise ValueError(f"unknown server {self.server!r} (choose from {', '.join(SERVERS)})")
        if self.transport not in SERVES.get(self.server, TRANSPORTS):
            raise ValueError(f"server {self.server} does not serve {self.transport}")
        if not 1 <= self.clients <= 19_000 * 8:
            raise ValueError("clients must be 1..152000")
        if self.history is not None and not self.server.startswith("lab"):
            raise ValueError("only the lab takes a history")
        if self.source is not None and not self.server.startswith("lab"):
            raise ValueError("only the lab runs from another checkout")
        if self.flooders and not self.server.startswith("lab"):
            raise ValueError("only the lab has a chat to flood")

    @property
    def name(self) -> str:
        """Unique within a run: transport, server, clients (and the soak, the source's label)."""
        tail = "-soak" if self.purpose == "soak" else ""
        tail += "-flooded" if self.flooders else ""
        tail += f"-{self.source.label}" if self.source else ""
        again = f"-r{self.repeat}" if self.repeat > 1 else ""
        return f"scale-{self.transport}-{self.server}-{self.clients}{tail}{again}"

    @property
    def idle_loadgen(self) -> bool:
        """Whether the swarms run at idle priority: for pushes, whose latency is taken at the
        kernel's arrival time; not for polls, whose clients must ask again promptly (a starved
        poller would slow the loop it measures)."""
        return self.transport in STREAMED

    @property
    def timed_every(self) -> int:
        """Every how many clients one is timed (1 for polls: every poller reads at once)."""
        return max(1, self.clients // TIMED_CLIENTS) if self.transport in STREAMED else 1

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
        """``params`` of results.json (``loadgen_processes`` = swarm processes, as elsewhere;
        ``source``, with its label and commit, only for a case that has one)."""
        source = {"source": {"label": self.source.label, "commit": self.source.commit}
                  } if self.source else {}
        return {
            "server": self.server, "server_workers": 2 if self.server == "lab-2workers" else 1,
            "transport": self.transport, "clients": self.clients, "rate": self.rate,
            "duration_s": self.duration_s, "warmup_s": self.warmup_s,
            "interval_s": self.interval_s, "purpose": self.purpose, "relay": False,
            "loadgen_processes": self.swarms,
            "loadgen_priority": "idle" if self.idle_loadgen else "normal", "history": self.history,
            "timed_every": self.timed_every, "repeat": self.repeat,
            "server_options": list(self.server_options),
            "delay_ms": 0.0, "jitter_ms": 0.0, "cut_every_s": None, "burst": None, **source,
            **({"flooders": self.flooders} if self.flooders else {}),
        }


def plan(clients: int = 5000, duration_s: float = COMPARE_WINDOW_S, soak_s: float = 60.0,
         repeats: int = COMPARE_REPEATS) -> list[Case]:
    """The suite's fixed cases: every transport at ``clients``, textbook and engineered.

    The side-by-side cases run ``repeats`` times, round after round, so that a slow
    stretch of the machine falls on every server alike; the report takes medians.
    """
    pairs = [("floor", "websocket")] + [(s, t) for t in ("websocket", "sse", "stream", "longpoll")
                                        for s in COMPARED]
    cases = [Case(s, t, clients, duration_s=duration_s) for s, t in pairs]
    cases += [Case(s, "poll", min(POLL_CLIENTS, clients), duration_s=duration_s, interval_s=0.0)
              for s in ("constant", *COMPARED)]
    cases = [replace(c, repeat=r) for r in range(1, repeats + 1) for c in cases]
    if soak_s > 0:  # the ring buffer fills during the warm-up, so the window shows what else grows
        cases.append(Case("lab", "websocket", min(1000, clients), duration_s=soak_s,
                          warmup_s=SOAK_HISTORY / 10.0 + 10.0, purpose="soak",
                          soak_every_s=min(5.0, soak_s / 4), history=SOAK_HISTORY))
    return cases
