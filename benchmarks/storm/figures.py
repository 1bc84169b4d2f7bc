"""The storm's and the soak's figures, as pure functions of what their processes recorded.

A reconnect storm records every connection attempt's wall-clock time, every successful
connection's, and for each reconnect the resume point and the first seq after it; a soak records
the server's memory and open descriptors on a clock. From those: attempts per time bin
(:func:`attempts_per_bin`), the seconds until every client is back (:func:`back_seconds`),
what the restart cost in messages (:func:`restart_losses`), and a least-squares slope after
a warm-up (:func:`slope_per_minute`). Nothing here reads a clock, a file or a socket.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def attempts_per_bin(times_us: Iterable[int], origin_us: int, bin_s: float,
                     span_s: tuple[float, float]) -> list[int]:
    """Attempts in each ``bin_s`` bin from ``origin + span[0]`` to ``origin + span[1]``.

    Times outside the span are left out; bin ``i`` holds ``[start + i·bin, start + (i+1)·bin)``.
    """
    if bin_s <= 0 or span_s[1] <= span_s[0]:
        raise ValueError("bins need a positive width and a non-empty span")
    count = round((span_s[1] - span_s[0]) / bin_s)
    bins = [0] * count
    start_us = origin_us + span_s[0] * 1e6
    width_us = bin_s * 1e6
    for t in times_us:
        index = int((t - start_us) // width_us)
        if 0 <= index < count:
            bins[index] += 1
    return bins


def back_seconds(opens_us: Sequence[Sequence[int]], since_us: int) -> tuple[float | None, int]:
    """Seconds from ``since_us`` until the last client opened a connection after it, and how
    many clients never did (then the seconds are None). ``opens_us[i]``: client i's opens."""
    firsts = [min((t for t in opens if t > since_us), default=None) for opens in opens_us]
    missing = sum(1 for t in firsts if t is None)
    back = [t for t in firsts if t is not None]
    if missing or not back:
        return None, missing
    return round((max(back) - since_us) / 1e6, 3), 0


@dataclass(frozen=True, slots=True)
class RestartLosses:
    """What resuming across a restart that lost the sequence cost, over all reconnects.

    ``detected``: reconnects whose first seq was at or below the resume point (the client saw a
    new sequence); ``undetected``: reconnects after the restart whose first seq was beyond it;
    ``unseen``: messages of the new sequence published before each client returned (seq − 1 of
    its first one), whether the client could tell or not.
    """

    detected: int
    undetected: int
    unseen: int


def restart_losses(resumes: Iterable[tuple[int | None, int]]) -> RestartLosses:
    """Classify reconnects after a restart that began the sequence again at 1.

    ``resumes``: (resume point, first seq received after the reconnect) per reconnect made
    after the restart.
    """
    detected = undetected = unseen = 0
    for resume, first in resumes:
        if resume is not None and first <= resume:
            detected += 1
        else:
            undetected += 1
        unseen += first - 1
    return RestartLosses(detected, undetected, unseen)


def slope_per_minute(series: Sequence[tuple[float, float]], after_s: float = 0.0) -> float | None:
    """Least-squares slope of ``(seconds, value)`` points from ``after_s`` on, per minute;
    None with fewer than three points or no spread in time."""
    points = [(t, v) for t, v in series if t >= after_s]
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    sxx = sum((t - mean_t) ** 2 for t, _ in points)
    if sxx == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / sxx * 60
