"""The scale targets, judged from a scale run's numbers: one :class:`Target` per comparison.

Each target names what was measured and against what, with the verdict
computed here (``met`` is ``None`` when the run lacks a case it needs), so the
table's words change when the numbers do. The targets come in six groups, numbered
in the table as the report's template refers to them: one process, two workers,
the breaking points, the polls, memory, the load generator. The thresholds are
the constants below; where a target's wording leaves a choice, the docstring of
the function says what was chosen:

- the textbook is ``lab-plain``: the lab itself served with ``--plain``, the
  transports of ``lab/transports/`` without the engineered path (``lab/fast/``),
  the same bytes on the wire. Each transport is held to its own textbook
  version at the same N, so a target against it measures what the engineering
  bought and nothing else. The thresholds are those once set against
  hand-written aiohttp servers (a WebSocket loop, an SSE loop and a long poll,
  which ``lab-plain`` replaced): CPU per delivery ≤ the textbook's, and for long
  poll CPU per *answer* ≤ half of it. Per answer, not per delivery: a long-poll
  server that falls behind answers later with more messages in each answer, so
  its CPU per delivered message falls as it slows down (at N = 5,000 here,
  ``lab-plain`` answered with three to four messages each, the lab with one to
  one and a half); per answer, the work of one request is compared with one
  request's. Chunked stream, which had no server of its own and was held
  to the SSE loop, now has its own textbook. One target is new: the lab's p99 ≤
  the textbook's, since the two now differ only by the engineered path, which
  exists to shorten the fan-out; a p99 varies by about ±25 % between runs here,
  so a miss by a few per cent is within noise;
- "the floor's time for one fan-out" is the floor's fan-out **p99** at the same N
  (the slowest ticks' send loop, the counterpart of a p99 latency);
- "flat" memory over the soak: least-squares growth ≤ :data:`FLAT_PER_MIN` of the
  RSS at the soak's start per minute (≤ 10 % over the ten-minute soak).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.report.scale_tables import (
    TEXTBOOK,
    BreakingRow,
    ScalePoint,
    Soak,
    compare_clients,
    find,
)
from benchmarks.results.scale_verdicts import (
    P95_LIMIT_MS,
    loadgen_flag,
    read_late_only,
    straddles,
)
from benchmarks.results.transports import STREAMED

P99_OVER_FLOOR = 1.1
TWO_WORKERS_P99 = 0.6
BREAKING = (("lab", "websocket", 10_000), ("lab-2workers", "websocket", 15_000))
LONGPOLL_P50_MS = 100.0
LONGPOLL_CPU_SHARE = 0.5
POLL_SHARE = 0.9
KB_PER_IDLE_WS = 15.0
FLAT_PER_MIN = 0.01
SOAK_MINUTES = 10.0


@dataclass(frozen=True, slots=True)
class Target:
    """One line of the targets table: what was compared, the verdict, and flags that bear on it."""

    item: str
    measured: str
    target: str
    met: bool | None
    flags: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        """``met``, ``missed`` or ``not measured``."""
        return {True: "met", False: "missed", None: "not measured"}[self.met]


def _flags(*points: ScalePoint | None) -> tuple[str, ...]:
    return tuple(f"{p.series} {p.transport}: {f}" for p in points if p for f in p.flags)


def _absent(item: str, target: str, what: str) -> Target:
    return Target(item, f"no {what} in this run", target, None)


def _lost(p: ScalePoint) -> str:
    if p.lossless:
        return "no loss"
    return "lost: " + ", ".join(f"{k} {v:,}" for k, v in p.lost.items())


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} ms"


def one_core(rows: Sequence[ScalePoint], n: int) -> list[Target]:
    """The one-process targets, per streamed transport: CPU per delivery ≤ the textbook's with
    no loss, p99 ≤ the textbook's, and p99 ≤ 1.1 × the floor's fan-out p99."""
    out = []
    floor = next((p for p in rows if p.clients == n and p.fanout_p99_ms), None)
    for t in STREAMED:
        ours, plain = find(rows, t, "lab", n), find(rows, t, TEXTBOOK, n)
        item = f"1. {t}, N = {n:,}, one process"
        goal = f"CPU/delivery ≤ {TEXTBOOK}'s, zero loss"
        if not ours or ours.cpu_us_per_delivery is None or not plain or \
                plain.cpu_us_per_delivery is None:
            out.append(_absent(item, goal, f"lab and {TEXTBOOK} {t} pair at N = {n:,}"))
        else:
            out.append(Target(
                item, f"lab {ours.cpu_us_per_delivery:.1f} µs vs {TEXTBOOK} "
                f"{plain.cpu_us_per_delivery:.1f} µs; " + _lost(ours),
                goal, ours.cpu_us_per_delivery <= plain.cpu_us_per_delivery and ours.lossless,
                _flags(ours, plain)))
        goal = f"p99 ≤ {TEXTBOOK}'s"
        if not ours or ours.p99_ms is None or not plain or plain.p99_ms is None:
            out.append(_absent(item, goal, f"lab and {TEXTBOOK} {t} p99 at N = {n:,}"))
        else:
            out.append(Target(
                item, f"lab p99 {_ms(ours.p99_ms)} vs {TEXTBOOK} {_ms(plain.p99_ms)}", goal,
                ours.p99_ms <= plain.p99_ms, _flags(ours, plain)))
        goal = f"p99 ≤ {P99_OVER_FLOOR:g} × the floor's fan-out p99"
        if not ours or ours.p99_ms is None or not floor or not floor.fanout_p99_ms:
            out.append(_absent(item, goal, f"lab {t} p99 and floor fan-out at N = {n:,}"))
        else:
            out.append(Target(
                item, f"lab {t} p99 {_ms(ours.p99_ms)} vs {P99_OVER_FLOOR:g} × "
                f"{_ms(floor.fanout_p99_ms)} = {_ms(P99_OVER_FLOOR * floor.fanout_p99_ms)}",
                goal, ours.p99_ms <= P99_OVER_FLOOR * floor.fanout_p99_ms, _flags(ours, floor)))
    return out


def two_workers(rows: Sequence[ScalePoint], n: int) -> list[Target]:
    """The two-worker targets: p99 ≤ 0.6 × the best single-process server's p99 (same
    transport, N)."""
    out = []
    for t in STREAMED:
        item, goal = f"2. {t}, N = {n:,}, two workers", (
            f"p99 ≤ {TWO_WORKERS_P99:g} × best single-process p99")
        two = find(rows, t, "lab-2workers", n)
        singles = [p for p in rows if p.transport == t and p.clients == n and p.workers == 1
                   and p.p99_ms is not None and p.purpose != "soak"]
        if not two or two.p99_ms is None or not singles:
            out.append(_absent(item, goal, f"two-worker and single-process {t} at N = {n:,}"))
            continue
        best = min(singles, key=lambda p: p.p99_ms or 0.0)
        assert best.p99_ms is not None
        out.append(Target(
            item, f"lab ×2 p99 {_ms(two.p99_ms)} vs {TWO_WORKERS_P99:g} × {best.series} "
            f"{_ms(best.p99_ms)} = {_ms(TWO_WORKERS_P99 * best.p99_ms)}",
            goal, two.p99_ms <= TWO_WORKERS_P99 * best.p99_ms, _flags(two, best)))
    return out


def breaking(rows: Sequence[BreakingRow]) -> list[Target]:
    """The breaking-point targets: the largest N holding p95 < 100 ms with zero loss, against
    the N each server is set (:data:`BREAKING`).

    A search that never failed below the target N (``--no-breaking``, or a short
    step list) is not a miss: it is ``not measured``.
    """
    out = []
    for server, transport, wanted in BREAKING:
        item, goal = f"3. {transport} breaking point, {server}", f"≥ {wanted:,} clients"
        row = next((r for r in rows if (r.server, r.transport) == (server, transport)), None)
        if row is None:
            out.append(_absent(item, goal, "breaking-point search"))
            continue
        held = f"{row.held:,}" if row.held else "none"
        broke = "" if not row.failed_at else f"; {row.failed_at:,} {row.why}" if row.undetermined \
            else f"; broke at {row.failed_at:,} ({row.why})"
        met = True if (row.held or 0) >= wanted else False \
            if row.failed_at and not row.undetermined else None
        untested = "" if met is not None or row.undetermined \
            else "; no step failed, so not tested as far as the target"
        out.append(Target(item, f"held {held} (tried up to {row.tried_up_to:,}){broke}{untested}",
                          goal, met, row.flags))
    return out


def polls(rows: Sequence[ScalePoint], n: int) -> list[Target]:
    """The poll targets: long poll's p50, loss and CPU against the textbook long poll's; short
    poll's requests per CPU-second against the constant handler's."""
    out = []
    ours, plain = find(rows, "longpoll", "lab", n), find(rows, "longpoll", TEXTBOOK, n)
    item = f"4. long poll, N = {n:,}"
    if ours is None or ours.p50_ms is None:
        out.append(_absent(item, f"p50 ≤ {LONGPOLL_P50_MS:g} ms, zero loss", "lab long poll"))
    else:
        out.append(Target(item, f"p50 {_ms(ours.p50_ms)}", f"p50 ≤ {LONGPOLL_P50_MS:g} ms",
                          ours.p50_ms <= LONGPOLL_P50_MS, _flags(ours)))
        out.append(Target(item, _lost(ours), "zero loss",
                          ours.lossless, _flags(ours)))
    goal = f"CPU/answer ≤ {LONGPOLL_CPU_SHARE:g} × {TEXTBOOK}'s"
    if ours is None or plain is None or not ours.requests_per_cpu_s \
            or not plain.requests_per_cpu_s:
        out.append(_absent(item, goal, f"lab and {TEXTBOOK} long-poll pair"))
    else:
        ours_us, plain_us = 1e6 / ours.requests_per_cpu_s, 1e6 / plain.requests_per_cpu_s
        out.append(Target(
            item, f"lab {ours_us:.1f} µs vs {LONGPOLL_CPU_SHARE:g} × {plain_us:.1f} µs = "
            f"{LONGPOLL_CPU_SHARE * plain_us:.1f} µs", goal,
            ours_us <= LONGPOLL_CPU_SHARE * plain_us, _flags(ours, plain)))
    constant = find(rows, "poll", "constant")
    for server in ("lab", "lab-2workers"):
        lab = find(rows, "poll", server)
        item, goal = f"4. short poll, {server}", f"requests/CPU-s ≥ {POLL_SHARE:.0%} of constant's"
        if lab is None or constant is None or not lab.requests_per_cpu_s \
                or not constant.requests_per_cpu_s:
            out.append(_absent(item, goal, f"{server} and constant short-poll pair"))
            continue
        share = lab.requests_per_cpu_s / constant.requests_per_cpu_s
        out.append(Target(
            item, f"{lab.requests_per_cpu_s:,.0f} vs constant {constant.requests_per_cpu_s:,.0f} "
            f"req/CPU-s ({share:.0%})", goal, share >= POLL_SHARE, _flags(lab, constant)))
    return out


def memory(rows: Sequence[ScalePoint], n: int, soaked: Soak | None) -> list[Target]:
    """The memory targets: KB per idle WebSocket connection and a flat RSS over the soak."""
    out = []
    lab = find(rows, "websocket", "lab", n)
    item, goal = f"5. memory, websocket N = {n:,}", f"≤ {KB_PER_IDLE_WS:g} KB per idle connection"
    if lab is None or lab.kb_per_connection is None:
        out.append(_absent(item, goal, "lab WebSocket memory figure"))
    else:
        out.append(Target(item, f"{lab.kb_per_connection:.2f} KB", goal,
                          lab.kb_per_connection <= KB_PER_IDLE_WS, _flags(lab)))
    goal = (f"flat: growth ≤ {FLAT_PER_MIN:.0%} of start RSS per minute over "
            f"{SOAK_MINUTES:g} min")
    if soaked is None or soaked.growth_bytes_per_min is None or not soaked.series:
        out.append(_absent("5. memory soak", goal, "soak"))
    else:
        start = soaked.series[0][1]
        share = soaked.growth_bytes_per_min / start
        minutes = soaked.duration_s / 60
        short = f"; the soak lasted {minutes:.1f} min, not {SOAK_MINUTES:g}" if (
            minutes < SOAK_MINUTES) else ""
        out.append(Target(
            f"5. memory soak, {soaked.clients:,} clients",
            f"{soaked.growth_bytes_per_min / 1e6:+,.2f} MB/min on {start / 1e6:,.1f} MB "
            f"({share:+.1%}/min){short}", goal, share <= FLAT_PER_MIN, soaked.flags))
    return out


def _late_reads_change_nothing(p: ScalePoint) -> bool:
    """Whether ``p`` is a breaking-point step whose only load-generator flag is messages read
    together with a later one, and whose verdict (p95 < 100 ms, zero loss) is the same at
    both ends of its p95's range: the p95 measured (an upper bound) and ``p95_lower_ms``.

    That is: it held even at its measured p95, or failed even at the least p95
    possible. A step failed on loss alone is not settled: a swarm that reads late
    can leave clients unread when it reports. Cases compared side by side at the
    run's N are held to every flag, since their p99s are weighed against each other.
    """
    if p.purpose != "breaking" or not read_late_only(p.flags) or p.p95_ms is None \
            or p.p95_lower_ms is None:
        return False
    return (p.lossless and p.p95_ms < P95_LIMIT_MS) or p.p95_lower_ms >= P95_LIMIT_MS


def _undetermined_off_target(p: ScalePoint) -> bool:
    """Whether ``p`` is an undetermined breaking-point step (lossless, read late, its p95's
    range across the bar) that no breaking-point target rests on: not a server and transport of
    :data:`BREAKING` at or below the N that target asks for."""
    return (p.purpose == "breaking" and p.lossless and read_late_only(p.flags)
            and straddles(p.p95_ms, p.p95_lower_ms)
            and not any((p.server, p.transport) == (server, transport) and p.clients <= wanted
                        for server, transport, wanted in BREAKING))


def _textbook_wrote_together(p: ScalePoint) -> bool:
    """Whether ``p`` is a textbook case (``lab-plain``) at its server's limit whose only
    load-generator flag is messages read together. The textbook writes everything its
    mailbox queued in one write (one chunk, or frames back to back), so when it falls behind,
    messages that queued together leave together and arrive together: reading them in one
    read is not reading late. (The engineered lab writes each message as it is published,
    so there such a read still means the load generator was late.)"""
    return (p.server == TEXTBOOK and read_late_only(p.flags)
            and any(f.startswith("server at its limit") for f in p.flags))


def _ranges(points: Sequence[ScalePoint]) -> str:
    return ", ".join(f"{p.scenario} (p95 {p.p95_lower_ms:,.1f}–{p.p95_ms:,.1f} ms)"
                     for p in points)


def load_generator(rows: Sequence[ScalePoint]) -> list[Target]:
    """The load-generator target: no case where the load generator saturated, fell behind,
    left its receive queues short of room, outside processes took CPU, or loopback dropped
    packets, and so could have changed a verdict.

    Two kinds of breaking-point step whose swarms read some messages late are named,
    not counted: one whose verdict is the same whatever those messages' true arrival
    times were (:func:`_late_reads_change_nothing`), and one whose verdict they leave
    undetermined where no target rests on it (:func:`_undetermined_off_target`); the
    breaking-point table marks the latter "?" and reports the N below it as held. So is
    a textbook case read "together" because its server wrote together
    (:func:`_textbook_wrote_together`).
    """
    flagged = [p for p in rows if any(loadgen_flag(f) for f in p.flags)]
    settled = [p for p in flagged if _late_reads_change_nothing(p)]
    undetermined = [p for p in flagged if _undetermined_off_target(p)]
    batched = [p for p in flagged if _textbook_wrote_together(p)]
    hit = [p for p in flagged if p not in settled and p not in undetermined and p not in batched]
    busiest = max((p.loadgen_max_util for p in rows if p.loadgen_max_util is not None),
                  default=None)
    measured = (f"{len(hit)} of {len(rows)} cases flagged"
                + (f" ({', '.join(p.scenario for p in hit)})" if hit else "")
                + ("; read late, but the same verdict at either end of the p95's range: "
                   + _ranges(settled) if settled else "")
                + ("; read late, verdict undetermined, no target resting on it: "
                   + _ranges(undetermined) if undetermined else "")
                + ("; read together because the textbook server, at its limit, wrote them "
                   "together: " + ", ".join(p.scenario for p in batched) if batched else "")
                + ("" if busiest is None else f"; busiest swarm process {busiest:.0%} of a core"))
    return [Target("6. load generator", measured, "no case flagged loadgen saturated or behind, "
                   "receive queues short of room, outside load, or loopback drops",
                   not hit if rows else None,
                   tuple(f"{p.scenario}: {f}" for p in flagged for f in p.flags
                         if loadgen_flag(f)))]


def targets(rows: Sequence[ScalePoint], breaking_rows: Sequence[BreakingRow],
            soaked: Soak | None) -> list[Target]:
    """Every scale target, group by group in the table's order, at the run's comparison N."""
    n = compare_clients(rows)
    if n is None:
        return []
    return [*one_core(rows, n), *two_workers(rows, n), *breaking(breaking_rows), *polls(rows, n),
            *memory(rows, n, soaked), *load_generator(rows)]
