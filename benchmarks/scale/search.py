"""The scale suite's order of work: its fixed cases, then a breaking-point search per server.

:func:`run_suite` runs :func:`~benchmarks.scale.cases.plan`'s cases one after the
other (two cores leave no room for overlap), then, for each push transport that
streams and each server serving it, :func:`breaking_point`: N is stepped up
(2k → 5k → 7.5k → 10k → 15k by default) from the suite's own N until a step fails
to hold p95 < 100 ms with nothing lost, each step tried until its tries agree
(:mod:`benchmarks.results.scale_verdicts` decides). Cases are run and recorded
through a :class:`~benchmarks.scale.output.ScaleRun`; this module measures
nothing itself.
"""

from __future__ import annotations

from typing import Any

from benchmarks.results.scale_verdicts import holds, step_settled, step_verdict
from benchmarks.results.transports import STREAMED
from benchmarks.scale.cases import BREAKING_STEPS, Case
from benchmarks.scale.output import ScaleRun


async def breaking_point(run: ScaleRun, seed: int, server: str, transport: str,
                         start: list[dict[str, Any]], steps: tuple[int, ...]) -> dict[str, Any]:
    """Step N up from the suite's own N (``start``: its side-by-side runs, the first tries
    there) until a step fails; each step is tried until settled (:func:`step_settled`)."""
    tried: dict[int, list[dict[str, Any]]] = {}
    if start:
        tried[start[0]["params"]["clients"]] = list(start)
    n = start[0]["params"]["clients"] if start else steps[0]
    while True:
        tries = tried.setdefault(n, [])
        while not step_settled(tries):
            case = Case(server, transport, n, purpose="breaking", repeat=len(tries) + 1)
            tries.append(await run.run(case, seed))
        ok, _ = step_verdict(tries)
        lower = [s for s in steps if s < n and s not in tried]
        higher = [s for s in steps if s > n]
        if ok and higher:
            n = higher[0]
        elif not ok and lower and not any(step_verdict(tried[m])[0] for m in tried if m < n):
            n = lower[-1]
        else:
            break
    verdicts = {m: step_verdict(tried[m]) for m in sorted(tried)}
    passed = [m for m, (ok, _) in verdicts.items() if ok]
    return {
        "server": server, "transport": transport,
        "clients": passed[-1] if passed else None,
        "limit_tested": max(steps),
        "steps": [{"clients": m, "holds": ok, "why": why,
                   "scenarios": [t["name"] for t in tried[m]],
                   "tries": [holds(t)[0] for t in tried[m]]}
                  for m, (ok, why) in verdicts.items()],
    }


async def run_suite(run: ScaleRun, seed: int, cases: list[Case], breaking: bool,
                    steps: tuple[int, ...] = BREAKING_STEPS) -> None:
    """Run the cases, then the breaking-point search for the lab's push transports."""
    done: dict[str, dict[str, Any]] = {}
    for case in cases:
        done[case.name] = await run.run(case, seed)
    if not breaking:
        return
    for transport in STREAMED:
        servers = ("floor", "lab-plain", "lab", "lab-2workers") if transport == "websocket" \
            else ("lab", "lab-2workers")
        for server in servers:
            start = [s for s in done.values() if s["params"]["server"] == server
                     and s["transport"] == transport and s["params"]["purpose"] == "compare"]
            run.add_breaking_point(await breaking_point(run, seed, server, transport, start,
                                                        steps))
