"""Benchmark scenarios as data, grouped into suites.

A scenario is a handful of fields (transport, clients, network conditions, feed
rate, window); :mod:`benchmarks.suite.harness` knows how to run any of them. Adding a
variant means adding a row here, never a new script.

Suites:

- ``quick``: a few trader scenarios, a small poll sweep and one fault; under a
  minute, run by CI.
- ``standard`` (the default): the trader at three delays, the poll-interval
  sweep, 1–1,000 clients per transport, bursts faster than the round trip and
  cut connections; under five minutes on two cores.
- ``scale`` is not here: it is the suite of :mod:`benchmarks.scale`
  (thousands of clients per server, beside the floor and the baselines), to
  which ``python -m benchmarks.run --suite scale`` hands over.

This module does no I/O.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from lab.contract import TRANSPORTS

GROUPS: tuple[str, ...] = ("trader", "poll_sweep", "scale", "burst", "faults")

TRADER_POLL_INTERVAL_S = 1.0
"""The short-poll interval wherever a scenario does not sweep it."""

CLIENTS_PER_WORKER = 500
"""Connections one load-generator process takes before the runner adds another."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """One measured configuration.

    ``duration_s`` is the timed steady-state window; ``warmup_s`` is waited after
    every client has received its first message and before the window opens.
    ``relay`` False connects clients straight to the server (used for scale, where
    a Python relay would compete with the server for the same two cores).
    ``burst`` describes a feed faster than the round trip, e.g.
    ``{"messages_per_rtt": 10.0}`` (informational; the rate makes the burst).
    """

    name: str
    group: str
    transport: str
    clients: int = 1
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    interval_s: float | None = None
    rate: float = 10.0
    cut_every_s: float | None = None
    burst: dict[str, float] | None = field(default=None, hash=False, compare=False)
    duration_s: float = 4.0
    warmup_s: float = 0.2
    relay: bool = True
    loadgen_processes: int | None = None

    def __post_init__(self) -> None:
        checks = (
            (self.group in GROUPS, f"unknown group {self.group!r}"),
            (self.transport in TRANSPORTS, f"unknown transport {self.transport!r}"),
            (self.clients >= 1, "clients must be at least 1"),
            (self.delay_ms >= 0 and self.jitter_ms >= 0, "delay and jitter must be >= 0"),
            ((self.interval_s is not None) == (self.transport == "poll"),
             "interval_s is set exactly for the poll transport"),
            (self.interval_s is None or self.interval_s > 0, "interval_s must be positive"),
            (self.rate > 0, "rate must be positive"),
            (self.cut_every_s is None or self.relay, "cutting connections needs the relay"),
            (self.delay_ms == 0 and self.jitter_ms == 0 or self.relay, "delay needs the relay"),
            (self.duration_s > 0 and self.warmup_s >= 0, "window must be positive"),
        )
        for ok, reason in checks:
            if not ok:
                raise ValueError(f"scenario {self.name}: {reason}")

    @property
    def worker_count(self) -> int:
        """Load-generator processes: ``loadgen_processes`` if set, else one per 500 clients."""
        return self.loadgen_processes or max(1, math.ceil(self.clients / CLIENTS_PER_WORKER))

    @property
    def drain_s(self) -> float:
        """The longest a client may wait after the window for a message published after it.

        Clients normally stop much sooner: at the first post-window message.
        """
        transit = 2 * (self.delay_ms + self.jitter_ms) / 1000
        slack = 1.0 + (1.0 if self.cut_every_s else 0.0) + self.clients / 1000
        return (self.interval_s or 0.0) + transit + slack + 20 / self.rate

    def expected_drain_s(self) -> float:
        """The usual wait after the window: one poll interval or feed interval, plus transit."""
        return (self.interval_s or 0.0) + 1 / self.rate + 2 * self.delay_ms / 1000

    def estimate_s(self) -> float:
        """A rough wall-clock cost (start-up, connect, warm-up, window, drain) for the ETA."""
        overhead = 1.1 + self.clients / 1500 + self.delay_ms / 500
        return overhead + self.warmup_s + self.duration_s + self.expected_drain_s()

    def params(self) -> dict[str, Any]:
        """The ``params`` object of results.json."""
        data = asdict(self)
        for key in ("name", "group"):
            data.pop(key)
        data["loadgen_processes"] = self.worker_count
        return data


def _trader(delays: tuple[float, ...], duration_s: float) -> list[Scenario]:
    return [
        Scenario(
            name=f"trader-{t}-delay{d:g}", group="trader", transport=t, delay_ms=d,
            interval_s=TRADER_POLL_INTERVAL_S if t == "poll" else None, duration_s=duration_s,
        )
        for d in delays
        for t in TRANSPORTS
    ]


def _poll_sweep(intervals: tuple[float, ...], delay_ms: float) -> list[Scenario]:
    return [
        Scenario(
            name=f"poll-sweep-{i:g}s", group="poll_sweep", transport="poll", interval_s=i,
            delay_ms=delay_ms, duration_s=max(3.0, 2 * i),
        )
        for i in intervals
    ]


def _scale(counts: tuple[int, ...], transports: tuple[str, ...], duration_s: float,
           rate: float = 10.0) -> list[Scenario]:
    return [
        Scenario(
            name=f"scale-{t}-{n}", group="scale", transport=t, clients=n, relay=False,
            interval_s=TRADER_POLL_INTERVAL_S if t == "poll" else None, rate=rate,
            duration_s=duration_s,
        )
        for n in counts
        for t in transports
    ]


def _bursts(rate: float, delay_ms: float) -> list[Scenario]:
    per_rtt = rate * 2 * delay_ms / 1000
    return [
        Scenario(
            name=f"burst-{t}-rate{rate:g}-delay{delay_ms:g}", group="burst", transport=t,
            rate=rate, delay_ms=delay_ms, burst={"messages_per_rtt": per_rtt}, duration_s=3.0,
            interval_s=TRADER_POLL_INTERVAL_S if t == "poll" else None,
        )
        for t in TRANSPORTS
    ]


def _faults(cut_every_s: float, transports: tuple[str, ...], duration_s: float) -> list[Scenario]:
    return [
        Scenario(
            name=f"faults-{t}-cut{cut_every_s:g}s", group="faults", transport=t, delay_ms=10.0,
            cut_every_s=cut_every_s, duration_s=duration_s,
            interval_s=TRADER_POLL_INTERVAL_S if t == "poll" else None,
        )
        for t in transports
    ]


_TRADER = _trader((0.0, 25.0, 50.0), duration_s=3.0)
_SWEEP = _poll_sweep((0.1, 0.25, 0.5, 1.0, 2.0, 5.0), delay_ms=25.0)
_FAULTS = _faults(1.5, TRANSPORTS, duration_s=4.0)

SUITES: dict[str, tuple[Scenario, ...]] = {
    "quick": (
        *(s for s in _TRADER if s.delay_ms == 25.0),
        *(s for s in _SWEEP if s.interval_s in (0.25, 0.5)),
        *(s for s in _FAULTS if s.transport == "sse"),
    ),
    "standard": (
        *_TRADER,
        *_SWEEP,
        *_scale((1, 10, 100, 1000), TRANSPORTS, duration_s=3.0),
        *_bursts(100.0, 50.0),
        *_FAULTS,
    ),
}
DEFAULT_SUITE = "standard"


def all_scenarios() -> dict[str, Scenario]:
    """Every scenario of every suite, by name."""
    return {s.name: s for suite in SUITES.values() for s in suite}


def select(suite: str, only: list[str] | None = None) -> list[Scenario]:
    """The scenarios of ``suite``, or the named ones (from any suite) in the given order.

    With ``only`` the suite is not consulted. Raises ``KeyError`` naming the first
    unknown suite or scenario.
    """
    if not only:
        if suite not in SUITES:
            raise KeyError(f"unknown suite {suite!r} (choose from {', '.join(SUITES)})")
        return list(SUITES[suite])
    known = all_scenarios()
    for name in only:
        if name not in known:
            raise KeyError(f"unknown scenario {name!r} (see --list)")
    return [known[name] for name in dict.fromkeys(only)]
