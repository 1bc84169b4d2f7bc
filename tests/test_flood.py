"""The flood cases: readers of prices beside a chat flooder, in alternating pairs."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from benchmarks.results.model import Results
from benchmarks.scale.flood import flood_plan, flood_table
from benchmarks.scale.runner import run_case
from lab.settings import Settings


def test_the_plan_alternates_alone_and_flooded() -> None:
    """Each pair holds one case alone and one flooded, the order turning between pairs, and
    every case has a name of its own."""
    cases = flood_plan(1000, 10.0, 3, 4)
    assert [c.flooders for c in cases] == [0, 4, 4, 0, 0, 4]
    assert [c.repeat for c in cases] == [1, 1, 2, 2, 3, 3]
    assert len({c.name for c in cases}) == 6
    assert all(c.transport == "websocket" and c.server == "lab" for c in cases)


@pytest.mark.timeout(60)
async def test_a_flooded_case_reports_the_flood_and_the_readers(tmp_path: Path) -> None:
    """A tiny flooded case: the readers lose nothing, the flooder's posts are refused (429)
    once the burst is spent, each refusal after the lab's one-second pause (so no connection
    is refused more than once a second), and the scenario is valid results.json."""
    case = flood_plan(10, 1.0, 1, 2)[1]
    assert case.flooders == 2
    scenario, _ = await run_case(case, 1, tmp_path)
    assert scenario["status"] == "ok", scenario["error"]
    flood = scenario["flood"]
    assert flood["limited"] > 0 and flood["posted"] > 0 and flood["other"] == 0
    assert flood["limited"] <= case.flooders * (flood["seconds"] / Settings().refusal_pause_s + 1)
    assert scenario["loss"]["gaps"] == 0 and scenario["loss"]["undelivered"] == 0
    doc = {"schema": "right-now-lab/results", "version": 1, "created": "now", "suite": "scale",
           "seed": 1, "environment": {"python": "3", "aiohttp": "3", "os": "x", "cpu_count": 2,
                                      "machine": "x", "hostname_hash": "x"},
           "settings": {}, "scenarios": [scenario]}
    Results.from_dict(orjson.loads(orjson.dumps(doc)))
    assert "| 1 |" in flood_table([scenario])
