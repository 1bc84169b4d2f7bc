"""The ``web`` measurements: their arithmetic with no network, and two verdicts through nginx."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks.web.cases import Probe, measured_cases
from benchmarks.web.measure import figures
from benchmarks.web.output import markdown, targets
from benchmarks.web.probes import verdict
from clients import WireStats
from tests.conftest import QUIET
from tests.nginx import free_ports, needs_nginx, proxy_in_front


def test_first_request_and_steady_state_are_apart() -> None:
    """Per-request header bytes: the first request's, then the window's; bytes per update."""
    first = [WireStats(requests=1, request_header_bytes=65, response_header_bytes=73,
                       bytes_sent=200, bytes_received=400, messages=3)]
    last = [WireStats(requests=11, request_header_bytes=65 + 300, response_header_bytes=73 + 700,
                      bytes_sent=1200, bytes_received=2400, messages=23, tls_sent_bytes=50,
                      tls_received_bytes=150)]
    found = figures(first, last, [1000, 2000, 3000], seconds=10.0)
    assert found["first_request_header_bytes"] == 65.0
    assert found["steady_request_header_bytes"] == 30.0
    assert found["steady_response_header_bytes"] == 70.0
    assert found["bytes_per_update"] == 150.0 and found["tls_bytes_per_update"] == 10.0
    assert found["requests_per_minute"] == 60.0 and found["latency_ms_p50"] == 2.0


def test_no_websocket_over_http2_among_the_cases() -> None:
    """nginx offers no WebSocket over HTTP/2, so no case asks for it."""
    cases = {(route.name, transport) for route, transport in measured_cases()}
    assert ("nginx-h2", "websocket") not in cases and ("nginx-h1", "websocket") in cases
    assert len(cases) == 14


def test_targets_and_tables_read_the_figures() -> None:
    """The header share, the hop and loss are computed from the cases, and shown."""
    row = {"first_request_header_bytes": 1, "first_response_header_bytes": 1,
           "steady_response_header_bytes": 1, "bytes_per_update": 1, "tls_bytes_per_update": 0,
           "requests_per_minute": 60, "gaps": 0, "latency_ms_p99": 1}
    measured = {
        "poll": {"nginx-h1": {**row, "steady_request_header_bytes": 200, "latency_ms_p50": 5},
                 "nginx-h2": {**row, "steady_request_header_bytes": 20, "latency_ms_p50": 5}},
        "sse": {"direct": {**row, "steady_request_header_bytes": None, "latency_ms_p50": 0.5},
                "nginx-h1": {**row, "steady_request_header_bytes": None, "latency_ms_p50": 0.75}},
    }
    found = targets(measured)
    assert found["h2_poll_header_share"] == 0.1 and found["h2_poll_header_share_met"]
    assert found["hop_ms_p50"]["sse"] == 0.25 and found["hop_met"] and found["no_loss_met"]
    text = markdown({"clients": 1, "seconds": 1.0, "rate": 10.0, "measured": measured,
                     "targets": found, "probes": {"default": {"websocket": {
                         "verdict": "fails", "how": "upgrade refused"}}}})
    assert "| sse | nginx tuned, HTTPS, HTTP/1.1 |" in text and "0.1 of HTTP/1.1's" in text
    assert "| websocket | fails | upgrade refused |" in text
    assert "## Does HTTP/2 rescue polling?" in text and "20 B over HTTP/2" in text


@needs_nginx
async def test_the_default_profile_refuses_websocket_and_the_client_falls_back(make_lab) -> None:
    """Through a bare proxy_pass the upgrade is lost: fails, and the fallback picks SSE."""
    options = free_ports("default")
    lab = await make_lab(QUIET.replace(rate=20.0))
    async with proxy_in_front(lab, options):
        url = f"http://127.0.0.1:{options.cleartext_port}"
        found = await verdict(url, Probe("default", "default", ("websocket",)), "websocket", 1.0)
    assert found["verdict"] == "fails"
    assert "upgrade refused" in found["how"]
    assert "the fallback client then uses sse" in found["how"]


@needs_nginx
@pytest.mark.parametrize("transport", ["longpoll", "sse"])
async def test_a_short_read_timeout_cuts_quiet_requests(make_lab, transport: str) -> None:
    """A read timeout below the hold (or the heartbeat) cuts; the client resumes: degrades."""
    options = dataclasses.replace(free_ports("default"), read_timeout=1.0)
    lab = await make_lab(QUIET.replace(heartbeat=15.0))
    async with proxy_in_front(lab, options):
        url = f"http://127.0.0.1:{options.cleartext_port}"
        probe = Probe("cut", "cut", (transport,), topic="chat", read_timeout=1.0)
        found = await verdict(url, probe, transport, 2.5)
    assert found["verdict"] == "degrades" and "read timeout" in found["how"]
    assert found["gaps"] == 0
