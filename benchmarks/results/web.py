"""The ``web`` group's saved figures read as the report needs them: targets, headers, bandwidth.

The group (``benchmarks.web``) saves one document in results.json's ``web``: for every
transport and route (``direct``, ``nginx-h1``, ``nginx-h2``) the measured figures, and for
every probe of the bare ``default`` nginx profile a verdict per transport. This module turns
those into the targets and the derived figures of the report's two web chapters: pure
functions, no I/O.
"""

from __future__ import annotations

from typing import Any

from benchmarks.results.costs import WEBSOCKET_ORG_MEGABIT

Measured = dict[str, dict[str, dict[str, Any]]]
"""transport → route → figures (``results.json``'s ``web.measured``)."""

HEADER_TARGET = 0.15
"""Steady-state HTTP/2 short-poll request headers through nginx, as a share of HTTP/1.1's."""

HOP_TARGET_MS = 1.0
"""The most median latency the proxy hop may add on loopback."""

HOP_TRANSPORTS = ("stream", "sse", "websocket")
"""Transports whose latency shows the hop alone (a poll's latency is mostly its interval)."""


def hop_ms(measured: Measured, transport: str, route: str) -> float | None:
    """Median latency added by ``route`` over going direct, for one transport."""
    by_route = measured.get(transport, {})
    direct = by_route.get("direct", {}).get("latency_ms_p50")
    proxied = by_route.get(route, {}).get("latency_ms_p50")
    return None if direct is None or proxied is None else round(proxied - direct, 3)


def targets(measured: Measured) -> dict[str, Any]:
    """The three targets: HTTP/2 poll headers, the hop's added latency, no loss."""
    poll = measured.get("poll", {})
    h1 = poll.get("nginx-h1", {}).get("steady_request_header_bytes")
    h2 = poll.get("nginx-h2", {}).get("steady_request_header_bytes")
    share = round(h2 / h1, 3) if h1 and h2 is not None else None
    hops = {t: hop_ms(measured, t, "nginx-h1") for t in HOP_TRANSPORTS}
    known = [h for h in hops.values() if h is not None]
    gaps = sum(f["gaps"] for by_route in measured.values()
               for route, f in by_route.items() if route != "direct")
    return {
        "h2_poll_header_share": share,
        "h2_poll_header_share_met": share is not None and share <= HEADER_TARGET,
        "hop_ms_p50": hops,
        "hop_met": bool(known) and max(known) <= HOP_TARGET_MS,
        "gaps_through_proxy": gaps,
        "no_loss_met": gaps == 0,
    }


def headers_per_request(figures: dict[str, Any], when: str) -> float | None:
    """Request + response header bytes of one request, ``when`` ``first`` or ``steady``."""
    request = figures.get(f"{when}_request_header_bytes")
    response = figures.get(f"{when}_response_header_bytes")
    return None if request is None or response is None else round(request + response, 1)


def mbps_per_thousand(bytes_per_update: float | None) -> float | None:
    """Extrapolated: 1,000 clients each receiving one update a second, in websocket.org's Mbps
    (2²⁰ bit/s)."""
    if bytes_per_update is None:
        return None
    return round(bytes_per_update * 8 * 1000 / WEBSOCKET_ORG_MEGABIT, 3)
