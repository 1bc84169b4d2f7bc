"""The ``web`` figures as ``web.json`` and as the tables of ``web.md`` (no measuring here)."""

from __future__ import annotations

from typing import Any

from .cases import PROBES, ROUTES

HEADER_TARGET = 0.15
"""Steady-state HTTP/2 short-poll request headers through nginx, as a share of HTTP/1.1's."""

HOP_TARGET_MS = 1.0
"""The most median latency the proxy hop may add on loopback."""


def _cell(value: object) -> str:
    return "—" if value is None else str(value)


def cost_table(measured: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Per transport and route: header bytes (first, steady), bytes per update, rate, latency."""
    lines = [
        ("| transport | route | request headers, first / steady (B) | response headers, first / "
        "steady (B) | bytes per update (TLS) | requests / min / client | p50 / p99 (ms) | gaps |"),
        "|---|---|---|---|---|---|---|---|",
    ]
    for transport, by_route in measured.items():
        for route in ROUTES:
            f = by_route.get(route.name)
            if f is None:
                continue
            lines.append(
                f"| {transport} | {route.label} | {_cell(f['first_request_header_bytes'])} / "
                f"{_cell(f['steady_request_header_bytes'])} | "
                f"{_cell(f['first_response_header_bytes'])} / "
                f"{_cell(f['steady_response_header_bytes'])} | {_cell(f['bytes_per_update'])} "
                f"({_cell(f['tls_bytes_per_update'])}) | {f['requests_per_minute']} | "
                f"{_cell(f['latency_ms_p50'])} / {_cell(f['latency_ms_p99'])} | {f['gaps']} |"
            )
    return lines


def hop_ms(measured: dict[str, dict[str, dict[str, Any]]], transport: str,
           route: str) -> float | None:
    """Median latency added by ``route`` over going direct, for one transport."""
    by_route = measured.get(transport, {})
    direct = by_route.get("direct", {}).get("latency_ms_p50")
    proxied = by_route.get(route, {}).get("latency_ms_p50")
    return None if direct is None or proxied is None else round(proxied - direct, 3)


def targets(measured: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """The three targets: HTTP/2 poll headers, the hop's added latency, no loss."""
    poll = measured.get("poll", {})
    h1 = poll.get("nginx-h1", {}).get("steady_request_header_bytes")
    h2 = poll.get("nginx-h2", {}).get("steady_request_header_bytes")
    share = round(h2 / h1, 3) if h1 and h2 is not None else None
    hops = {t: hop_ms(measured, t, "nginx-h1") for t in ("stream", "sse", "websocket")}
    known = [h for h in hops.values() if h is not None]
    gaps = sum(f["gaps"] for by_route in measured.values() for f in by_route.values())
    return {
        "h2_poll_header_share": share,
        "h2_poll_header_share_met": share is not None and share <= HEADER_TARGET,
        "hop_ms_p50": hops,
        "hop_met": bool(known) and max(known) <= HOP_TARGET_MS,
        "gaps_through_proxy": gaps,
        "no_loss_met": gaps == 0,
    }


def http2_chapter(measured: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """"Does HTTP/2 rescue polling?": the short poll through nginx, HTTP/1.1 beside HTTP/2."""
    poll = measured.get("poll", {})
    h1, h2 = poll.get("nginx-h1"), poll.get("nginx-h2")
    if h1 is None or h2 is None:
        return []

    def both(key: str) -> str:
        return f"{_cell(h1.get(key))} B over HTTP/1.1, {_cell(h2.get(key))} B over HTTP/2"

    return [
        "## Does HTTP/2 rescue polling?",
        "",
        (f"- **Headers, first request:** {both('first_request_header_bytes')} (HPACK's static "
        "table and Huffman coding)."),
        f"- **Headers, every later request on the connection:** "
        f"{both('steady_request_header_bytes')}: the dynamic table turns each repeated field "
        "into a one-octet reference; what is left is mostly the path, whose `since=` changes "
        "with every poll. Responses: " + both("steady_response_header_bytes") + ".",
        f"- **Bytes per delivered update:** {both('bytes_per_update')}.",
        ("- **Connections:** HTTP/2 carries every request of every tab as a stream of one "
        "connection, so the browser's six-connections-per-server limit of HTTP/1.1, which "
        "starves polls and streams when a few tabs are open, is gone."),
        (f"- **What it does not change:** a poll still learns of a price only when it asks: "
        f"median latency {_cell(h1.get('latency_ms_p50'))} ms over HTTP/1.1 and "
        f"{_cell(h2.get('latency_ms_p50'))} ms over HTTP/2 (half the interval), at the same "
        f"{_cell(h2.get('requests_per_minute'))} requests a minute."),
        "",
        "So HTTP/2 rescues polling's header bill and its connection limit, not its staleness.",
        "",
    ]


def markdown(document: dict[str, Any]) -> str:
    """``web.md``: the cost table, the targets and the default profile's verdicts."""
    measured = document["measured"]
    t = document["targets"]
    lines = [
        "# Through a real proxy",
        "",
        (f"The lab served {document.get('serving', 'engineered')}; "
        f"{document['clients']} clients per case, {document['seconds']:g} s windows, feed "
        f"{document['rate']:g} updates/s, short poll every 1 s. Header bytes over HTTP/2 are "
        "HPACK header blocks; bytes per update count every byte on the socket, TLS included "
        "(TLS's share in brackets)."),
        "",
        *cost_table(measured),
        "",
        "## Targets",
        "",
        (f"- steady-state HTTP/2 short-poll request headers through nginx: "
        f"{_cell(t['h2_poll_header_share'])} of HTTP/1.1's (target ≤ {HEADER_TARGET}): "
        f"{'met' if t['h2_poll_header_share_met'] else 'not met'}"),
        "- median latency the proxy hop adds (HTTP/1.1): "
        + ", ".join(f"{k} {_cell(v)} ms" for k, v in t["hop_ms_p50"].items())
        + f" (target ≤ {HOP_TARGET_MS} ms): {'met' if t['hop_met'] else 'not met'}",
        (f"- messages lost: {t['gaps_through_proxy']} (target 0): "
        f"{'met' if t['no_loss_met'] else 'not met'}"),
        "",
        *http2_chapter(measured),
        "## Through the default profile",
        "",
        "| proxy | transport | verdict | how |",
        "|---|---|---|---|",
    ]
    labels = {p.name: p.label for p in PROBES}
    for name, verdicts in document["probes"].items():
        for transport, v in verdicts.items():
            lines.append(f"| {labels[name]} | {transport} | {v['verdict']} | {v['how']} |")
    return "\n".join(lines) + "\n"
