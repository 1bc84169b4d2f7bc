"""The command line of ``python -m benchmarks.report``: rebuild a saved run's charts and report.

One positional argument, the run directory, and one flag per report setting
(:class:`benchmarks.results.costs.CostSettings`); a flag left out keeps the
run's own value. All the work is :func:`benchmarks.report.build.build`'s; this
module only parses arguments and turns errors into one line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.report.build import build
from benchmarks.results.costs import CostSettings


def parser() -> argparse.ArgumentParser:
    """The command line: a run directory and one flag per report setting."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.report",
        description="Rebuild the charts and report of a saved run from its results.json "
        "and samples.csv, without rerunning anything.",
    )
    p.add_argument("run_dir", type=Path, help="a run directory, e.g. reports/20261127-031000")
    defaults = CostSettings()
    for name, meaning in CostSettings.describe().items():
        kind = int if name == "clients" else float
        fallback = getattr(defaults, name)
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=None,
                       help=f"{meaning} (default: the run's value, else {fallback:g})")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    args = parser().parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k != "run_dir" and v is not None}
    try:
        path = build(args.run_dir, overrides)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {path}\n        {path.with_suffix('.md')}")
    return 0
