"""The report's two web chapters, from results.json's ``web``: HTTP/2, and a real proxy.

"Does HTTP/2 rescue polling?" sets every transport's header bill, direct over HTTP/1.1 and
through nginx over HTTP/1.1 and HTTP/2, beside websocket.org's 871 bytes, then shows what
HTTP/2 leaves as it was: latency, staleness, requests and the server's CPU per request.
"Through a real proxy" gives, per transport and nginx profile, whether it works, breaks or
degrades, the symptom measured, and the configuration that fixes it. The bytes chapter gets
WebSocket's permessage-deflate, measured by the same group (:func:`compression_section`). A run whose ``web`` group
did not run says so, and why. Everything here is read from the saved document
(:mod:`benchmarks.results.web` computes the targets); nothing is measured.
"""

from __future__ import annotations

from typing import Any

from benchmarks.report.render import fmt, table
from benchmarks.results import costs
from benchmarks.results.web import (
    HEADER_TARGET,
    HOP_TARGET_MS,
    headers_per_request,
    mbps_per_thousand,
    targets,
)
from lab.contract import TRANSPORTS

POLLING = ("poll", "longpoll")
"""Transports that pay a request's headers for every answer."""

NGINX_ROUTES = ("nginx-h1", "nginx-h2")


def _not_run(web: dict[str, Any] | None) -> str | None:
    """The note that stands in for both chapters when the group did not run."""
    if web is None:
        return "*The web group did not run in this run (`python -m benchmarks.run --only web`).*"
    if "skipped" in web:
        return f"*The web group was skipped: {web['skipped']}.*"
    if "failed" in web:
        return f"*The web group did not finish: {web['failed']}.*"
    return None


def _setup(web: dict[str, Any]) -> str:
    return (
        f"Measured in this run: the lab served {web.get('serving', 'engineered')}, "
        f"{web['clients']} clients per case, {web['seconds']:g} s windows, feed "
        f"{web['rate']:g} updates/s, short poll every 1 s; nginx in front over HTTPS with a "
        "self-signed certificate."
    )


def overhead_per_update(transport: str, figures: dict[str, Any]) -> float | None:
    """websocket.org's overhead: a poll's steady headers (one request per update), a push
    transport's framing per update."""
    if transport in POLLING:
        return headers_per_request(figures, "steady")
    return figures.get("framing_bytes_per_update")


def header_table(web: dict[str, Any]) -> str:
    """The 871-byte table with HTTP/2 columns: headers, overhead and bytes per update."""
    routes: dict[str, str] = web["routes"]
    measured = web["measured"]
    org = costs.WEBSOCKET_ORG_HEADER_BYTES
    headers = ["transport", "route", "headers per request, first / steady (B)",
               "overhead per update (B)", ("Mbps of overhead, 1,000 clients × 1 update/s "
               "(extrapolated)"), "bytes per update, all (TLS) (B)"]
    rows = [["poll (websocket.org, 2010)", "HTTP/1.1", f"{org} / {org}", f"{org}",
             fmt(mbps_per_thousand(org), 3), "—"]]
    for transport in TRANSPORTS:
        for route, label in routes.items():
            f = measured.get(transport, {}).get(route)
            if f is None:
                continue
            overhead = overhead_per_update(transport, f)
            rows.append([
                transport, label,
                f"{fmt(headers_per_request(f, 'first'))} / {fmt(headers_per_request(f, 'steady'))}",
                fmt(overhead), fmt(mbps_per_thousand(overhead), 3),
                f"{fmt(f.get('bytes_per_update'))} ({fmt(f.get('tls_bytes_per_update'))})",
            ])
    return table(headers, rows)


def unchanged_table(web: dict[str, Any]) -> str:
    """Per transport, HTTP/1.1 beside HTTP/2 through nginx: what HTTP/2 does not change."""
    routes: dict[str, str] = web["routes"]
    rows = []
    for transport in TRANSPORTS:
        for route in NGINX_ROUTES:
            f = web["measured"].get(transport, {}).get(route)
            if f is None:
                continue
            rows.append([
                transport, routes[route], fmt(f.get("latency_ms_p50"), 2),
                fmt(f.get("latency_ms_p99"), 2), fmt(f.get("staleness_ms_mean")),
                fmt(f.get("requests_per_minute")), fmt(f.get("server_cpu_us_per_request"), 0),
                fmt(f.get("server_cpu_us_per_update"), 0),
            ])
    return table(["transport", "route", "latency p50 (ms)", "p99 (ms)",
                  "staleness, mean (ms)", "requests / min / client",
                  "lab CPU per request (µs)", "lab CPU per update (µs)"], rows) + (
        "\n\nLab CPU is the lab process's CPU seconds over the window (from /proc, the feed's "
        "own work included) divided by the requests it answered and by the updates the clients "
        "received.")


def _verdict(value: bool) -> str:
    return "met" if value else "not met"


def target_bullets(measured: dict[str, Any]) -> list[str]:
    """The three targets with their measured values."""
    t = targets(measured)
    hops = ", ".join(f"{k} {fmt(v, 3)} ms" for k, v in t["hop_ms_p50"].items())
    return [
        (f"- Steady-state HTTP/2 short-poll request headers through nginx: "
         f"{fmt(t['h2_poll_header_share'], 3)} of HTTP/1.1's (target ≤ {HEADER_TARGET}): "
         f"{_verdict(t['h2_poll_header_share_met'])}. What is left is mostly the path: its "
         "`since=` changes with every poll, so HPACK cannot index it."),
        (f"- Median latency the proxy hop adds over HTTP/1.1 (proxied p50 − direct p50): {hops} "
         f"(target ≤ {HOP_TARGET_MS:g} ms): {_verdict(t['hop_met'])}."),
        (f"- Messages lost through nginx tuned: {t['gaps_through_proxy']} (target 0): "
         f"{_verdict(t['no_loss_met'])}."),
    ]


def http2_chapter(web: dict[str, Any] | None) -> str:
    """"Does HTTP/2 rescue polling?" (or why it is missing)."""
    missing = _not_run(web)
    if missing is not None or web is None:
        return missing or ""
    measured = web["measured"]
    poll = measured.get("poll", {})
    h1, h2 = poll.get("nginx-h1", {}), poll.get("nginx-h2", {})
    lines = [
        _setup(web) + " Every figure is `web.measured.<transport>.<route>` in results.json; the "
        "Mbps column is extrapolated from them.",
        "",
        ("Header bytes over HTTP/2 are the HPACK-encoded header blocks; \"overhead per update\" "
         "is websocket.org's measure (a poll's request and response headers, a push "
         "transport's framing); \"bytes per update, all\" counts every byte on the client's "
         "socket, TLS included (its share in brackets). WebSocket has no HTTP/2 row: nginx "
         "does not offer WebSocket over HTTP/2 (RFC 8441), so it stays HTTP/1.1 through "
         "the proxy."),
        "",
        header_table(web),
        "",
        (f"HPACK shrinks a poll's headers from {fmt(headers_per_request(h1, 'steady'))} B over "
         f"HTTP/1.1 to {fmt(headers_per_request(h2, 'steady'))} B over HTTP/2 once its dynamic "
         "table holds the repeated fields, and HTTP/2 carries every tab's requests on one "
         "connection, so HTTP/1.1's six connections per server no longer starve a few tabs. "
         "What it does not change:"),
        "",
        unchanged_table(web),
        "",
        ("A poll still learns of a price only when it asks: its latency and staleness stay "
         "about half its interval and its requests a minute one per interval, over either "
         "protocol, and every request is still one for the lab to parse and answer (its CPU "
         "per request above; nginx, not the lab, speaks HTTP/2). HTTP/2 rescues polling's "
         "header bill and its connection limit, not its staleness."),
        "",
        *target_bullets(measured),
    ]
    return "\n".join(lines)


def proxy_rows(web: dict[str, Any]) -> list[list[str]]:
    """transport × profile → verdict, measured symptom, fix (tuned from the measured cases)."""
    rows = []
    for transport in TRANSPORTS:
        for route in NGINX_ROUTES:
            f = web["measured"].get(transport, {}).get(route)
            if f is None:
                continue
            works = f["gaps"] == 0 and f["messages"] > 0
            rows.append([transport, web["routes"][route],
                         "works" if works else "degrades",
                         f"p50 {fmt(f.get('latency_ms_p50'), 2)} ms, {f['gaps']} lost", "—"])
        for name, label in web["probe_labels"].items():
            v = web["probes"].get(name, {}).get(transport)
            if v is not None:
                fix = f"`{v['fix']}`" if v.get("fix") else "—"
                rows.append([transport, label, v["verdict"], v["how"], fix])
    return rows


def proxy_chapter(web: dict[str, Any] | None) -> str:
    """"Through a real proxy" (or why it is missing)."""
    missing = _not_run(web)
    if missing is not None or web is None:
        return missing or ""
    return "\n".join([
        ("The tuned rows are chapter 10's cases (`web.measured`); the default profile's probes "
         "(`web.probes` in results.json) ran one client per transport on its cleartext "
         "HTTP/1.1 port (what nginx does is the same under TLS), each for the case window or "
         "three read timeouts, whichever is longer."),
        "",
        table(["transport", "nginx", "verdict", "measured symptom", ("the configuration that "
               "fixes it")], proxy_rows(web)),
        "",
        ("A bare `proxy_pass` speaks HTTP/1.0 to the lab and drops `Upgrade`, so WebSocket's "
         "handshake is refused and a client must fall back; streams pass unbuffered only "
         "because the lab sends `X-Accel-Buffering: no` (ignore it and they arrive in bursts); "
         "and a request or stream quieter than the read timeout is cut."),
    ])


COMPRESSION_LABELS = {
    "off": "not offered (plain frames)",
    "deflate": "permessage-deflate, context takeover",
    "deflate-no-takeover": "permessage-deflate, each message alone",
}
"""The compression cases of the web group, as the table names them."""


def compression_section(web: dict[str, Any] | None) -> str:
    """WebSocket with and without permessage-deflate: bytes and lab CPU per update, memory
    per socket, and what the context takeover buys (for the bytes chapter)."""
    measured = (web or {}).get("compression")
    if not measured:
        reason = _not_run(web) or "*This run did not measure WebSocket compression.*"
        return "WebSocket compression is measured by the web group. " + reason
    cases, rss = measured["cases"], measured["rss_per_socket_bytes"]
    rows = [[COMPRESSION_LABELS.get(name, name), fmt(f.get("body_bytes_per_update")),
             fmt(f.get("bytes_per_update")), fmt(f.get("server_cpu_us_per_update"), 0),
             fmt(f.get("latency_ms_p50"), 2),
             fmt(rss[name] / 1024 if name in rss else None), f"{f['messages']:,}"]
            for name, f in cases.items()]
    text = [
        (f"Measured in this run (the web group, `web.compression` in results.json): a lab "
         f"with `--ws-compress`, {measured['clients']} WebSocket clients per case "
         f"for {measured['seconds']:g} s each; memory: {measured['sockets']} "
         f"sockets fed for {measured['hold_s']:g} s in a fresh lab, its resident memory "
         "growth per socket."),
        "",
        table(["client's offer", "payload per update (B)", "bytes per update, all (B)",
               "lab CPU per update (µs)", "latency p50 (ms)", "lab memory per socket (KiB)",
               "updates"], rows),
    ]
    on, alone, off = cases.get("deflate"), cases.get("deflate-no-takeover"), cases.get("off")
    if on and alone and off and rss.get("deflate") is not None and rss.get("off") is not None:
        text += ["", (
            f"The prices are small and alike: compressed alone, a {fmt(off['body_bytes_per_update'], 0)}"
            f"-byte price still takes {fmt(alone['body_bytes_per_update'], 0)} bytes (a deflate "
            f"block has little to work with); with the context taken over from the previous "
            f"prices it takes {fmt(on['body_bytes_per_update'], 0)}, since field names, symbols "
            f"and leading digits are back-references. That costs the lab "
            f"{fmt((rss['deflate'] - rss['off']) / 1024, 0)} KiB more memory per socket (the "
            "compressor's window and hash tables, kept for the socket's life) and CPU for every "
            "socket's own deflate of every price, where the uncompressed fast path writes one "
            "frame to every socket.")]
    return "\n".join(text)


def markdown(web: dict[str, Any]) -> str:
    """``web.md`` of ``python -m benchmarks.web``: both chapters under their titles."""
    return "\n".join(["# Does HTTP/2 rescue polling?", "", http2_chapter(web), "",
                      "# Through a real proxy", "", proxy_chapter(web), "",
                      "# WebSocket compression", "", compression_section(web), ""])
