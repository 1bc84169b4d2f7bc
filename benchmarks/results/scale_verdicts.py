"""How a scale-suite scenario is judged: the bar a breaking-point step must clear, and its flags.

The scale suite writes its scenarios (:mod:`benchmarks.scale.figures`) and both the
breaking-point search (:mod:`benchmarks.scale.search`) and the report's scale
chapter (:mod:`benchmarks.report.scale_tables`, :mod:`benchmarks.report.scale_targets`)
read them back through these functions, so a step is held or failed by the same
rule wherever it is looked at. The inputs are scenarios as results.json holds
them (plain dicts); nothing here measures, reads files or formats a table.

A try of a breaking-point step *holds* when p95 < :data:`P95_LIMIT_MS` and
nothing was lost (:func:`holds`); a step is tried until two tries agree, or one
lost something (:func:`step_verdict`). The words the flags start with are
defined here too (:data:`LOADGEN_FLAGS`): the suite writes them, the verdicts
and the report's targets look for them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

P95_LIMIT_MS = 100.0
"""The breaking-point bar: a step holds while its p95 latency stays under this (and nothing
is lost)."""
OUTSIDE_FLAG = "outside load"
READ_TOGETHER = "of timed messages read together with a later one"
"""Words of the flag for swarms that read timed messages late (kept in step with the targets)."""
BACKLOG_FLAG = "loopback dropped"
LOADGEN_FLAGS = ("loadgen saturated", "loadgen behind", OUTSIDE_FLAG,
                 "receive queues short of room", BACKLOG_FLAG)
"""How the flags start that say the load generator, or something outside the benchmark, may
have shaped a case's figures."""

LOSS_KEYS = ("gaps", "missed", "undelivered", "failed_clients", "late_clients",
             "incomplete_clients")
"""Ways to lose a message or a client; duplicates are not a loss (a poll sees a price twice)."""
POLL_LOSS_KEYS = ("gaps", "missed", "failed_clients")
"""The losses that count for a short poll: it fetches the latest prices now and then, so a
message it never fetched, or a poller still asking when the window closed, is no loss."""


def lost_nothing(lost: Mapping[str, int], poll: bool = False) -> bool:
    """No gap, missed notice, failed client, and (for pushes) no undelivered message."""
    return all(lost.get(k, 0) == 0 for k in (POLL_LOSS_KEYS if poll else LOSS_KEYS))


def loadgen_flag(flag: str) -> bool:
    """Whether ``flag`` is one of :data:`LOADGEN_FLAGS`."""
    return flag.startswith(LOADGEN_FLAGS)


def read_late_only(flags: Iterable[str]) -> bool:
    """Whether the load generator's only flag among ``flags`` is timed messages read late."""
    late = [f for f in flags if loadgen_flag(f)]
    return bool(late) and all(READ_TOGETHER in f for f in late)


def straddles(p95_ms: float | None, least_p95_ms: float | None) -> bool:
    """Whether a p95 read as ``p95_ms`` (an upper bound) but at least ``least_p95_ms`` could
    be on either side of :data:`P95_LIMIT_MS`."""
    return p95_ms is not None and least_p95_ms is not None \
        and least_p95_ms < P95_LIMIT_MS <= p95_ms


STEP_MARK = {True: "✓", False: "✗", None: "?"}
"""How a breaking-point step's :func:`holds` verdict is marked in tables: held, failed,
undetermined."""


def holds(scenario: Mapping[str, Any]) -> tuple[bool | None, str]:
    """Whether a push scenario meets the bar (p95 < 100 ms, zero loss), and why not.

    ``None`` is "undetermined": nothing was lost and the p95 missed the bar, but the
    swarms read some timed messages late and the least p95 those reads allow is under it.
    """
    if scenario.get("status") != "ok":
        return False, f"status {scenario.get('status')}: {scenario.get('error')}"
    p95 = (scenario.get("latency_ms") or {}).get("p95")
    lost = scenario.get("loss") or {}
    if not lost_nothing(lost):
        bad = ", ".join(f"{k} {v}" for k, v in lost.items() if v and k != "duplicates")
        return False, f"loss: {bad}"
    least = (scenario.get("latency_lower_ms") or {}).get("p95")
    if straddles(p95, least) and read_late_only(scenario.get("flags") or ()):
        return None, f"undetermined: p95 {least:.1f}–{p95:.1f} ms, the load generator read late"
    if p95 is None or p95 >= P95_LIMIT_MS:
        return False, f"p95 {p95} ms"
    return True, f"p95 {p95:.1f} ms, no loss"


STEP_TRIES = 3
"""Tries of one breaking-point step at most: a single 5 s window decided a step on a host
whose speed drifts by half (the same 10,000-client step's p95 was 77.7, 89.5 and 100.9 ms
on one day here), so a step is run until two tries agree."""


def _lossy(scenario: Mapping[str, Any]) -> bool:
    return scenario.get("status") != "ok" or not lost_nothing(scenario.get("loss") or {})


def _agreeing(verdicts: Sequence[bool | None]) -> tuple[bool | None, int] | None:
    """The verdict at least two of ``verdicts`` share, and how many do; None if none is shared."""
    return next(((v, verdicts.count(v)) for v in (True, False, None) if verdicts.count(v) >= 2),
                None)


def step_settled(tries: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a breaking-point step needs no more tries: one errored or lost something,
    two share a verdict, or :data:`STEP_TRIES` ran."""
    return (len(tries) >= STEP_TRIES or any(_lossy(t) for t in tries)
            or _agreeing([holds(t)[0] for t in tries]) is not None)


def step_verdict(tries: Sequence[Mapping[str, Any]]) -> tuple[bool | None, str]:
    """A breaking-point step's verdict from its tries (scenarios), and why.

    A try that errored or lost anything fails the step: "zero loss" is not put to
    a vote. Otherwise the step takes the verdict two tries share (:func:`holds`:
    held, failed or undetermined); three tries that all differ leave it
    undetermined. A lone try (a run made before steps were repeated) decides alone.
    """
    verdicts = [holds(t) for t in tries]
    if len(verdicts) == 1:
        return verdicts[0]
    every = "; ".join(f"try {i}: {why}" for i, (_, why) in enumerate(verdicts, 1))
    lossy = next((i for i, t in enumerate(tries) if _lossy(t)), None)
    if lossy is not None:
        return False, f"{verdicts[lossy][1]} (try {lossy + 1} of {len(tries)}; {every})"
    agreed = _agreeing([ok for ok, _ in verdicts])
    if agreed is None:
        return None, f"undetermined, the tries disagree ({every})"
    verdict, count = agreed
    word = {True: "held", False: "failed", None: "undetermined"}[verdict]
    return verdict, f"{word} in {count} of {len(tries)} tries ({every})"
