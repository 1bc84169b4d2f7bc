"""What the ``web`` measurements run, as data (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from lab.contract import TRANSPORTS
from lab.proxy.config import READ_TIMEOUT_MARGIN
from lab.settings import Settings


@dataclass(frozen=True, slots=True)
class WebSize:
    """How big the group runs: clients per case, the window, the feed, and the lab's mode."""

    clients: int = 5
    seconds: float = 4.0
    rate: float = 10.0
    plain: bool = False

    def estimate_s(self) -> float:
        """A rough wall-clock cost: every measured case and probe window, the compression
        cases, and about a second to start each lab and nginx and to connect."""
        probes = sum(len(p.transports) * max(self.seconds, 3 * (p.read_timeout or 0))
                     for p in PROBES)
        compression = 3 * self.seconds + 2 * (COMPRESSION_RSS_HOLD_S + 3)
        return len(measured_cases()) * (self.seconds + 0.5) + probes + compression + 8


@dataclass(frozen=True, slots=True)
class Route:
    """How clients reach the lab: straight, or through nginx (tuned) over HTTPS."""

    name: str
    label: str
    proxied: bool
    http2: bool


ROUTES: tuple[Route, ...] = (
    Route("direct", "direct, HTTP/1.1", proxied=False, http2=False),
    Route("nginx-h1", "nginx tuned, HTTPS, HTTP/1.1", proxied=True, http2=False),
    Route("nginx-h2", "nginx tuned, HTTPS, HTTP/2", proxied=True, http2=True),
)


def measured_cases() -> list[tuple[Route, str]]:
    """Every route with every transport it carries (nginx offers no WebSocket over HTTP/2)."""
    return [(route, transport) for route in ROUTES for transport in TRANSPORTS
            if not (route.http2 and transport == "websocket")]


LONGEST_HOLD_S = Settings().longpoll_max
"""The lab's longest long-poll hold, for the tuned timeouts."""


@dataclass(frozen=True, slots=True)
class Probe:
    """A bare ``default`` nginx (optionally with one experiment knob) and what to try through it.

    ``topic`` chat is quiet: a held long poll and an idle stream wait on it, which is what a
    read timeout cuts. ``fix`` is the nginx configuration that cures what the probe shows.
    """

    name: str
    label: str
    transports: tuple[str, ...]
    topic: str = "prices"
    read_timeout: float | None = None
    ignore_accel_buffering: bool = False
    fix: str = ""


COMPRESSION_RSS_HOLD_S = 2.0
"""How long the compression cases feed their sockets before the lab's memory is read."""

UPGRADE_FIX = ("proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
               "proxy_set_header Connection $connection_upgrade;")
"""What lets a WebSocket handshake through nginx (the tuned profile's lines)."""

READ_TIMEOUT_FIX = f"proxy_read_timeout {LONGEST_HOLD_S + READ_TIMEOUT_MARGIN:.0f}s;"
"""A read timeout above the longest long-poll hold (the tuned profile's)."""

PROBES: tuple[Probe, ...] = (
    Probe("default", "default profile (a bare proxy_pass)", TRANSPORTS, fix=UPGRADE_FIX),
    Probe("default-buffering", "default profile, the lab's X-Accel-Buffering: no ignored",
          ("stream", "sse"), ignore_accel_buffering=True, fix="proxy_buffering off;"),
    Probe("default-read-timeout", "default profile, read timeout shortened to 2 s (nginx: 60 s) "
          "on the quiet chat topic", ("longpoll", "stream", "sse"), topic="chat",
          read_timeout=2.0, fix=READ_TIMEOUT_FIX),
)

BUFFERED_P50_MS = 500.0
"""A push transport whose median latency is above this through a proxy is being buffered."""
