"""Where prices come from: a seeded random walk or a replayed CSV.

A feed is a plain iterator of :class:`Tick` — "after ``delay_s`` seconds,
``symbol`` trades at ``price``" — and knows nothing of the hub or of
transports. :func:`run_feed` is the one small loop that turns ticks into
published messages on a schedule.

The random walk is geometric Brownian motion, so the cost of a stale price has
a closed form for the report to check against. Ticks arrive as a Poisson
process by default (the price changes "at unknown moments"); ``steady`` spaces
them evenly, which benchmarks use for clean fan-out timing.
"""

from __future__ import annotations

import asyncio
import csv
import inspect
import math
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3600
"""Convention for annualised volatility: 252 trading days of 6.5 hours."""


@dataclass(frozen=True, slots=True)
class Tick:
    """One price change, ``delay_s`` after the previous one."""

    delay_s: float
    symbol: str
    price: float


class FeedError(ValueError):
    """A feed could not be built from its settings or its file."""


def gbm_ticks(
    symbols: tuple[str, ...],
    rate: float,
    seed: int,
    volatility: float,
    drift: float = 0.0,
    start_price: float = 100.0,
    steady: bool = False,
    last_prices: Mapping[str, float] | None = None,
) -> Iterator[Tick]:
    """Endless seeded GBM ticks over ``symbols``, ``rate`` changes per second in total.

    Each symbol's price is an exact GBM sample at its own tick times: the step
    uses the time since that symbol last changed, with ``volatility`` and
    ``drift`` annualised over :data:`TRADING_SECONDS_PER_YEAR`. A walk that
    takes over from another feed starts from its ``last_prices`` (symbols not
    in it start at ``start_price``).
    """
    rng = random.Random(seed)
    sigma = volatility / math.sqrt(TRADING_SECONDS_PER_YEAR)
    mu = drift / TRADING_SECONDS_PER_YEAR
    prices = {symbol: (last_prices or {}).get(symbol, start_price) for symbol in symbols}
    last_change = dict.fromkeys(symbols, 0.0)
    clock = 0.0
    while True:
        delay = 1.0 / rate if steady else rng.expovariate(rate)
        clock += delay
        symbol = rng.choice(symbols)
        dt = clock - last_change[symbol]
        last_change[symbol] = clock
        shock = rng.gauss(0.0, 1.0)
        prices[symbol] *= math.exp((mu - sigma * sigma / 2) * dt + sigma * math.sqrt(dt) * shock)
        yield Tick(delay, symbol, round(prices[symbol], 4))


def _parse_timestamp(text: str) -> float:
    """Seconds from a number (epoch seconds) or an ISO 8601 date-time."""
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text).timestamp()


def load_replay(path: Path) -> list[tuple[float, str, float]]:
    """Read and validate a replay CSV (columns ``timestamp,symbol,price``).

    Every row is checked before anything is returned, so a server never starts
    half-configured; errors name the file and the line.
    """
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise FeedError(f"{path}: cannot open replay file: {exc.strerror}") from exc
    rows: list[tuple[float, str, float]] = []
    with handle:
        reader = csv.DictReader(handle)
        missing = {"timestamp", "symbol", "price"} - set(reader.fieldnames or ())
        if missing:
            raise FeedError(f"{path}:1: header must have timestamp,symbol,price (missing {', '.join(sorted(missing))})")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            try:
                stamp = _parse_timestamp((row["timestamp"] or "").strip())
                price = float(row["price"] or "")
            except (ValueError, TypeError) as exc:
                raise FeedError(f"{where}: bad timestamp or price ({exc})") from exc
            symbol = (row["symbol"] or "").strip()
            if not symbol:
                raise FeedError(f"{where}: empty symbol")
            if not math.isfinite(price) or price <= 0:
                raise FeedError(f"{where}: price must be a positive number, got {row['price']!r}")
            if rows and stamp < rows[-1][0]:
                raise FeedError(f"{where}: timestamp goes backwards")
            rows.append((stamp, symbol, price))
    if not rows:
        raise FeedError(f"{path}: no rows to replay")
    return rows


def replay_ticks(rows: list[tuple[float, str, float]], speed: float = 1.0) -> Iterator[Tick]:
    """Replay ``rows`` at their recorded pace divided by ``speed``, then start over."""
    while True:
        previous = rows[0][0]
        for stamp, symbol, price in rows:
            yield Tick((stamp - previous) / speed, symbol, price)
            previous = stamp


async def run_feed(
    ticks: Iterator[Tick],
    publish: Callable[[dict[str, object]], object],
    clock: Callable[[], float] | None = None,
) -> None:
    """Publish ticks on their schedule until cancelled.

    The schedule is absolute (each tick is due ``delay_s`` after the previous
    one was due), so slow publishing does not make the feed drift; a feed that
    falls behind publishes its overdue ticks at once. A ``publish`` that
    returns an awaitable (a broker's round trip) is awaited before the next
    tick, so ticks are sequenced in order.
    """
    loop = asyncio.get_running_loop()
    now = clock or loop.time
    due = now()
    for tick in ticks:
        due += tick.delay_s
        wait = due - now()
        if wait > 0:
            await asyncio.sleep(wait)
        published = publish({"symbol": tick.symbol, "price": tick.price})
        if inspect.isawaitable(published):
            await published
