"""Rate limits as token buckets: pure arithmetic on a clock the caller passes in.

A bucket holds up to ``burst`` tokens and gains ``per_second`` of them every
second; each action takes one. A burst of ``burst`` actions passes at once,
then one every ``1 / per_second`` seconds. When the bucket is empty the
action is refused with the seconds until the next token — what ``429`` puts
in ``Retry-After``.

:class:`Buckets` keeps one bucket per key (an identity, a client address). A
bucket that has refilled completely holds no information, so such buckets
are dropped whenever the table grows past ``PRUNE_AT`` keys: the table stays
as small as the set of recently active keys.

Nothing here touches a socket or reads a clock, so every case is testable
with made-up times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PRUNE_AT = 1024
"""Keys a :class:`Buckets` table holds before it drops its full (idle) buckets."""


@dataclass(frozen=True, slots=True)
class Rate:
    """``per_second`` actions a second on average, with bursts of up to ``burst``."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.per_second > 0 and math.isfinite(self.per_second)):
            raise ValueError("a rate must be a positive number per second")
        if self.burst < 1:
            raise ValueError("a burst must be at least 1")

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"RATE"`` or ``"RATE/BURST"``, e.g. ``"1/5"`` (the burst defaults to the rate,
        rounded up); ValueError names what is wrong."""
        rate_text, _, burst_text = text.partition("/")
        try:
            per_second = float(rate_text)
            burst = int(burst_text) if burst_text else max(1, math.ceil(per_second))
        except ValueError:
            raise ValueError(f"rate {text!r} is not RATE or RATE/BURST (e.g. 1/5)") from None
        return cls(per_second, burst)

    def __str__(self) -> str:
        return f"{self.per_second:g}/{self.burst}"


class TokenBucket:
    """One bucket: ``tokens`` left as of ``stamp`` (seconds on the caller's clock)."""

    __slots__ = ("rate", "stamp", "tokens")

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self.tokens = float(rate.burst)
        self.stamp = now

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last look, up to the burst."""
        if now > self.stamp:
            self.tokens = min(self.rate.burst, self.tokens + (now - self.stamp) * self.rate.per_second)
            self.stamp = now

    def wait(self, now: float) -> float:
        """Seconds until one token is there (0.0: one is there now). Takes nothing."""
        self.refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate.per_second

    def take(self, now: float) -> float:
        """Take a token if there is one: 0.0; else take nothing and return the seconds to wait."""
        wait = self.wait(now)
        if wait == 0.0:
            self.tokens -= 1
        return wait

    def full(self, now: float) -> bool:
        """Whether the bucket has refilled completely (forgetting it changes nothing)."""
        self.refill(now)
        return self.tokens >= self.rate.burst


class Buckets:
    """One :class:`TokenBucket` per key, all at the same rate."""

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self._buckets: dict[str, TokenBucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def bucket(self, key: str, now: float) -> TokenBucket:
        """The bucket of ``key`` (a full one for a key not seen lately)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= PRUNE_AT:
                self.prune(now)
            bucket = self._buckets[key] = TokenBucket(self.rate, now)
        return bucket

    def forget(self, key: str) -> None:
        """Drop the bucket of ``key`` (an identity that left)."""
        self._buckets.pop(key, None)

    def prune(self, now: float) -> None:
        """Drop every full bucket."""
        self._buckets = {k: b for k, b in self._buckets.items() if not b.full(now)}


def take_all(buckets: list[TokenBucket], now: float) -> float:
    """Take one token from each of ``buckets`` if every one has one: 0.0. Otherwise take none
    and return the longest wait (an action limited two ways waits for both)."""
    wait = max(bucket.wait(now) for bucket in buckets)
    if wait == 0.0:
        for bucket in buckets:
            bucket.take(now)
    return wait


def retry_after(wait: float) -> int:
    """A wait as ``Retry-After`` wants it: whole seconds, at least 1."""
    return max(1, math.ceil(wait))
