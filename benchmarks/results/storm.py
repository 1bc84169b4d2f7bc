"""The storm's and the soak's saved results: ``storm.json`` / ``soak.json`` and their raw CSVs.

A run directory of ``python -m benchmarks.storm`` holds, beside the report:

- ``storm.json``: ``{"kind": "storm", "measured": true, "environment": {...}, "runs": [...]}``,
  one run per jitter setting (the figures of :func:`benchmarks.storm.storm.figures_of`);
- ``storm-attempts.csv``: the raw attempt counts behind the chart, one row per run and time
  bin (``jitter, t_s, attempts, attempts_per_s``; ``t_s`` is the bin's start, from the kill);
- ``soak.json``: the soak's figures (:mod:`benchmarks.storm.soak`), and ``soak-samples.csv``
  its samples (``t_s, rss_bytes, fds, clients_open``).

Every value is measured on the machine named in ``environment``; nothing is extrapolated.
The report (:mod:`benchmarks.report.storm_chapter`) reads these files only; writing replaces a
file whole. This module computes no figure.
"""

from __future__ import annotations

import csv
import os
import platform
import sys
from pathlib import Path
from typing import Any

import orjson

STORM_FILE = "storm.json"
ATTEMPTS_FILE = "storm-attempts.csv"
SOAK_FILE = "soak.json"
SOAK_SAMPLES_FILE = "soak-samples.csv"
SOAK_COLUMNS = ("t_s", "rss_bytes", "fds", "clients_open")


class StormResultsError(ValueError):
    """A storm or soak file is missing a part the report needs."""


def environment() -> dict[str, Any]:
    """Where the figures were measured."""
    return {"python": sys.version.split()[0], "machine": platform.machine(),
            "system": platform.platform(), "cpus": os.cpu_count()}


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, so no reader sees half of it."""
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)


def save_storm(run_dir: Path, runs: list[dict[str, Any]]) -> None:
    """Write ``storm.json`` and ``storm-attempts.csv``."""
    _replace(run_dir / STORM_FILE, orjson.dumps(
        {"kind": "storm", "measured": True, "environment": environment(), "runs": runs},
        option=orjson.OPT_INDENT_2))
    with (run_dir / ATTEMPTS_FILE).open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(("jitter", "t_s", "attempts", "attempts_per_s"))
        for run in runs:
            width = run["bin_s"]
            for i, count in enumerate(run["attempts_per_bin"]):
                writer.writerow((str(run["jitter"]).lower(), round(run["bins_from_s"] + i * width, 3),
                                 count, round(count / width)))


def save_soak(run_dir: Path, figures: dict[str, Any], samples: list[tuple[float, int, int, int]]
              ) -> None:
    """Write ``soak.json`` and ``soak-samples.csv``."""
    _replace(run_dir / SOAK_FILE, orjson.dumps(
        {"kind": "soak", "measured": True, "environment": environment(), **figures},
        option=orjson.OPT_INDENT_2))
    with (run_dir / SOAK_SAMPLES_FILE).open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(SOAK_COLUMNS)
        writer.writerows(samples)


def load(run_dir: Path, name: str) -> dict[str, Any] | None:
    """``storm.json`` or ``soak.json`` of ``run_dir``, or None when the run has none."""
    path = run_dir / name
    if not path.exists():
        return None
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise StormResultsError(f"{path}: unreadable: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") not in ("storm", "soak"):
        raise StormResultsError(f"{path}: not a storm or soak result")
    return data


def load_soak_samples(run_dir: Path) -> list[tuple[float, int, int, int]]:
    """The soak's samples, in time order (empty when there are none)."""
    path = run_dir / SOAK_SAMPLES_FILE
    if not path.exists():
        return []
    with path.open(newline="") as src:
        rows = list(csv.DictReader(src))
    return [(float(r["t_s"]), int(r["rss_bytes"]), int(r["fds"]), int(r["clients_open"]))
            for r in rows]
