"""Load one saved run (results.json + samples.csv + staleness.csv) for the report.

The report reads only these files (see notes/RESULTS_SCHEMA.md). results.json
is validated by the runner's model (:func:`benchmarks.results.files.load`) and then
kept as the plain dict it serialises to, so the tables read exactly the
documented JSON; the CSVs become per-scenario arrays of milliseconds. This
module computes nothing: tables live in :mod:`benchmarks.report.tables`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.results.files import load
from benchmarks.results.model import ResultsError


class RunDataError(ValueError):
    """A run directory is missing a file or holds something the report cannot read."""


@dataclass(frozen=True)
class RunData:
    """One run: results.json as a dict, and per-scenario samples in milliseconds."""

    results: dict[str, Any]
    latency_ms: dict[str, np.ndarray] = field(default_factory=dict)
    staleness_ms: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def scenarios(self) -> list[dict[str, Any]]:
        """Scenarios that finished (status ``ok``), in file order."""
        return [s for s in self.results["scenarios"] if s.get("status", "ok") == "ok"]

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Scenarios that errored or were interrupted (named in the report, never used)."""
        return [s for s in self.results["scenarios"] if s.get("status", "ok") != "ok"]

    def group(self, name: str) -> list[dict[str, Any]]:
        """Finished scenarios of one group (trader, poll_sweep, scale, burst, faults)."""
        return [s for s in self.scenarios if s.get("group") == name]


def _read_results(path: Path) -> dict[str, Any]:
    """Validate with the runner's model, then return the JSON-shaped dict."""
    try:
        results = load(path).to_dict()
    except ResultsError as exc:
        raise RunDataError(f"{path}: {exc}") from exc
    for scenario in results["scenarios"]:
        if "transport" not in scenario["params"]:
            raise RunDataError(f"{path}: scenario {scenario['name']!r} has no params.transport")
    return results


def _read_column(path: Path, value_column: str) -> dict[str, np.ndarray]:
    """Group ``value_column`` (microseconds) by scenario, converted to milliseconds."""
    grouped: dict[str, list[float]] = {}
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not {"scenario", value_column} <= set(reader.fieldnames or ()):
                raise RunDataError(f"{path}: needs columns 'scenario' and {value_column!r}")
            for row in reader:
                try:
                    value = float(row[value_column]) / 1000.0
                except (TypeError, ValueError) as exc:
                    raise RunDataError(f"{path}:{reader.line_num}: bad {value_column}") from exc
                grouped.setdefault(row["scenario"], []).append(value)
    except OSError as exc:
        raise RunDataError(f"{path}: cannot read: {exc.strerror}") from exc
    return {name: np.asarray(values, dtype=float) for name, values in grouped.items()}


def load_run(run_dir: Path) -> RunData:
    """Read a run directory; ``staleness.csv`` is optional, the other two are not."""
    results_path = run_dir / "results.json"
    if not results_path.is_file():
        raise RunDataError(f"{run_dir}: no results.json here (is this a run directory?)")
    results = _read_results(results_path)
    samples_path = run_dir / "samples.csv"
    if not samples_path.is_file():
        raise RunDataError(f"{run_dir}: no samples.csv next to results.json")
    latency = _read_column(samples_path, "latency_us")
    staleness_path = run_dir / "staleness.csv"
    staleness = _read_column(staleness_path, "staleness_us") if staleness_path.is_file() else {}
    return RunData(results=results, latency_ms=latency, staleness_ms=staleness)
