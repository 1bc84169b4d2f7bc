"""The price feed: seeded GBM, Poisson or steady pacing, CSV replay and its errors."""

from __future__ import annotations

import asyncio
import itertools
import math
from pathlib import Path

import pytest

from lab.feed import FeedError, Tick, gbm_ticks, load_replay, replay_ticks, run_feed


def take(ticks, n: int) -> list[Tick]:
    """The first ``n`` ticks."""
    return list(itertools.islice(ticks, n))


def test_gbm_is_reproducible_from_its_seed() -> None:
    """The same seed gives the same walk; another seed a different one."""
    args = (("A", "B", "C"), 10.0)
    assert take(gbm_ticks(*args, seed=7, volatility=0.2), 50) == take(gbm_ticks(*args, seed=7, volatility=0.2), 50)
    assert take(gbm_ticks(*args, seed=7, volatility=0.2), 50) != take(gbm_ticks(*args, seed=8, volatility=0.2), 50)


def test_gbm_rate_and_symbols() -> None:
    """Poisson arrivals average the configured rate over all configured symbols."""
    ticks = take(gbm_ticks(("A", "B", "C"), 10.0, seed=1, volatility=0.2), 5000)
    mean_delay = sum(t.delay_s for t in ticks) / len(ticks)
    assert mean_delay == pytest.approx(0.1, rel=0.05)
    assert {t.symbol for t in ticks} == {"A", "B", "C"}
    steady = take(gbm_ticks(("A",), 4.0, seed=1, volatility=0.2, steady=True), 10)
    assert {t.delay_s for t in steady} == {0.25}


def test_gbm_log_returns_match_volatility() -> None:
    """Log-returns scale with sqrt(time) at the configured volatility (the report relies on it)."""
    sigma_year = 2.0
    ticks = take(gbm_ticks(("A",), 1.0, seed=3, volatility=sigma_year, drift=0.0, steady=True), 20_000)
    prices = [100.0] + [t.price for t in ticks]
    returns = [math.log(b / a) for a, b in itertools.pairwise(prices)]
    sigma_second = sigma_year / math.sqrt(252 * 6.5 * 3600)
    measured = math.sqrt(sum(r * r for r in returns) / len(returns))
    assert measured == pytest.approx(sigma_second, rel=0.05)


def write_csv(tmp_path: Path, text: str) -> Path:
    """A replay file with ``text``."""
    path = tmp_path / "prices.csv"
    path.write_text(text)
    return path


def test_replay_keeps_recorded_pace_times_speed(tmp_path: Path) -> None:
    """Replay delays are the recorded gaps divided by the speed factor, then it starts over."""
    rows = load_replay(write_csv(tmp_path, "timestamp,symbol,price\n10,A,1.5\n12,B,2.5\n13,A,1.6\n"))
    ticks = take(replay_ticks(rows, speed=2.0), 4)
    assert [(t.delay_s, t.symbol, t.price) for t in ticks] == [
        (0.0, "A", 1.5), (1.0, "B", 2.5), (0.5, "A", 1.6), (0.0, "A", 1.5),
    ]


def test_replay_accepts_iso_timestamps(tmp_path: Path) -> None:
    """ISO 8601 timestamps work as well as epoch seconds."""
    text = "timestamp,symbol,price\n2024-01-02T10:00:00,A,1\n2024-01-02T10:00:03,A,2\n"
    assert [t.delay_s for t in take(replay_ticks(load_replay(write_csv(tmp_path, text))), 2)] == [0, 3]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param("time,symbol,price\n1,A,1\n", ":1:", id="bad-header"),
        pytest.param("timestamp,symbol,price\n1,A,1\nsoon,A,1\n", ":3:", id="bad-timestamp"),
        pytest.param("timestamp,symbol,price\n1,A,1\n2,A,-4\n", ":3:", id="negative-price"),
        pytest.param("timestamp,symbol,price\n1,A,1\n2,,4\n", ":3:", id="empty-symbol"),
        pytest.param("timestamp,symbol,price\n5,A,1\n2,A,4\n", ":3:", id="backwards"),
        pytest.param("timestamp,symbol,price\n", "no rows", id="empty"),
    ],
)
def test_bad_replay_names_the_line(tmp_path: Path, text: str, where: str) -> None:
    """Every replay error names the file and the offending line."""
    with pytest.raises(FeedError, match=where):
        load_replay(write_csv(tmp_path, text))


async def test_run_feed_publishes_on_schedule() -> None:
    """run_feed publishes each tick's price in order."""
    published: list[dict] = []
    ticks = iter([Tick(0.0, "A", 1.0), Tick(0.001, "B", 2.0), Tick(0.001, "A", 3.0)])
    await asyncio.wait_for(run_feed(ticks, published.append), 2)
    assert published == [
        {"symbol": "A", "price": 1.0}, {"symbol": "B", "price": 2.0}, {"symbol": "A", "price": 3.0},
    ]
