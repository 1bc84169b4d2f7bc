"""What the engineering bought: the same transport written as a textbook, and engineered.

The lab serves every transport two ways: ``python -m lab --plain`` (scale server
``lab-plain``), the transports of ``lab/transports/`` alone, written to be read
top to bottom; and ``python -m lab`` (``lab``), the same transports behind the
engineered path of ``lab/fast/`` (a direct fan-out that writes each message to
every socket, a front door that answers polls at the socket). Both put the
same bytes on the wire, so at the same N the difference between them is what
the engineering bought, in CPU per delivered message and in p99 latency. For
WebSocket the floor (a bare ``socket.send()`` loop) shows what is left to buy.

One table per transport: each server's two measured figures (the median of the
run's repeats, like every scale table), the scenario in results.json they come
from, their flags, and the differences computed from the rows shown. Pure
formatting over :class:`~benchmarks.report.scale_tables.ScalePoint` rows: no
figure is computed here but a difference or a ratio of two shown numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.report.render import fmt, table
from benchmarks.report.scale_tables import TEXTBOOK, ScalePoint, find
from benchmarks.results.transports import STREAMED

COMPARED = (*STREAMED, "longpoll")
"""The transports compared, in the report's order: the pushes (short poll, measured as
requests per CPU-second, has its own table)."""
HOW = {"floor": "no framework: a bare `socket.send()` loop",
       TEXTBOOK: "textbook: `python -m lab --plain`", "lab": "engineered: `python -m lab`"}
"""How each compared server serves, in a few words."""


def scenario_cell(p: ScalePoint) -> str:
    """The scenario a point comes from (and that it is a median of repeats, if it is)."""
    return f"`{p.scenario}`" + (f" (median of {p.runs} runs, `-r2`…)" if p.runs > 1 else "")


def difference(new: float | None, old: float | None, unit: str, digits: int, less: str,
               more: str) -> str:
    """``new − old`` with its unit (to ``digits`` places, as its rows show it) and as a share of
    ``old``, and which way it went."""
    if new is None or old is None:
        return "—"
    delta = new - old
    share = f" ({delta / old:+.0%})" if old else ""
    word = less if delta < 0 else more if delta > 0 else "the same"
    return f"{delta:+,.{digits}f} {unit}{share}: {word}"


def _row(p: ScalePoint) -> list[str]:
    return [p.series, HOW[p.server], fmt(p.cpu_us_per_delivery, 2), fmt(p.p99_ms),
            "; ".join(p.flags), scenario_cell(p)]


def _versus(label: str, new: ScalePoint, old: ScalePoint) -> list[str]:
    return [label, "computed from the two rows it names",
            difference(new.cpu_us_per_delivery, old.cpu_us_per_delivery, "µs", 2, "cheaper",
                       "dearer"),
            difference(new.p99_ms, old.p99_ms, "ms", 1, "sooner", "later"), "", ""]


def transport_table(rows: Sequence[ScalePoint], transport: str, n: int) -> str | None:
    """One transport's table at N = ``n``; None when the run has neither lab server for it."""
    textbook, lab = find(rows, transport, TEXTBOOK, n), find(rows, transport, "lab", n)
    floor = find(rows, transport, "floor", n) if transport == "websocket" else None
    if textbook is None and lab is None:
        return None
    body = [_row(p) for p in (floor, textbook, lab) if p is not None]
    if lab and textbook:
        body.append(_versus(f"lab − {TEXTBOOK}", lab, textbook))
    if lab and floor:
        body.append(_versus("lab − floor", lab, floor))
    return f"### {transport}, N = {n:,}\n\n" + table(
        ["server", "how it serves", "CPU µs per delivery (measured)", "p99 ms (measured)",
         "flags", "scenario in results.json"], body)


def bought(rows: Sequence[ScalePoint], n: int | None) -> str:
    """Every compared transport's table, or why there is none."""
    tables = [t for t in (transport_table(rows, transport, n) for transport in COMPARED)
              if t] if n is not None else []
    return "\n\n".join(tables) or (f"*No `lab` or `{TEXTBOOK}` case at the comparison N in this "
                                   "run: nothing to compare.*")


def summary(rows: Sequence[ScalePoint], n: int | None) -> str | None:
    """One sentence: per transport, the engineered lab's CPU per delivery and p99 against the
    textbook's."""
    parts = []
    for transport in COMPARED:
        textbook, lab = find(rows, transport, TEXTBOOK, n), find(rows, transport, "lab", n)
        if not (textbook and lab and textbook.cpu_us_per_delivery and lab.cpu_us_per_delivery
                and textbook.p99_ms and lab.p99_ms):
            continue
        parts.append(f"{transport} {textbook.cpu_us_per_delivery:.1f} → "
                     f"{lab.cpu_us_per_delivery:.1f} µs and p99 {textbook.p99_ms:,.0f} → "
                     f"{lab.p99_ms:,.0f} ms")
    if not parts or n is None:
        return None
    return (f"What the engineering bought at N = {n:,} on one process, textbook (`lab --plain`) "
            f"→ engineered (`lab`), CPU per delivery and p99: {'; '.join(parts)}.")
