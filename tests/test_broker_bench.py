"""The broker group's figures and command line, without running a case."""

from __future__ import annotations

import pytest

from benchmarks.broker.__main__ import main
from benchmarks.broker.run import BrokerCase, figures
from benchmarks.report.broker_chapter import plan


def report(seqs: range, delivered: int, samples: list[tuple[int, int, int, int, int]]) -> dict:
    """A swarm report with the fields the figures read."""
    return {"min_seq": seqs.start, "max_seq": seqs.stop - 1, "delivered": delivered,
            "samples": samples, "gaps": 0, "duplicates": 0, "missed": 0, "failed": 0,
            "clients": 2, "incomplete": 0}


def test_figures_split_cpu_per_node_and_count_redis_per_message() -> None:
    """CPU per delivery per node and overall, Redis CPU per published message, latency."""
    case = BrokerCase("two-nodes", 4)
    assert case.shares() == [2, 2]
    samples = [(0, 1, 1_000, 0, 3_000), (1, 2, 2_000, 0, 3_000)]
    out = figures(case, [0.002, 0.004], 0.001,
                  [[report(range(1, 11), 20, samples)], [report(range(1, 11), 20, [])]])
    assert out["published"] == 10 and out["delivered"] == 40
    assert out["cpu_us_per_delivery"] == {"nodes": [100.0, 200.0], "all": 150.0}
    assert out["redis_cpu_us_per_message"] == 100.0
    assert out["latency_ms"] == {"p50": 1.0, "p99": 2.0, "samples": 2}
    assert out["loss"]["undelivered"] == 0


@pytest.mark.parametrize("argv", [["--setups", "three-nodes"], ["--clients", "1"],
                                  ["--duration", "0"]])
def test_bad_usage_is_one_line_and_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str],
                                          ) -> None:
    """A setup that does not exist, too few clients or no window: one line, exit 2."""
    assert main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_the_capacity_model_names_the_limit_that_comes_first() -> None:
    """Nodes by CPU, bytes and memory; the largest need is the limit, Redis load follows nodes."""
    cpu_bound = plan("websocket", cpu_us=7.0, rss_bytes=15_000, overhead_us=0.0,
                     subscribers=1_000_000, rate=10.0)
    assert (cpu_bound["by_cpu"], cpu_bound["limit"]) == (100, "node CPU")
    assert cpu_bound["redis_ops_s"] == 10 * 101 + 100 * 4
    memory_bound = plan("websocket", cpu_us=0.01, rss_bytes=15_000, overhead_us=0.0,
                        subscribers=1_000_000, rate=1.0)
    assert (memory_bound["by_memory"], memory_bound["limit"]) == (8, "node memory")
