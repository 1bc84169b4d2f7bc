"""Scale suite: the baselines, the swarm load generator, the orchestration and paired runs, at
tiny N."""

from __future__ import annotations

import asyncio
import os
import random
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from benchmarks.results.model import MachineFigures, Results
from benchmarks.results.scale_verdicts import (
    P95_LIMIT_MS,
    READ_TOGETHER,
    holds,
    step_settled,
    step_verdict,
)
from benchmarks.scale import cpuspeed, swarm_socket
from benchmarks.scale.cases import BREAKING_STEPS, Case, Source, plan
from benchmarks.scale.cli import LOOPBACK_BACKLOG, backlog_warning
from benchmarks.scale.figures import ServerReadings, build, loss, lower_bounds
from benchmarks.scale.paired import schedule
from benchmarks.scale.paired_table import mid, paired_markdown, pairs, ratio
from benchmarks.scale.runner import run_case
from benchmarks.scale.search import breaking_point
from benchmarks.scale.swarm import build_parser
from benchmarks.scale.swarm_connections import (
    HOLD_S,
    SWEEP_AFTER_S,
    SWEEP_S,
    Swarm,
    next_timed_read,
    sweep_due,
)
from benchmarks.scale.swarm_protocols import make_conn
from benchmarks.scale.swarm_recorder import FAR, Recorder
from benchmarks.suite import procstats
from benchmarks.suite.children import Child
from benchmarks.suite.measure import percentile
from lab.__main__ import build_parser as lab_parser
from lab.settings import Settings

SERVING = re.compile(rb"serving on http://127\.0\.0\.1:(\d+)/")
MESSAGE_KEYS = ["topic", "seq", "t_us", "data"]


async def read_ws(url: str) -> dict[str, Any]:
    """First text frame, with aiohttp's stock WebSocket client."""
    async with aiohttp.ClientSession() as s, s.ws_connect(url + "/ws?topic=prices") as ws:
        return orjson.loads((await ws.receive(timeout=5)).data)


async def read_poll(url: str, path: str) -> dict[str, Any]:
    """First message of a (long) poll body."""
    async with aiohttp.ClientSession() as s, s.get(url + path) as r:
        body = orjson.loads(await r.read())
        assert set(body) == {"messages", "head", "missed"}
        return body["messages"][0]


BASELINES = {
    "floor": read_ws,
    "constant": lambda url: read_poll(url, "/api/poll?topic=prices"),
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", list(BASELINES))
async def test_baseline_serves_a_lab_shaped_message(name: str) -> None:
    """Each baseline starts, announces its port and serves a message a stock client reads."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", f"benchmarks.baselines.{name}", "--port", "0", "--rate", "50",
        stdout=asyncio.subprocess.PIPE, start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        match = SERVING.search(await asyncio.wait_for(proc.stdout.readline(), 10))
        assert match, "no 'serving on' line"
        message = await BASELINES[name](f"http://127.0.0.1:{int(match[1])}")
        assert list(message) == MESSAGE_KEYS
        assert message["topic"] == "prices" and message["seq"] >= 1
        assert set(message["data"]) == {"symbol", "price"}
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("transport", ["websocket", "sse", "stream", "longpoll", "poll"])
async def test_swarm_counts_every_message(make_lab, transport: str) -> None:
    """20 swarm connections against the lab: every in-window message, no gap, sane latency.

    Pushes time every 4th connection, read every 5 ms, well under the 25 ms
    between messages (the rest are read in sweeps): all are counted, only the
    timed ones give latency samples, and most reads hold a single message.
    """
    lab = await make_lab(Settings(rate=40, steady=True))
    timed_every = 1 if transport in ("longpoll", "poll") else 4
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.scale.swarm", "--url", lab.base, "--transport", transport,
        "--clients", "20", "--timed-every", str(timed_every), "--timed-read-ms", "5",
        "--sources", "127.0.0.2,127.0.0.3", "--window-s", "0.5",
        "--warmup-s", "0.1", "--drain-s", "3", "--interval", "0.02", "--max-duration", "15",
        stdout=asyncio.subprocess.PIPE, start_new_session=True,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 15)
    lines = [orjson.loads(line) for line in out.splitlines()]
    assert [line["event"] for line in lines] == ["ready", "report"]
    report = lines[1]
    assert report["failed"] == 0 and report["gaps"] == 0 and report["missed"] == 0
    published = report["max_seq"] - report["min_seq"] + 1
    assert published >= 10
    if transport != "poll":
        assert report["duplicates"] == 0 and report["incomplete"] == 0
        assert report["delivered"] == published * 20
        assert report["timed_delivered"] == published * 20 // timed_every
    assert report["timed_clients"] == 20 // timed_every
    if transport != "poll":
        assert report["batched"] < report["timed_delivered"] // 4
    assert report["window_late_ms"] == 0  # it set the window itself, 50 ms ahead
    assert report["cpu_window_s"] is not None and report["cpu_window_s"] >= 0
    samples = report["samples"]
    assert samples and all(0 <= arrival - t <= recv - t < 2_000_000
                           for _c, _seq, t, recv, arrival in samples)
    assert {client % timed_every for client, *_ in samples} == {0}


def test_untimed_sweeps_hold_off_until_the_window_is_over() -> None:
    """Untimed connections are swept only ``HOLD_S`` after the last sweep until
    ``SWEEP_AFTER_S`` past the window, then at every check; announcing the window sweeps
    nothing (the catch-up did)."""
    hold, end, step = int(HOLD_S * 1e6), 20_000_000, int(SWEEP_S * 1e6)
    after = end + int(SWEEP_AFTER_S * 1e6)
    assert not sweep_due(1_000_000, 0, FAR)  # the window is not known yet
    assert sweep_due(hold, 0, FAR)
    assert not sweep_due(end - 1, end - 2 * step, end)
    assert not sweep_due(end - 1, end - hold + 1, end)
    assert sweep_due(end - 1, end - hold - 1, end)
    assert not sweep_due(after - 1, end - step, end)  # the window's last reads come first
    assert sweep_due(after, after - step, end)


class FakeSocket:
    """Stands in for a swarm socket: records whether it is still watched."""

    def __init__(self) -> None:
        self.watched = True

    def stop_watching(self) -> None:
        """What the swarm calls when sweeps take over."""
        self.watched = False


class QueuedSocket(FakeSocket):
    """An unwatched timed socket: hands the recorder the messages queued on it when read."""

    def __init__(self, conn: Any) -> None:
        super().__init__()
        self.conn, self.queued, self.watched = conn, [], False

    def read_pending(self) -> None:
        """Every queued ``(seq, t_us)``, as the kernel would return them."""
        for seq, t_us in self.queued:
            self.conn.rec.record(self.conn, seq, t_us, t_us + 1)
        self.queued.clear()

    def watch_once(self) -> None:
        """What the swarm calls when a read found nothing new."""
        self.watched = True


class PendingSocket(FakeSocket):
    """A swarm socket holding one post-window message until it is read."""

    def __init__(self, conn: Any, seq: int, t_us: int) -> None:
        super().__init__()
        self.conn, self.seq, self.t_us, self.reads = conn, seq, t_us, 0

    def read_pending(self) -> None:
        """Hand the waiting message to the recorder, as a sweep's read does."""
        self.reads += 1
        self.conn.rec.record(self.conn, self.seq, self.t_us, self.t_us + 1)


async def test_final_sweep_reads_only_untimed_connections_still_unfinished() -> None:
    """When the drain time is up, each untimed connection without a post-window message is
    read once more, so one a slow sweep had not reached yet is not counted incomplete."""
    args = build_parser().parse_args(["--url", "http://127.0.0.1:9", "--transport", "stream",
                                      "--clients", "3", "--timed-every", "3"])
    herd = Swarm(args)
    herd.rec.open_window(10, 20)
    conns = [make_conn("stream", i, "h", herd.rec) for i in range(3)]
    timed, waiting, done = conns
    for conn in (waiting, done):
        conn.timed = False
    herd.conns.extend(conns)
    for conn in conns:
        herd.rec.record(conn, 1, 15, 16)
        conn.transport = PendingSocket(conn, 2, 25)  # type: ignore[assignment]
    herd.rec.record(done, 2, 25, 26)
    await herd.final_sweep()
    assert [c.transport.reads for c in conns] == [0, 1, 0]  # type: ignore[union-attr]
    assert (timed.finished, waiting.finished, done.finished) == (False, True, True)


async def test_catch_up_reads_each_untimed_connection_once_and_restarts_the_hold() -> None:
    """The catch-up before the window reads every untimed connection's backlog, and the next
    sweep before the window is over comes only ``HOLD_S`` after it ended."""
    args = build_parser().parse_args(["--url", "http://127.0.0.1:9", "--transport", "stream",
                                      "--clients", "4", "--timed-every", "2"])
    herd = Swarm(args)
    conns = [make_conn("stream", i, "h", herd.rec) for i in (1, 3)]
    for conn in conns:
        conn.timed = False
        conn.transport = PendingSocket(conn, 1, 5)  # type: ignore[assignment]
        herd.swept.append(conn.transport)  # type: ignore[arg-type]
    before_us = time.time_ns() // 1000
    await herd.catch_up()
    assert [c.transport.reads for c in conns] == [1, 1]  # type: ignore[union-attr]
    assert all(c.ready for c in conns)
    held_until = herd.last_sweep_us + int(HOLD_S * 1e6)
    assert herd.last_sweep_us >= before_us
    assert not sweep_due(held_until - 1, herd.last_sweep_us, FAR)
    assert sweep_due(held_until, herd.last_sweep_us, FAR)


@pytest.mark.parametrize(("since_latest_us", "read_after_latest_us"), [
    (-5_000, 50_000), (10_000, 50_000), (50_000, 150_000), (60_000, 150_000),
    (260_000, 350_000)])
def test_timed_reads_fall_midway_between_two_publishes(since_latest_us: int,
                                                       read_after_latest_us: int) -> None:
    """With messages a period apart the timed reads land half a period after a publish time
    (strictly after now), so they do not wake the swarm during a fan-out; the recorder
    keeps the latest publish time it has seen."""
    latest = 1_700_000_000_000_000
    rec = Recorder(1, 10, 1)
    conn = make_conn("sse", 0, "h", rec)
    for seq, t_us in ((1, latest - 100_000), (2, latest), (2, latest + 5)):
        rec.record(conn, seq, t_us, t_us + 1)
    assert rec.latest_t_us == latest  # the duplicate's time is not taken
    now = latest + since_latest_us
    assert next_timed_read(now, rec.latest_t_us, 100_000) == latest + read_after_latest_us
    assert next_timed_read(now, 0, 100_000) == now + 100_000  # no message yet


@pytest.mark.parametrize(("timed_read_ms", "timed_watched"), [("100", False), ("0", True)])
def test_connections_stop_being_watched_at_their_first_message(timed_read_ms: str,
                                                                timed_watched: bool) -> None:
    """Sweeps take over an untimed connection at its first message (not once all are ready);
    a timed one is read every ``--timed-read-ms`` from then on, or stays watched with 0."""
    args = build_parser().parse_args(["--url", "http://127.0.0.1:9", "--transport", "stream",
                                      "--clients", "3", "--timed-every", "2",
                                      "--timed-read-ms", timed_read_ms])
    herd = Swarm(args)
    timed, untimed = make_conn("stream", 0, "h", herd.rec), make_conn("stream", 1, "h", herd.rec)
    untimed.timed = False
    timed.transport, untimed.transport = FakeSocket(), FakeSocket()  # type: ignore[assignment]
    for conn in (timed, untimed):
        herd.rec.record(conn, 1, 5, 6)
    assert not herd.rec.all_ready.is_set()  # the third connection has no message yet
    assert (timed.transport.watched, untimed.transport.watched) == (timed_watched, False)
    herd.rec.record(untimed, 2, 7, 8)
    herd.rec.record(timed, 2, 7, 8)
    assert herd.swept == [untimed.transport]
    assert herd.read_timed == ([] if timed_watched else [timed])


def test_a_timed_read_that_finds_nothing_watches_for_the_late_message() -> None:
    """A connection with no new message since the previous scheduled read is watched until
    its next bytes; one with a message since then — read now, or by that watch — is left
    (or put back) unwatched, so a watch does not renew itself."""
    args = build_parser().parse_args(["--url", "http://127.0.0.1:9", "--transport", "sse",
                                      "--clients", "2", "--timed-read-ms", "100"])
    herd = Swarm(args)
    on_time, late = make_conn("sse", 0, "h", herd.rec), make_conn("sse", 1, "h", herd.rec)
    for conn in (on_time, late):
        conn.transport = QueuedSocket(conn)  # type: ignore[assignment]
        herd.rec.record(conn, 1, 5, 6)
    herd.read_timed = [on_time, late]
    herd.read_timed_once()  # both got their first message since the start
    assert (on_time.transport.watched, late.transport.watched) == (False, False)
    on_time.transport.queued.append((2, 7))  # type: ignore[union-attr]
    herd.read_timed_once()
    assert (on_time.transport.watched, late.transport.watched) == (False, True)
    late.transport.queued.append((2, 7))  # type: ignore[union-attr]
    herd.read_timed_once()
    assert late.transport.watched is False and late.last_seq == 2
    late.transport.watched = True  # late again: its next message is read by the watch
    herd.rec.record(late, 3, 9, 10)
    late.transport.watched = False
    on_time.transport.queued.append((3, 9))  # type: ignore[union-attr]
    herd.read_timed_once()  # nothing left to read, but a message came since the last read
    assert (on_time.transport.watched, late.transport.watched) == (False, False)


async def test_a_socket_watched_once_reads_the_next_arrival_and_stops_watching() -> None:
    """``watch_once``: the next bytes are read as they arrive, and the socket is unwatched
    again after that read."""
    loop = asyncio.get_running_loop()
    read: asyncio.Future[bytes] = loop.create_future()

    class Collect:
        def received(self, buffer: memoryview, nbytes: int, arrival_us: int) -> None:
            read.set_result(bytes(buffer[:nbytes]))

        def connection_lost(self, exc: Exception | None) -> None:
            read.set_exception(AssertionError(exc))

    with socket.create_server(("127.0.0.1", 0)) as server:
        ours = await swarm_socket.connect(server.getsockname(), "127.0.0.1")
        peer, _ = server.accept()
    sock = swarm_socket.TimestampedSocket(ours, Collect(), memoryview(bytearray(64)))
    try:
        sock.stop_watching()
        sock.watch_once()
        assert sock.watched
        peer.send(b"late")
        assert await asyncio.wait_for(read, 5) == b"late" and not sock.watched
    finally:
        sock.close()
        peer.close()


async def test_swarm_refuses_untimed_pollers() -> None:
    """A poller must read at once to ask again: ``--timed-every`` is refused, no traceback."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.scale.swarm", "--url", "http://127.0.0.1:9",
        "--transport", "longpoll", "--clients", "4", "--timed-every", "2", "--window-s", "1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 1 and not out
    assert err.decode().startswith("error: --timed-every is for pushed transports")


@pytest.mark.timeout(30)
async def test_scale_case_gives_a_well_formed_scenario(tmp_path: Path) -> None:
    """A tiny scale case against the lab process yields a valid results.json scenario."""
    case = Case("lab", "websocket", 10, rate=20, duration_s=0.6, warmup_s=0.1)
    scenario, samples = await run_case(case, 1, tmp_path)
    assert scenario["status"] == "ok", scenario["error"]
    doc = {"schema": "right-now-lab/results", "version": 1, "created": "now", "suite": "scale",
           "seed": 1, "environment": {"python": "3", "aiohttp": "3", "os": "x", "cpu_count": 2,
                                      "machine": "x", "hostname_hash": "x"},
           "settings": {}, "scenarios": [scenario]}
    loaded = Results.from_dict(orjson.loads(orjson.dumps(doc)))  # the runner's model validates
    assert loaded.scenarios[0].machine_speed_ms == scenario["machine_speed_ms"]
    assert scenario["group"] == "scale" and scenario["transport"] == "websocket"
    assert scenario["params"]["server"] == "lab" and scenario["params"]["clients"] == 10
    server = scenario["server"]
    assert server["cpu_us_per_delivery"] > 0 and server["rss_per_connection_bytes"] is not None
    assert scenario["loss"]["gaps"] == 0 and scenario["loss"]["undelivered"] == 0
    assert scenario["delivered"] == scenario["published"] * 10 > 0
    assert scenario["latency_ms"]["count"] == len(samples) > 0
    assert set(scenario["receive_pressure"]) == set(procstats.RECEIVE_PRESSURE)
    assert len(scenario["machine_speed_ms"]) == len(os.sched_getaffinity(0))  # one per core
    # The verdict reads this scenario; which verdict depends on how busy the machine was.
    verdict, reason = holds(scenario)
    assert reason and verdict in (scenario["latency_ms"]["p95"] < P95_LIMIT_MS, None)


def test_machine_speed_reads_every_core_and_leaves_the_affinity_as_it_was() -> None:
    """One positive timing per core the process may use; a longer loop takes longer; the
    process may run on every core again afterwards."""
    allowed = os.sched_getaffinity(0)
    shorts = [cpuspeed.reading(loops=20_000) for _ in range(3)]
    long = cpuspeed.reading(loops=400_000)
    assert all(len(short) == len(allowed) and all(ms > 0 for ms in short) for short in shorts)
    assert len(long) == len(allowed)
    # A busy machine only lengthens a reading: the quickest short one stands for the loop.
    assert sum(long) > min(sum(short) for short in shorts)
    assert os.sched_getaffinity(0) == allowed


@pytest.mark.parametrize(("p95", "least", "flag", "verdict"), [
    (80.0, None, None, True),
    (120.0, None, None, False),
    (120.0, 90.0, f"loadgen behind: 5% {READ_TOGETHER}", None),
    (120.0, 105.0, f"loadgen behind: 5% {READ_TOGETHER}", False),
    (120.0, 90.0, "loadgen saturated (swarm 0 at 97% of a core)", False),
], ids=["held", "failed", "undetermined", "fails-at-the-least", "other-loadgen-flag"])
def test_holds_is_undetermined_only_when_late_reads_straddle_the_bar(
        p95: float, least: float | None, flag: str | None, verdict: bool | None) -> None:
    """A lossless step's verdict is ``None`` only when its sole load-generator flag is messages
    read late and the least p95 those allow is under the bar while the p95 read is not."""
    scenario = {"status": "ok", "latency_ms": {"p95": p95}, "loss": {"gaps": 0},
                "flags": [flag] if flag else [],
                **({"latency_lower_ms": {"p95": least, "p99": least}} if least else {})}
    assert holds(scenario)[0] is verdict


@pytest.mark.timeout(30)
async def test_scale_case_flags_receive_queues_short_of_room(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             ) -> None:
    """When the kernel's receive-pressure counters move during a case, the case says so."""
    before = dict.fromkeys(procstats.RECEIVE_PRESSURE, 7)
    readings = iter([before, {**before, "PruneCalled": 10}])
    monkeypatch.setattr(procstats, "receive_pressure", lambda: next(readings))
    scenario, _ = await run_case(Case("lab", "websocket", 4, rate=20, duration_s=0.3,
                                      warmup_s=0.1), 1, tmp_path)
    assert scenario["receive_pressure"] == {**dict.fromkeys(procstats.RECEIVE_PRESSURE, 0),
                                            "PruneCalled": 3}
    assert [f for f in scenario["flags"] if f.startswith("receive queues short of room")] == [
        ("receive queues short of room (machine-wide TCP counters: PruneCalled 3): a waiting "
        "socket may have slowed the server")]


@pytest.mark.timeout(30)
async def test_scale_case_flags_packets_the_kernel_dropped(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Packets dropped on a full input backlog during a case are counted and flagged as
    something outside the server that shaped its figures."""
    readings = iter([100, 1_342])
    monkeypatch.setattr(procstats, "backlog_drops", lambda: next(readings))
    monkeypatch.setattr(procstats, "backlog_limit", lambda: 1000)
    scenario, _ = await run_case(Case("lab", "websocket", 4, rate=20, duration_s=0.3,
                                      warmup_s=0.1), 1, tmp_path)
    assert scenario["backlog_drops"] == 1_242
    # Only the drop's own flag: how busy the machine was (outside load, a late swarm) is
    # flagged too when it happens, and is not this test's business.
    flagged = [f for f in scenario["flags"] if f.startswith("loopback dropped")]
    assert flagged == [("loopback dropped 1,242 packets (a CPU's input backlog, "
                        "net.core.netdev_max_backlog = 1000, overflowed; TCP sent them again "
                        "after a timeout): see the README's scale suite")]


def test_backlog_drops_reads_the_kernels_counter() -> None:
    """A count that never falls, from this machine's /proc (0 where there is none)."""
    first = procstats.backlog_drops()
    assert 0 <= first <= procstats.backlog_drops()


@pytest.mark.parametrize(("limit", "warned"), [(1000, True), (LOOPBACK_BACKLOG, False),
                                               (None, False)])
def test_suite_warns_of_a_short_input_backlog(limit: int | None, warned: bool) -> None:
    """The warning names the setting, its value and the command that fixes it."""
    warning = backlog_warning(limit)
    assert (warning is not None) is warned
    if warning:
        assert f"is {limit:,}" in warning
        assert f"sysctl -w net.core.netdev_max_backlog={LOOPBACK_BACKLOG}" in warning


@pytest.mark.parametrize("share", [0.0, 0.01, 0.045, 0.2])
@pytest.mark.parametrize("which", ["slowest", "random"])
def test_lower_bounds_hold_whatever_the_read_together_messages_were(share: float,
                                                                    which: str) -> None:
    """Lowering a share of the sample to 0 ms, the slowest (the worst case) or any, never takes
    p95 or p99 below :func:`lower_bounds`; with nothing read together the bound is the figure."""
    rng = random.Random(7)
    sample = [rng.randrange(5_000, 200_000) for _ in range(2_000)]
    bound = lower_bounds(sample, share)
    k = int(share * (len(sample) - 1))
    lowered = sorted(sample) if which == "slowest" else rng.sample(sample, len(sample))
    lowered = [0] * k + lowered[:len(lowered) - k] if which == "slowest" else \
        [0] * k + lowered[k:]
    ordered = sorted(v / 1000 for v in lowered)
    for name, q in (("p95", 95), ("p99", 99)):
        assert percentile(ordered, q) >= bound[name] - 5e-4  # the bound is rounded to the µs
        if share == 0.0:
            assert bound[name] == round(percentile(sorted(v / 1000 for v in sample), q), 3)
    if which == "slowest" and share:
        assert percentile(ordered, 95) - bound["p95"] < 1.0  # tight: the worst case reaches it


def swarm_report(batched: int) -> dict[str, Any]:
    """One swarm's report: 2 timed clients, 50 messages each in the window, ``batched`` of
    them read together with a later one; latencies 1..100 ms."""
    samples = [[c, seq, 1_000_000, 1_000_000, 1_000_000 + (seq + 50 * c) * 1_000]
               for c in range(2) for seq in range(1, 51)]
    return {"clients": 2, "ready_at_window": 2, "window_late_ms": 0.0, "failed": 0, "errors": {},
            "incomplete": 0, "delivered": 100, "batched": batched, "timed_clients": 2,
            "timed_delivered": 100, "min_seq": 1, "max_seq": 50, "gaps": 0, "duplicates": 0,
            "missed": 0, "window_requests": 0, "cpu_window_s": 0.1, "window_wall_s": 5.0,
            "samples": samples, "sampled": False, "ready_s": 1.0}


@pytest.mark.parametrize(("batched", "flagged"), [(0, False), (1, False), (5, True)])
def test_read_together_messages_bound_the_p95_and_flag_above_one_percent(batched: int,
                                                                         flagged: bool) -> None:
    """A case whose swarms read timed messages together records the least its p95 and p99
    could be, and names that bound in its flag once more than 1 % were."""
    params = {"transport": "websocket", "clients": 2, "rate": 10.0, "duration_s": 5.0}
    server = ServerReadings(cpu_s=0.5, processes=1, rss_idle_bytes=0, rss_ready_bytes=0,
                            rss_start_bytes=0, rss_end_bytes=0, peak_rss_bytes=0)
    machine = MachineFigures(cpu_count=2, busy_cores=0.5, other_cores=0.0)
    result, extras, _ = build("case", params, [swarm_report(batched)], server, machine, 5.0)
    assert result.latency_ms is not None and result.latency_ms.p95 == pytest.approx(95.05)
    late = [f for f in result.flags if f.startswith("loadgen behind")]
    if not batched:
        assert "latency_lower_ms" not in extras and not late
        return
    least_p95 = 95.05 - 0.99 * batched  # 1 + 0.99 × (95 − batched %): 1..100 ms interpolated
    assert extras["latency_lower_ms"] == {"p95": pytest.approx(least_p95),
                                          "p99": pytest.approx(99.01 - 0.99 * batched)}
    flag = (f"loadgen behind: {batched}% of timed messages read together with a later one "
            f"(their arrival time is an upper bound; p95 would be {least_p95:.1f} ms at the least)")
    assert late == ([flag] if flagged else [])


class FakeRun:
    """Stands in for :class:`benchmarks.scale.output.ScaleRun`: N up to ``limit`` holds."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.ran: list[int] = []

    async def run(self, case: Case, seed: int) -> dict[str, Any]:
        """A synthetic scenario that holds iff ``case.clients <= limit``."""
        self.ran.append(case.clients)
        return fake_scenario(case.clients, case.clients <= self.limit, case.repeat)


def fake_scenario(clients: int, ok: bool | None, repeat: int = 1, lost: int = 0,
                  ) -> dict[str, Any]:
    """A scenario dict with just what :func:`holds` reads (``ok`` None: undetermined, its
    p95 straddling the bar because the swarms read late)."""
    p95 = {True: 20.0, False: 300.0, None: 150.0}[ok]
    return {"name": f"n{clients}-r{repeat}", "status": "ok", "params": {"clients": clients},
            "latency_ms": {"p95": p95},
            "latency_lower_ms": {"p95": 60.0} if ok is None else None,
            "flags": [f"loadgen behind: 5% {READ_TOGETHER}"] if ok is None
            else [],
            "loss": {"gaps": lost, "missed": 0, "failed_clients": 0, "undelivered": 0,
                     "incomplete_clients": 0}}


@pytest.mark.parametrize(("limit", "ran", "found"), [
    (12_000, [10_000, 10_000, 15_000, 15_000], 10_000),
    (20_000, [10_000, 10_000, 15_000, 15_000], 15_000),
    (3_000, [2000, 2000], 2000),
    (1_000, [2000, 2000], None),
], ids=["breaks-at-15k", "holds-everything", "breaks-at-5k", "breaks-at-2k"])
async def test_breaking_point_steps_up_from_the_suite_result(limit: int, ran: list[int],
                                                            found: int | None) -> None:
    """The search starts from the 5k results (two side-by-side runs that agree), steps up
    until a failure, down if 5k failed; each new step runs until two tries agree."""
    run = FakeRun(limit)
    start = [fake_scenario(5000, 5000 <= limit, r) for r in (1, 2)]
    entry = await breaking_point(run, 1, "lab", "websocket",  # type: ignore[arg-type]
                                 start, (2000, 5000, 10_000, 15_000))
    assert run.ran == ran
    assert entry["clients"] == found
    assert all(len(step["scenarios"]) == len(step["tries"]) == 2 for step in entry["steps"])


@pytest.mark.parametrize(("tries", "settled", "verdict"), [
    ([True], False, True),
    ([True, False], False, None),
    ([True, False, True], True, True),
    ([False, True, False], True, False),
    ([None, True, None], True, None),
    ([True, None, False], True, None),
    ([True, True], True, True),
    ([True, "lost"], True, False),
    (["lost"], True, False),
], ids=["one-try", "split", "held-2-of-3", "failed-2-of-3", "undetermined-2-of-3",
        "all-differ", "agree", "loss-decides", "loss-at-once"])
def test_a_step_runs_until_two_tries_agree_and_loss_fails_it(
        tries: list[bool | None | str], settled: bool, verdict: bool | None) -> None:
    """Two alike tries settle a step (three at most, all different: undetermined); a try that
    lost a message fails it at once, whatever the others say."""
    scenarios = [fake_scenario(10_000, True, i, lost=1) if t == "lost"
                 else fake_scenario(10_000, t, i)  # type: ignore[arg-type]
                 for i, t in enumerate(tries, 1)]
    assert step_settled(scenarios) is settled
    assert step_verdict(scenarios)[0] is verdict


def test_plan_serves_each_transport_textbook_and_engineered() -> None:
    """Per transport, one round holds the textbook lab, the lab and the lab on two workers, the
    floor beside WebSocket and the constant handler beside short poll; nothing else."""
    servers: dict[str, list[str]] = {}
    for case in plan(repeats=1, soak_s=0):
        servers.setdefault(case.transport, []).append(case.server)
    assert servers == {
        "websocket": ["floor", "lab-plain", "lab", "lab-2workers"],
        "sse": ["lab-plain", "lab", "lab-2workers"],
        "stream": ["lab-plain", "lab", "lab-2workers"],
        "longpoll": ["lab-plain", "lab", "lab-2workers"],
        "poll": ["constant", "lab-plain", "lab", "lab-2workers"],
    }


@pytest.mark.parametrize("transport", ["websocket", "sse", "stream", "longpoll", "poll"])
def test_lab_plain_is_the_lab_with_the_same_flags_and_plain(transport: str) -> None:
    """``lab-plain`` runs ``python -m lab`` with exactly ``lab``'s settings but ``--plain``."""
    def settings(server: str) -> Any:
        argv = list(Case(server, transport, 5000).server_args(seed=1))
        return lab_parser().parse_args(argv[argv.index("lab") + 1:])

    plain, lab = settings("lab-plain"), settings("lab")
    assert plain.plain and not lab.plain
    assert vars(plain) == {**vars(lab), "plain": True}


def test_plan_repeats_the_comparison_in_rounds() -> None:
    """Each side-by-side case runs once per round, rounds one after the other; one soak."""
    once, twice = plan(repeats=1), plan(repeats=2)
    compare = [c for c in once if c.purpose == "compare"]
    assert [c.name for c in twice] == [
        *(c.name for c in compare), *(f"{c.name}-r2" for c in compare),
        *(c.name for c in once if c.purpose == "soak")]
    assert len({c.name for c in twice}) == len(twice)
    assert {c.params()["repeat"] for c in twice} == {1, 2}


def test_loss_counts_a_client_failing_after_the_window_opened_once() -> None:
    """Ready when the window opened, failed later: a failed client, not also a (negative) late
    one."""
    report = {"delivered": 90, "gaps": 0, "duplicates": 0, "missed": 0, "clients": 10,
              "ready_at_window": 9, "failed": 3, "incomplete": 3}
    lost = loss([report], published=10, clients=10)
    assert lost["failed_clients"] == 3 and lost["late_clients"] == 0
    assert lost["undelivered"] == 10


@pytest.mark.parametrize("case", [
    *(c for c in plan(repeats=1) if c.server.startswith("lab")),
    *(Case(server, t, n) for server in ("lab", "lab-2workers") for t in ("websocket", "sse")
      for n in BREAKING_STEPS),
], ids=lambda c: c.name)
def test_no_ping_outlives_a_swarm_that_holds_connections(case: Case) -> None:
    """Where a swarm reads some connections only every HOLD_S, the lab sends no WebSocket ping
    within the case (aiohttp would close a peer silent for half the interval); where every
    connection is timed, the lab keeps its default heartbeat."""
    argv = list(case.server_args(seed=1))
    settings = lab_parser().parse_args(argv[argv.index("lab") + 1:])
    life_s = case.ready_timeout_s + case.warmup_s + case.duration_s + case.drain_s
    if case.timed_every > 1:
        assert settings.heartbeat / 2 > life_s + HOLD_S
    else:
        assert settings.heartbeat == Settings().heartbeat


PAIRED_SOURCES = {label: Source(label, Path(f"/tmp/{label}"), f"{label}-commit")
                  for label in ("base", "head")}


def test_paired_runs_alternate_base_and_head_abba() -> None:
    """Each transport's two versions run back to back; the first of a pair alternates."""
    cases = schedule(PAIRED_SOURCES, ["websocket", "sse"], pairs=3, clients=200, duration_s=2)
    assert [(c.repeat, c.transport, c.source.label) for c in cases if c.source] == [
        (1, "websocket", "base"), (1, "websocket", "head"),
        (1, "sse", "base"), (1, "sse", "head"),
        (2, "websocket", "head"), (2, "websocket", "base"),
        (2, "sse", "head"), (2, "sse", "base"),
        (3, "websocket", "base"), (3, "websocket", "head"),
        (3, "sse", "base"), (3, "sse", "head"),
    ]
    assert len({c.name for c in cases}) == len(cases)
    assert {c.server for c in cases} == {"lab"}
    assert cases[4].name == "scale-websocket-lab-200-head-r2"
    assert cases[4].params()["source"] == {"label": "head", "commit": "head-commit"}
    assert "source" not in Case("lab", "websocket", 200).params()


@pytest.mark.timeout(20)
async def test_a_case_with_a_source_runs_the_lab_from_that_tree(tmp_path: Path) -> None:
    """A server child started with a tree runs there and imports from there first."""
    probe, tree = tmp_path / "probe.py", tmp_path / "tree"
    tree.mkdir()
    probe.write_text("import os; print(os.getcwd()); "
                     "print(os.environ['PYTHONPATH'].split(os.pathsep)[0])\n")
    child = Child("probe", tmp_path / "probe.log")
    await child.start(str(probe), tree=tree)
    try:
        cwd, first_on_path = await child.read_line(10), await child.read_line(10)
    finally:
        await child.stop()
    assert cwd.strip() == first_on_path.strip() == str(tree).encode()


def paired_scenario(transport: str, label: str, pair: int, cpu: float | None,
                    p99: float | None, flags: tuple[str, ...] = ()) -> dict[str, Any]:
    """A made-up paired scenario with only what the paired table reads."""
    case = Case("lab", transport, 200, purpose="paired", repeat=pair,
                source=PAIRED_SOURCES[label])
    ok = cpu is not None
    return {"name": case.name, "status": "ok" if ok else "error", "params": case.params(),
            "server": {"cpu_us_per_delivery": cpu} if ok else None,
            "latency_ms": {"p99": p99} if ok else None, "flags": list(flags)}


def test_paired_table_takes_medians_of_the_pairs_and_head_over_base() -> None:
    """Per pair base, head and head/base; the median row's head/base divides the medians."""
    scenarios = [
        paired_scenario("websocket", "base", 1, 10.0, 4.0),
        paired_scenario("websocket", "head", 1, 9.0, 5.0, ("outside load: other processes",)),
        paired_scenario("websocket", "head", 2, 8.0, 3.0),
        paired_scenario("websocket", "base", 2, 12.0, 6.0),
        paired_scenario("websocket", "base", 3, 11.0, 2.0),
        paired_scenario("websocket", "head", 3, None, None),
    ]
    runs = pairs(scenarios)["websocket"]
    assert [(p.number, p.first) for p in runs] == [(1, "base"), (2, "head"), (3, "base")]
    text = paired_markdown(scenarios)
    assert "base `base-commit`, head `head-commit`" in text
    assert "### websocket (measured)" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "pair" not in line]
    assert rows == [
        "| 1 | base | 10.00 | 9.00 | 90.0 % | 4.0 | 5.0 | 125.0 % |",
        "| 2 | head | 12.00 | 8.00 | 66.7 % | 6.0 | 3.0 | 50.0 % |",
        "| 3 | base | 11.00 | — | — | 2.0 | — | — |",
        # medians: base 11 µs, 4 ms; head (9, 8) → 8.5 µs, (5, 3) → 4 ms
        "| median of 3 |  | 11.00 | 8.50 | 77.3 % | 4.0 | 4.0 | 100.0 % |",
    ]
    assert "`scale-websocket-lab-200-head-r3`" in text
    assert "- ⚑ `scale-websocket-lab-200-head`: outside load: other processes" in text
    assert ratio(5.0, 0.0) is None and mid([None, None]) is None
