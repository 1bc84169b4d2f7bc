"""When to try again: the reconnect schedule as pure functions, and the ``Retry-After`` header.

Why jitter: when a server restarts, every client of a class loses its connection in the same
instant; with a fixed schedule they would all come back in the same instants too, each retry a
thundering herd. The schedule is AWS's "full jitter" (Marc Brooker, "Exponential Backoff And
Jitter", AWS Architecture Blog, 2015): the n-th retry waits a uniform draw in
``[0, min(cap, first * 2**n))``. Of the schemes compared there it spreads a crowd's retries the
most evenly, so the server sees the fewest attempts per second, and the whole crowd is back
soonest.

A server that is overloaded may say when to come back: ``Retry-After`` on a ``429`` or ``503``
(RFC 9110 §10.2.3, either a number of seconds or an HTTP date). That time is a floor, not a
meeting point: every client told "1" would otherwise return together, so the jittered draw is
added on top of it (:func:`delay_after`).

The schedule is data a test can read (:func:`ceiling`, :func:`draw`, :func:`schedule` are pure;
the random source is passed in). :class:`Backoff` is the stateful wrapper the clients use, and
the benchmarks' lean clients use the same one, with ``jitter=False`` only to show what jitter
buys. Nothing here sleeps or does I/O.
"""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime

FIRST_S = 0.05
"""The first retry's ceiling, seconds."""
CAP_S = 1.0
"""No retry waits longer than this, seconds."""
MAX_RETRY_AFTER_S = 300.0
"""A ``Retry-After`` beyond this is taken as this: a client keeps trying within minutes."""


def ceiling(attempt: int, first: float = FIRST_S, cap: float = CAP_S) -> float:
    """The longest wait before retry number ``attempt`` (0 for the first): ``first`` doubling,
    at most ``cap``."""
    if attempt < 0:
        raise ValueError("attempt must be 0 or more")
    return min(cap, first * 2 ** min(attempt, 64))


def draw(attempt: int, unit: float, *, first: float = FIRST_S, cap: float = CAP_S,
         jitter: bool = True) -> float:
    """The wait before retry ``attempt``, given ``unit``, a uniform draw in [0, 1): full jitter
    (``unit * ceiling``), or the ceiling itself with ``jitter=False``."""
    top = ceiling(attempt, first, cap)
    return unit * top if jitter else top


def schedule(attempts: int, rng: random.Random, *, first: float = FIRST_S, cap: float = CAP_S,
             jitter: bool = True) -> list[float]:
    """The waits before ``attempts`` retries in a row, drawn from ``rng``."""
    return [draw(n, rng.random(), first=first, cap=cap, jitter=jitter) for n in range(attempts)]


def delay_after(drawn: float, retry_after: float | None) -> float:
    """The wait when the server may have asked for one: its ``Retry-After`` plus the draw."""
    return drawn if retry_after is None else retry_after + drawn


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or an HTTP date), or None.

    A value that is neither is ignored (None); a date in the past is 0; anything is capped at
    :data:`MAX_RETRY_AFTER_S`. ``now`` (Unix seconds) is for tests; the default is the clock.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(int(text)), MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    wait = when.timestamp() - (time.time() if now is None else now)
    return min(max(0.0, wait), MAX_RETRY_AFTER_S)


class Backoff:
    """Reconnect waits on the full-jitter schedule; ``reset`` after a success.

    ``next`` gives the wait before the next attempt (the server's ``Retry-After``, when given,
    is added as a floor); ``attempt`` counts the retries since the last reset.
    """

    def __init__(self, first: float = FIRST_S, cap: float = CAP_S,
                 rng: random.Random | None = None, *, jitter: bool = True) -> None:
        self.first = first
        self.cap = cap
        self.jitter = jitter
        self.attempt = 0
        self._rng = rng or random.Random()

    def next(self, retry_after: float | None = None) -> float:
        """The wait before the next attempt."""
        drawn = draw(self.attempt, self._rng.random(), first=self.first, cap=self.cap,
                     jitter=self.jitter)
        self.attempt += 1
        return delay_after(drawn, retry_after)

    def reset(self) -> None:
        """Start the schedule again from ``first``."""
        self.attempt = 0
