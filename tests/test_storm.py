"""The storm's and the soak's figures, their crowd's bookkeeping, and both commands end to end."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from benchmarks.report.build import build
from benchmarks.report.storm_chapter import section
from benchmarks.results.storm import load_soak_samples, save_storm
from benchmarks.storm.crowd import Client
from benchmarks.storm.figures import (
    RestartLosses,
    attempts_per_bin,
    back_seconds,
    restart_losses,
    slope_per_minute,
)
from benchmarks.storm.soak import SoakPlan
from benchmarks.storm.storm import StormPlan, figures_of, sources
from clients.backoff import Backoff

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "results_small"


def test_attempts_are_binned_from_the_origin() -> None:
    """Bin i holds [start + i·w, start + (i+1)·w); times outside the span are left out."""
    origin = 10_000_000
    times = [origin - 1_000_001, origin - 1_000_000, origin - 1, origin, origin + 99_999,
             origin + 100_000, origin + 1_999_999, origin + 2_000_000]
    bins = attempts_per_bin(times, origin, 0.1, (-1.0, 2.0))
    assert len(bins) == 30
    assert bins[0] == 1 and bins[9] == 1 and bins[10] == 2 and bins[11] == 1 and bins[29] == 1
    assert sum(bins) == 6
    with pytest.raises(ValueError):
        attempts_per_bin(times, origin, 0.0, (0.0, 1.0))


def test_back_seconds_waits_for_the_last_client() -> None:
    """The last client's first open after the kill; a client never back leaves it unknown."""
    opens = [[100, 2_000_100], [150, 1_500_000, 3_000_000], [120, 2_500_100]]
    assert back_seconds(opens, 1_000_000) == (1.5, 0)
    assert back_seconds([*opens, [120]], 1_000_000) == (None, 1)


def test_restart_losses_tell_seen_from_unseen() -> None:
    """A first seq at or below the resume point is a restart the client saw; every first seq
    counts its predecessors of the new sequence as unseen."""
    assert restart_losses([(50, 1), (50, 4), (3, 9), (None, 2)]) == RestartLosses(2, 2, 12)


def test_slope_per_minute_after_the_warm_up() -> None:
    """A line rising 2 per second is 120 per minute; points before ``after_s`` are ignored;
    too few points or no spread in time give None."""
    series = [(0.0, 500.0), (5.0, 0.0)] + [(float(t), 2.0 * t) for t in range(10, 20)]
    assert slope_per_minute(series, after_s=10) == pytest.approx(120.0)
    assert slope_per_minute(series[:4], after_s=10) is None
    assert slope_per_minute([(1.0, 1.0)] * 5) is None


def test_crowd_client_sees_a_new_sequence_without_duplicates() -> None:
    """The first seq after a reconnect is recorded with the resume point (a new sequence here),
    not counted as a duplicate or gap; from there on seq order is checked again."""
    client = Client(0, Backoff())
    client.opened()
    for seq in (7, 8, 9):
        client.seen(seq)
    client.opened()
    for seq in (3, 4):
        client.seen(seq)
    assert (client.gaps, client.duplicates, client.messages) == (0, 0, 5)
    assert [r[:2] for r in client.resumes] == [(9, 3)]
    client.seen(6)
    assert client.gaps == 1


def test_plans_split_their_clients_over_processes() -> None:
    """Crowds and churn processes share the clients evenly, and add up to the plan; each crowd
    has source addresses of its own, one per 250 clients."""
    crowds = StormPlan(websocket=7000, sse=1000).crowds()
    assert crowds == [("websocket", 2334), ("websocket", 2333), ("websocket", 2333),
                      ("sse", 1000)]
    addresses = [sources(i, n).split(",") for i, (_, n) in enumerate(crowds)]
    assert [len(a) for a in addresses] == [10, 10, 10, 4]
    assert len({a for crowd in addresses for a in crowd}) == 34
    parts = SoakPlan(clients=1000, stayers=0.1, posters=20).processes()
    assert [sum(p[i] for p in parts) for i in range(3)] == [1000, 100, 20]


def test_restart_figures_from_crowd_reports(tmp_path: Path) -> None:
    """figures_of sums the crowds, bins the attempts from the kill, waits for the last client,
    counts the resumes after the kill as the restart's and a jump at a resume before it as a
    gap; the main report shows them under its faults."""
    kill = 50_000_000
    reports = [
        {"attempts_us": [kill - 2_000_000, kill + 10_000, kill + 60_000],
         "opens_us": [[kill - 2_000_000, kill + 60_000]],
         "resumes": [[3, 5, kill - 1_000_000], [40, 2, kill + 70_000]],
         "gaps": 0, "duplicates": 0, "missed": 0, "errors": {"IncompleteReadError": 1}},
        {"attempts_us": [kill - 2_000_000, kill + 20_000, kill + 500_000],
         "opens_us": [[kill - 2_000_000, kill + 500_000]],
         "resumes": [[40, 41, kill + 510_000]],
         "gaps": 0, "duplicates": 0, "missed": 0, "errors": {"ConnectionRefusedError": 1}},
    ]
    run = figures_of(StormPlan(websocket=1, sse=1), True, reports, kill, kill + 50_000)
    assert (run["back_s"], run["back_after_up_s"], run["not_back"]) == (0.5, 0.45, 0)
    assert run["attempts_after_kill"] == 4 and sum(run["attempts_per_bin"]) == 4
    assert run["restart"] == {"detected": 1, "undetected": 1, "unseen": 41}
    assert run["gaps"] == 1  # seq 4 skipped by a reconnect before the kill
    assert run["errors"] == {"IncompleteReadError": 1, "ConnectionRefusedError": 1}
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)
    save_storm(run_dir, [run])
    report = build(run_dir).with_name("report.md").read_text()
    faults = report[report.index("Bursts and faults"):]
    assert "Reconnect storm (measured)" in faults and (run_dir / "storm-attempts.png").is_file()


def run_command(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m benchmarks.storm args…`` into ``tmp_path``, bounded in time."""
    return subprocess.run([sys.executable, "-m", "benchmarks.storm", *args, "--out",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=100,
                          check=False)


@pytest.mark.timeout(120)
def test_storm_command_end_to_end(tmp_path: Path) -> None:
    """A small storm: every client comes back after the restart, no gaps inside a sequence,
    the attempts are saved beside the figures, and the report shows both."""
    done = run_command(tmp_path, "storm", "--websocket", "20", "--sse", "5", "--modes",
                       "jitter", "--settle", "0.5")
    assert done.returncode == 0, done.stderr
    storm = orjson.loads((tmp_path / "storm.json").read_bytes())
    [run] = storm["runs"]
    assert storm["measured"] and run["jitter"] is True
    assert run["not_back"] == 0 and run["gaps"] == 0
    assert run["restart"]["detected"] + run["restart"]["undetected"] == 25
    assert sum(run["attempts_per_bin"]) >= 25
    rows = (tmp_path / "storm-attempts.csv").read_text().splitlines()
    assert rows[0] == "jitter,t_s,attempts,attempts_per_s"
    assert len(rows) == 1 + len(run["attempts_per_bin"])
    assert "Reconnect storm (measured)" in section(tmp_path)
    assert (tmp_path / "storm-attempts.png").is_file() and (tmp_path / "report.html").is_file()


@pytest.mark.timeout(120)
def test_soak_command_end_to_end(tmp_path: Path) -> None:
    """A few seconds of churn with a chat poster: the stayers lose nothing, sessions churn,
    posts are answered, and the samples are saved."""
    done = run_command(tmp_path, "soak", "--clients", "10", "--minutes", "0.1", "--warmup",
                       "2", "--stay", "1", "--posters", "1", "--sample", "1", "--stayers", "0.5")
    assert done.returncode == 0, done.stderr
    soak = orjson.loads((tmp_path / "soak.json").read_bytes())
    assert soak["stayers"] == 5 and soak["stayers_gaps"] == 0 and soak["stayers_messages"] > 0
    assert soak["sessions"] > 10
    assert soak["posts"].get("201", 0) >= 1
    samples = load_soak_samples(tmp_path)
    assert len(samples) == soak["samples"] >= 3 and all(fds > 0 for _, _, fds, _ in samples)
    assert "Soak with churn (measured)" in section(tmp_path)


@pytest.mark.parametrize("args", [
    ["storm", "--modes", "sometimes"], ["storm", "--websocket", "0", "--sse", "0"],
    ["soak", "--clients", "0"], ["soak", "--stayers", "2"],
], ids=["bad_mode", "no_clients", "soak_no_clients", "stayers_over_one"])
def test_bad_arguments_get_one_line(tmp_path: Path, args: list[str]) -> None:
    """Bad usage: exit 2 and a one-line error, no traceback."""
    done = run_command(tmp_path, *args)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
