"""The economics of freshness: pure functions, no I/O, no plotting.

Everything here turns measured quantities (staleness, bytes, requests) into
prices, using settings the reader can change (:class:`CostSettings`). The
report calls these functions; the tests check them against hand-computed
values. Nothing here reads files or knows about scenarios.

The price model is the feed's: geometric Brownian motion with annualised
volatility ``σ``. Over a short horizon ``τ`` the relative price move
``ΔS/S`` is close to normal with standard deviation ``σ_s·√τ`` (``σ_s`` the
volatility per √second), so ``E|ΔS/S| ≈ σ_s·√(2τ/π)``. Drift is ignored: over
milliseconds it is nine orders of magnitude below the diffusion term.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, fields

from benchmarks.results.model import ReportSettings
from benchmarks.results.transports import STREAMED

TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3600
"""252 trading days of 6.5 hours: the convention the feed uses to annualise σ."""

WEBSOCKET_ORG_HEADER_BYTES = 871
"""websocket.org (2010): HTTP request + response header bytes of one poll."""

WEBSOCKET_ORG_FRAME_BYTES = 2
"""websocket.org (2010): framing bytes of one small WebSocket message."""

WEBSOCKET_ORG_MEGABIT = 2**20
"""websocket.org's megabit: 871 B × 8 × 1,000/s = 6,968,000 bit/s, printed as 6.6 Mbps."""

RFC6202_WORST_TRANSITS = 3
"""RFC 6202 §2.2: long polling's maximal latency is "over three network transits"."""


@dataclass(frozen=True, slots=True)
class CostSettings(ReportSettings):
    """Prices and assumptions behind every money figure; each has a stated default.

    The first ones are those a run records in results.json
    (:class:`~benchmarks.results.model.ReportSettings`, with their defaults); the
    rest are the report's own.
    """

    trading_seconds_per_year: float = TRADING_SECONDS_PER_YEAR
    """Seconds in a trading year, to turn annual σ into σ per √second."""
    hours_per_day: float = 6.5
    """Hours per day the clients stay connected (one trading session)."""
    clients: int = 1_000
    """Clients the daily request and bandwidth bill is computed for."""
    reference_delay_ms: float = 25.0
    """One-way delay whose trader scenarios feed the cost tables (nearest measured)."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{item.name} must be a non-negative number, got {value!r}")
        if self.trading_seconds_per_year <= 0 or self.hours_per_day <= 0:
            raise ValueError("trading_seconds_per_year and hours_per_day must be positive")

    @classmethod
    def describe(cls) -> dict[str, str]:
        """Field name → one-line meaning (for CLI help and the assumptions list)."""
        docs = {
            "volatility": "annual σ of the feed's GBM",
            "rate": "feed price changes per second (all symbols)",
            "trade_volume_usd_per_day": "dollar volume traded per day at the seen price",
            "usd_per_million_requests": "USD per million HTTP requests",
            "usd_per_gb": "USD per GB (10^9 bytes) of transfer",
            "trading_seconds_per_year": "seconds per trading year (annual σ → σ per √s)",
            "hours_per_day": "hours per day the clients are connected",
            "clients": "clients the daily request and bandwidth bill is for",
            "reference_delay_ms": "one-way delay (ms) of the trader scenarios used for costs",
        }
        return {item.name: docs[item.name] for item in fields(cls)}


def sigma_per_sqrt_second(annual_sigma: float, seconds_per_year: float) -> float:
    """Annual volatility → volatility per √second."""
    return annual_sigma / math.sqrt(seconds_per_year)


def expected_abs_return(sigma_s: float, tau_s: float) -> float:
    """Closed form ``E|ΔS/S| ≈ σ_s·√(2τ/π)`` for a price ``tau_s`` seconds old."""
    return sigma_s * math.sqrt(2.0 * max(tau_s, 0.0) / math.pi)


def sampled_abs_return(sigma_s: float, taus_s: Sequence[float], seed: int = 1) -> float:
    """Mean ``|S(t+τ)/S(t) − 1|`` with one exact GBM draw per measured staleness ``τ``.

    This is the "from samples" estimate: it uses the whole measured staleness
    distribution (not only its mean) and the exact lognormal move, so it
    differs from :func:`expected_abs_return` at the mean staleness by Jensen's
    inequality (√ is concave) and by sampling noise. Seeded, so a rebuilt
    report shows the same figure.
    """
    if not taus_s:
        raise ValueError("no staleness samples")
    rng = random.Random(seed)
    total = 0.0
    for tau in taus_s:
        tau = max(tau, 0.0)
        step = -0.5 * sigma_s * sigma_s * tau + sigma_s * math.sqrt(tau) * rng.gauss(0.0, 1.0)
        total += abs(math.expm1(step))
    return total / len(taus_s)


def staleness_cost_usd_per_day(abs_return: float, volume_usd_per_day: float) -> float:
    """Expected money lost per day trading ``volume`` at a price off by ``abs_return``."""
    return abs_return * volume_usd_per_day


def per_day(per_second: float, hours_per_day: float) -> float:
    """A per-second rate over one day of ``hours_per_day`` hours."""
    return per_second * hours_per_day * 3600.0


def request_cost_usd(requests: float, usd_per_million: float) -> float:
    """Bill for ``requests`` requests at ``usd_per_million`` per million."""
    return requests / 1e6 * usd_per_million


def bandwidth_cost_usd(n_bytes: float, usd_per_gb: float) -> float:
    """Bill for ``n_bytes`` bytes at ``usd_per_gb`` per GB of 10⁹ bytes."""
    return n_bytes / 1e9 * usd_per_gb


def megabits_per_second(bytes_per_second: float, megabit: float = WEBSOCKET_ORG_MEGABIT) -> float:
    """Bytes per second → Mbps (websocket.org's 2²⁰-bit megabit by default)."""
    return bytes_per_second * 8.0 / megabit


def websocket_org_mbps(clients: int) -> tuple[float, float]:
    """websocket.org's 2010 figures for ``clients`` each receiving one message per second.

    Returns (polling, WebSocket) in Mbps: 871 header bytes per poll against 2
    framing bytes per WebSocket message — 6.6 vs 0.015 Mbps at 1,000 clients.
    """
    poll = megabits_per_second(WEBSOCKET_ORG_HEADER_BYTES * clients)
    socket = megabits_per_second(WEBSOCKET_ORG_FRAME_BYTES * clients)
    return poll, socket


def theoretical_latency_ms(
    transport: str, delay_ms: float, interval_s: float | None = None
) -> tuple[float, float] | None:
    """(typical, worst) publish→receive latency for a one-way delay ``d``, or None if unknown.

    Push (stream, SSE, WebSocket): ``d`` both. Long poll: ``d`` typical; the
    worst case is ``3d`` (a message published just after a response left
    waits for that response, the next request and its response — RFC 6202
    §2.2). Short poll every ``I`` seconds: ``d + I/2`` on average, ``d + I``
    at worst (server time spent is ignored: these are lower bounds).
    """
    if transport in STREAMED:
        return delay_ms, delay_ms
    if transport == "longpoll":
        return delay_ms, RFC6202_WORST_TRANSITS * delay_ms
    if transport == "poll" and interval_s is not None:
        return delay_ms + interval_s * 500.0, delay_ms + interval_s * 1000.0
    return None
