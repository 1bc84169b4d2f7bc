"""The ``web`` group: its arithmetic with no network, the report's two chapters from a saved run,
and two verdicts through nginx."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from benchmarks.report.build import build
from benchmarks.results.web import targets
from benchmarks.web.cases import Probe, WebSize, measured_cases
from benchmarks.web.measure import figures
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


def test_the_default_web_group_adds_a_few_minutes_at_most() -> None:
    """The size benchmarks.run gives the group by default stays modest."""
    assert WebSize().estimate_s() <= 180
    assert WebSize(seconds=20).estimate_s() > WebSize().estimate_s()


def test_no_websocket_over_http2_among_the_cases() -> None:
    """nginx offers no WebSocket over HTTP/2, so no case asks for it."""
    cases = {(route.name, transport) for route, transport in measured_cases()}
    assert ("nginx-h2", "websocket") not in cases and ("nginx-h1", "websocket") in cases
    assert len(cases) == 14


WEB_FIXTURE = Path(__file__).parent / "fixtures" / "results_web"
"""A real run of ``python -m benchmarks.run --only web --web-clients 2 --web-seconds 1.5``, as
written (its samples.csv cut to three rows per case)."""


def web_fixture() -> dict:
    """The fixture run's ``web`` document."""
    return json.loads((WEB_FIXTURE / "results.json").read_text(encoding="utf-8"))["web"]


@pytest.fixture(scope="module")
def web_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The web fixture's report.md, built once for the module."""
    run_dir = tmp_path_factory.mktemp("web") / "web-run"
    shutil.copytree(WEB_FIXTURE, run_dir)
    build(run_dir)
    return (run_dir / "report.md").read_text(encoding="utf-8")


def test_targets_read_the_figures() -> None:
    """The header share, the hop and loss through the proxy are computed from the cases."""
    row = {"gaps": 0, "latency_ms_p50": 5}
    measured = {
        "poll": {"nginx-h1": {**row, "steady_request_header_bytes": 200},
                 "nginx-h2": {**row, "steady_request_header_bytes": 20}},
        "sse": {"direct": {**row, "gaps": 3, "latency_ms_p50": 0.5},
                "nginx-h1": {**row, "latency_ms_p50": 0.75}},
    }
    found = targets(measured)
    assert found["h2_poll_header_share"] == 0.1 and found["h2_poll_header_share_met"]
    assert found["hop_ms_p50"]["sse"] == 0.25 and found["hop_met"]
    assert found["gaps_through_proxy"] == 0 and found["no_loss_met"]  # direct's gaps not counted
    measured["poll"]["nginx-h2"]["steady_request_header_bytes"] = 40
    measured["sse"]["nginx-h1"]["gaps"] = 1
    worse = targets(measured)
    assert not worse["h2_poll_header_share_met"] and not worse["no_loss_met"]


def test_the_report_has_both_web_chapters_from_the_saved_run(web_report: str) -> None:
    """Chapter 10 holds the 871-byte table with HTTP/2 rows, what HTTP/2 leaves unchanged and
    the targets; chapter 11 every transport through each profile, with the fix; all read
    from the fixture's figures."""
    web = json.loads((WEB_FIXTURE / "results.json").read_text(encoding="utf-8"))["web"]
    h2_poll = web["measured"]["poll"]["nginx-h2"]
    first = h2_poll["first_request_header_bytes"] + h2_poll["first_response_header_bytes"]
    steady = h2_poll["steady_request_header_bytes"] + h2_poll["steady_response_header_bytes"]
    assert "## 10. Does HTTP/2 rescue polling?" in web_report
    assert "| poll (websocket.org, 2010) | HTTP/1.1 | 871 / 871 |" in web_report
    assert f"| poll | nginx tuned, HTTPS, HTTP/2 | {first:.1f} / {steady:.1f} |" in web_report
    assert "| websocket | nginx tuned, HTTPS, HTTP/2 |" not in web_report
    assert "requests / min / client" in web_report and "lab CPU per request" in web_report
    share = targets(web["measured"])["h2_poll_header_share"]
    assert f"{share:.3f} of HTTP/1.1's" in web_report
    assert "## 11. Through a real proxy" in web_report
    assert "| websocket | default profile (a bare proxy_pass) | fails |" in web_report
    assert "`proxy_buffering off;`" in web_report and "`proxy_read_timeout 150s;`" in web_report
    assert "`web-<route>-<transport>`" in web_report


def test_the_bytes_chapter_has_websocket_compression_from_the_saved_run(web_report: str) -> None:
    """Payload per update with and without the context, and memory per socket, as saved."""
    measured = json.loads((WEB_FIXTURE / "results.json").read_text(encoding="utf-8"))[
        "web"]["compression"]
    on = measured["cases"]["deflate"]
    rss = measured["rss_per_socket_bytes"]
    assert (f"| permessage-deflate, context takeover | {on['body_bytes_per_update']:.1f} | "
            f"{on['bytes_per_update']:.1f} |") in web_report
    assert f"{(rss['deflate'] - rss['off']) / 1024:.0f} KiB more memory per socket" in web_report
    assert web_report.index("WebSocket with permessage-deflate") < web_report.index("## 7.")


@pytest.mark.parametrize(("web", "says"), [
    ({"skipped": "nginx is not installed"}, "*The web group was skipped: nginx is not installed"),
    ({"failed": "nginx exited"}, "*The web group did not finish: nginx exited"),
    (None, "*The web group did not run in this run"),
])
def test_a_run_without_the_web_group_says_why(tmp_path: Path, web: dict[str, str] | None,
                                              says: str) -> None:
    """The web chapters and the compression table stand in with the reason the group is
    missing."""
    shutil.copytree(WEB_FIXTURE, tmp_path / "run")
    results = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    results["web"] = web
    (tmp_path / "run" / "results.json").write_text(json.dumps(results), encoding="utf-8")
    build(tmp_path / "run")
    report = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert report.count(says) == 3  # both web chapters and the bytes chapter's compression
    if web is not None:  # a skipped group may still bring its compression cases
        results["web"] = {**web, "compression": web_fixture()["compression"]}
        (tmp_path / "run" / "results.json").write_text(json.dumps(results), encoding="utf-8")
        build(tmp_path / "run")
        report = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
        assert report.count(says) == 2 and "| permessage-deflate, context takeover |" in report


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
