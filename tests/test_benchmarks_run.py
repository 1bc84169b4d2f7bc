"""The benchmark runner: scenario data, the results model, /proc readings, the CLI, and
the quick suite end to end with sanity checks on what it measured."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from benchmarks import run
from benchmarks.results.files import load
from benchmarks.results.model import (
    LoadgenFigures,
    Results,
    ResultsError,
    ScenarioResult,
    ServerFigures,
)
from benchmarks.scale import cli as scale_cli
from benchmarks.scale.cases import plan
from benchmarks.suite import measure, procstats
from benchmarks.suite import runner as suite_runner
from benchmarks.suite.harness import Outcome, _with_machine
from benchmarks.suite.scenarios import SUITES, all_scenarios, select
from lab.contract import PUSH_TRANSPORTS, TRANSPORTS
from tests.nginx import needs_nginx

ROOT = Path(__file__).resolve().parent.parent
QUICK_DELAY = 25


def runner(*args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Run ``python -m benchmarks.run`` with ``args`` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *args], cwd=ROOT, capture_output=True,
        text=True, timeout=timeout, check=False,
    )


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Results:
    """The quick suite, run once for the whole module."""
    out = tmp_path_factory.mktemp("quick")
    done = runner("--suite", "quick", "--out", str(out), "--no-report", timeout=58.0)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return load(out)


def trader(results: Results, transport: str) -> ScenarioResult:
    """The quick suite's trader scenario for ``transport``."""
    return results.scenario(f"trader-{transport}-delay{QUICK_DELAY}")


def test_suites_fit_their_time_budgets() -> None:
    """Estimated durations stay inside the quick and standard budgets; names are unique."""
    assert sum(s.estimate_s() for s in SUITES["quick"]) <= 50
    assert sum(s.estimate_s() for s in SUITES["standard"]) <= 290
    names = [s.name for suite in SUITES.values() for s in suite]
    assert len(all_scenarios()) == len(set(names))


def test_select_rejects_unknown_names() -> None:
    """Selecting an unknown scenario or suite raises KeyError naming it."""
    with pytest.raises(KeyError, match="nope"):
        select("quick", ["nope"])
    with pytest.raises(KeyError, match="huge"):
        select("huge")
    assert [s.name for s in select("quick", ["trader-sse-delay25"])] == ["trader-sse-delay25"]


def test_results_model_validates_on_load(tmp_path: Path) -> None:
    """A results document round-trips; a wrong type or version is a ResultsError naming it."""
    doc = {
        "schema": "right-now-lab/results", "version": 1, "created": "2026-01-01T00:00:00+00:00",
        "suite": "quick", "seed": 1,
        "environment": {"python": "3.11", "aiohttp": "3.14", "os": "Linux", "cpu_count": 2,
                        "machine": "x86_64", "hostname_hash": "abc"},
        "settings": {"volatility": 0.2, "rate": 10, "trade_volume_usd_per_day": 1e6,
                     "usd_per_million_requests": 0.4, "usd_per_gb": 0.09},
        "scenarios": [{"name": "a", "group": "trader", "params": {}, "status": "ok",
                       "latency_ms": {"count": 1, "p50": 1, "p99": 2}}],
        "anatomy": {},
    }
    path = tmp_path / "results.json"
    path.write_bytes(orjson.dumps(doc))
    results = load(tmp_path)
    assert results.scenario("a").latency_ms.p50 == 1.0
    assert Results.from_dict(orjson.loads(orjson.dumps(results.to_dict()))) == results
    doc["scenarios"][0]["latency_ms"]["count"] = "one"
    path.write_bytes(orjson.dumps(doc))
    with pytest.raises(ResultsError, match=r"scenarios\[0\]\.latency_ms\.count"):
        load(path)
    doc["version"] = 99
    path.write_bytes(orjson.dumps(doc))
    with pytest.raises(ResultsError, match="version"):
        load(path)


def test_results_model_keeps_the_scale_figures() -> None:
    """The scale suite's extra fields survive load → to_dict; a wrong type is still rejected."""
    doc = orjson.loads((ROOT / "tests/fixtures/results_scale/results.json").read_bytes())
    results = Results.from_dict(doc)
    assert Results.from_dict(orjson.loads(orjson.dumps(results.to_dict()))) == results
    assert results.to_dict()["breaking_points"] == doc["breaking_points"]
    soak = next(s for s in results.scenarios if s.params["purpose"] == "soak")
    raw = next(d for d in doc["scenarios"] if d["name"] == soak.name)
    assert soak.rss_series == raw["rss_series"] and soak.rss_growth_bytes_per_min
    floor = next(s for s in results.scenarios if s.params["server"] == "floor")
    assert floor.server.fanout_ms.p99 > floor.server.fanout_ms.p50 > 0
    assert floor.loss["gaps"] == 0 and floor.loadgen_utils
    doc["scenarios"][0]["loss"] = {"gaps": "none"}
    with pytest.raises(ResultsError, match=r"scenarios\[0\]\.loss\.gaps"):
        Results.from_dict(doc)


def test_machine_figures_divide_by_the_wall_clock() -> None:
    """Busy cores = Δbusy / wall time, even when /proc/stat's total lags (it read 11.8 of 2)."""
    # 5 s window: 9 CPU-s busy (1.8 cores), 1 s of it interrupts; the total advanced
    # only 1.5 s per core because the idle counter lagged.
    m1, m2 = (100.0, 10.0, 1000.0), (109.0, 11.0, 1003.0)
    result = ScenarioResult(
        name="s", group="trader", params={}, status="ok",
        server=ServerFigures(cpu_s=4.0, peak_rss_bytes=1, rss_start_bytes=1, stats={}),
        loadgen=LoadgenFigures(processes=1, cpu_s=1.5, cpu_util=0.3, saturated=False))
    machine = _with_machine(Outcome(result), m1, m2, 5.0, 0.5).result.machine
    assert machine is not None
    assert (machine.busy_cores, machine.irq_cores, machine.other_cores) == (1.8, 0.2, 0.4)
    assert measure.machine_figures(m1, m2, 5.0, 6.0, 2) == machine.__class__(
        cpu_count=2, busy_cores=1.8, other_cores=0.4, irq_cores=0.2)


def test_measure_percentiles_recovery_and_flags() -> None:
    """Percentiles interpolate; recovery pairs each in-window cut with the next arrival."""
    dist = measure.distribution([1000, 2000, 3000, 4000])
    assert (dist.count, dist.p50, dist.max, dist.mean) == (4, 2.5, 4.0, 2.5)
    assert measure.distribution([]).count == 0
    arrivals = [(0, 1, 100), (0, 2, 250), (0, 3, 900), (1, 1, 120)]
    assert sorted(measure.recovery_us([200, 5000], arrivals, 0, 1000)) == [50]
    ok = {"clients": 2, "delivered": 20, "published": 10, "loadgen_util": 0.1,
          "relay_util": 0.1, "server_util": 0.1, "failed_clients": 0, "rate": 10.0,
          "window_s": 1.0}
    assert measure.flags(**ok) == []
    found = measure.flags(**{**ok, "delivered": 19, "loadgen_util": 0.95})
    assert [f.split(" ")[0] for f in found] == ["loadgen", "incomplete"]


def test_procstats_reads_this_process() -> None:
    """CPU seconds grow with work; resident and peak memory are positive and ordered."""
    before = procstats.sample(os.getpid())
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    after = procstats.sample(os.getpid())
    assert after.cpu_s > before.cpu_s
    assert 0 < after.rss_bytes <= after.peak_rss_bytes
    with pytest.raises(procstats.ProcessGone):
        procstats.sample(2**22 + 1)


def test_list_shows_every_suite() -> None:
    """``--list`` names every suite and scenario and exits 0."""
    done = runner("--list")
    assert done.returncode == 0
    for suite in (*SUITES, "scale"):
        assert f"{suite}:" in done.stdout
    assert "trader-websocket-delay50" in done.stdout
    assert "scale-websocket-floor-5000" in done.stdout


def test_scale_suite_is_benchmarks_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--suite scale`` hands --out/--seed/--no-report to benchmarks.scale; --list shows its
    plan."""
    seen: list[list[str]] = []
    monkeypatch.setattr(scale_cli, "main", lambda argv: seen.append(argv) or 0)
    assert run.main(["--suite", "scale", "--out", "x", "--seed", "3", "--no-report"]) == 0
    assert seen == [["--seed", "3", "--out", "x", "--no-report"]]
    listed = runner("--list", "--suite", "scale")
    assert listed.returncode == 0
    assert all(case.name in listed.stdout for case in plan())
    assert "trader-" not in listed.stdout and "scale-sse-1000" not in listed.stdout


def test_unknown_only_is_a_one_line_error() -> None:
    """An unknown ``--only`` name exits 2 with one line on stderr and no traceback."""
    done = runner("--only", "no-such-scenario")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "no-such-scenario" in done.stderr and "Traceback" not in done.stderr


def test_ctrl_c_keeps_results_and_stops_children(tmp_path: Path) -> None:
    """SIGINT mid-scenario: exit 130, no traceback, the cut scenario recorded as interrupted."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.run", "--only", "trader-sse-delay25", "--out",
         str(tmp_path), "--no-report"], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    server_log = tmp_path / "logs" / "trader-sse-delay25.server.log"
    deadline = time.monotonic() + 15
    while not server_log.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    results = load(tmp_path)
    assert results.scenario("trader-sse-delay25").status == "interrupted"
    assert holders_of(tmp_path) == []  # no server or load generator left writing its log


def holders_of(directory: Path) -> list[int]:
    """Processes with a file open under ``directory`` (children log there)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            links = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
        except OSError:  # gone, or not ours to read
            continue
        if any(link.startswith(str(directory)) for link in links):
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_quick_suite_reconciles(quick: Results, transport: str) -> None:
    """Every delivery counted; client bytes equal the relay's; requests equal the server's."""
    result = trader(quick, transport)
    assert result.status == "ok", result.error
    assert result.transport == transport
    assert result.published and result.delivered == result.published
    assert result.latency_ms is not None and result.latency_ms.count == result.delivered
    wire, relay, server = result.wire, result.relay, result.server
    assert wire is not None and relay is not None and server is not None
    assert wire.bytes_sent == relay.bytes_upstream
    assert wire.bytes_received == relay.bytes_downstream
    assert server.stats_run is not None
    # A long-poll client always has its next request out when it closes; the server
    # drops that one undispatched (it reached the server: the relay counted its bytes).
    outstanding = result.params["clients"] if transport == "longpoll" else 0
    assert server.stats_run["requests"] == wire.requests - outstanding
    assert wire.gaps == 0 and wire.duplicates == 0
    assert server.cpu_s > 0 and server.peak_rss_bytes >= server.rss_start_bytes > 0
    assert not result.loadgen.saturated


@pytest.mark.parametrize("transport", PUSH_TRANSPORTS)
def test_push_beats_the_short_poll(quick: Results, transport: str) -> None:
    """A push transport's median latency is below the short poll's, which waits half an
    interval on average (both measured in the same run, so a busy machine slows both)."""
    poll = trader(quick, "poll")
    push = trader(quick, transport)
    assert poll.latency_ms is not None
    assert push.latency_ms.p50 < poll.latency_ms.p50
    assert push.latency_ms.p50 >= QUICK_DELAY  # the relay's one-way delay really applies


def test_quick_suite_sweep_faults_and_anatomy(quick: Results) -> None:
    """Staleness grows with the poll interval; cuts are seen and recovered; anatomy is kept."""
    sweep = sorted((s for s in quick.scenarios if s.group == "poll_sweep"),
                   key=lambda s: s.params["interval_s"])
    assert len(sweep) >= 2
    assert sweep[0].staleness_ms.p50 < sweep[-1].staleness_ms.p50
    for fault in (s for s in quick.scenarios if s.group == "faults"):
        assert fault.status == "ok", fault.error
        assert fault.relay.cuts >= 1 and fault.wire.reconnects >= 1
        assert fault.recovery_ms is not None and fault.recovery_ms.count >= 1
        assert fault.wire.bytes_sent == fault.relay.bytes_upstream
        assert fault.wire.bytes_received <= fault.relay.bytes_downstream
    assert set(quick.anatomy) == set(TRANSPORTS)


def test_without_nginx_the_web_group_is_skipped_and_the_report_says_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No nginx: the run still succeeds, results.json and both web chapters give the reason,
    and WebSocket compression, which needs no proxy, is measured all the same."""
    monkeypatch.setattr(suite_runner, "nginx_missing", lambda: "nginx is not installed here")
    argv = ["--only", "web", "--web-clients", "1", "--web-seconds", "1", "--out", str(tmp_path)]
    assert run.main(argv) == 0
    web = load(tmp_path).web
    assert web is not None and web["skipped"] == "nginx is not installed here"
    assert set(web["compression"]["cases"]) == {"off", "deflate", "deflate-no-takeover"}
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert report.count("*The web group was skipped: nginx is not installed here.*") == 2
    assert "| permessage-deflate, context takeover |" in report


def test_the_standard_suite_ends_with_the_web_group_unless_left_out() -> None:
    """``--list`` names the group; bad sizes are a one-line usage error."""
    listed = runner("--list", "--suite", "standard")
    assert listed.returncode == 0 and "web group" in listed.stdout
    done = runner("--only", "web", "--web-clients", "0")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0


@needs_nginx
def test_the_web_group_at_a_tiny_size(tmp_path: Path) -> None:
    """``--only web`` with one client and 1 s windows: every case and probe is saved, each
    case's latency samples are in samples.csv, and the report has both chapters."""
    done = runner("--only", "web", "--web-clients", "1", "--web-seconds", "1", "--out",
                  str(tmp_path), timeout=150.0)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    web = load(tmp_path).web
    assert web is not None and web["clients"] == 1
    cases = {(t, route) for t, by_route in web["measured"].items() for route in by_route}
    assert len(cases) == 14 and ("websocket", "nginx-h2") not in cases
    for transport, by_route in web["measured"].items():
        for route, found in by_route.items():
            # A 1 s window may hold no poll of a 1 s poller; every poll it holds brings news.
            asked = found["window_requests"] > 0 if transport == "poll" else True
            assert (found["messages"] > 0) == asked and found["gaps"] == 0, (transport, route)
    assert web["probes"]["default"]["websocket"]["verdict"] == "fails"
    samples = (tmp_path / "samples.csv").read_text(encoding="utf-8")
    assert "web-nginx-h2-sse,sse," in samples and "web-direct-websocket,websocket," in samples
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "## 10. Does HTTP/2 rescue polling?" in report and "| poll | nginx tuned, HTTPS, " \
        "HTTP/2 |" in report
    assert "| websocket | default profile (a bare proxy_pass) | fails |" in report
    compression = web["compression"]
    assert set(compression["cases"]) == {"off", "deflate", "deflate-no-takeover"}
    assert compression["cases"]["deflate"]["body_bytes_per_update"] < \
        compression["cases"]["off"]["body_bytes_per_update"]
    assert "| permessage-deflate, context takeover |" in report
