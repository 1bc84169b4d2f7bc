"""A run directory's files: results.json read and written, samples.csv and staleness.csv appended.

results.json goes through the model (:mod:`benchmarks.results.model`): :func:`load`
validates what it reads, and every write replaces the file atomically, so a reader
(or a run interrupted mid-write) never sees half a file. The CSV files only grow:
each finished scenario appends its rows. This module computes no figure and
interprets no row; the report's view of a whole run is
:mod:`benchmarks.results.rundata`.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from benchmarks.results.model import Results, ResultsError

RESULTS_FILE = "results.json"

SAMPLES_COLUMNS = ("scenario", "transport", "client", "seq", "t_us", "recv_us", "latency_us",
                   "arrival_us")
"""Columns of samples.csv: one row per message delivered inside a window.

``recv_us`` is when the client process read the message; ``arrival_us`` (the
scale suite only, else empty) when the kernel queued it on the client's socket.
``latency_us`` is the latency the scenario's figures use: ``arrival_us − t_us``
where there is an arrival time, else ``recv_us − t_us``.
"""
STALENESS_COLUMNS = ("scenario", "client", "t_us", "staleness_us")
"""Columns of staleness.csv: the age of the newest price a client held, on a fixed clock."""


def _results_path(path: str | Path) -> Path:
    """``path`` itself, or the results.json inside it when it is a directory."""
    path = Path(path)
    return path / RESULTS_FILE if path.is_dir() else path


def load(path: str | Path) -> Results:
    """Read and validate a results.json (a directory means its results.json)."""
    path = _results_path(path)
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ResultsError(f"{path}: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not JSON ({exc})") from exc
    return Results.from_dict(data)


def write_document(document: Mapping[str, Any], path: str | Path) -> Path:
    """Write a results.json document atomically (a reader never sees half a file).

    It does not validate: :func:`save` writes what the model built, and the scale
    suite checks its own document against the model before it calls this.
    """
    path = _results_path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)
    return path


def save(results: Results, path: str | Path) -> Path:
    """Write results.json from the model (a directory means its results.json); returns the path."""
    return write_document(results.to_dict(), path)


def append_rows(path: Path, columns: tuple[str, ...], rows: Iterable[Sequence[Any]]) -> None:
    """Append CSV rows to ``path``, writing the header first if the file is new."""
    new = not path.exists()
    with path.open("a", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(columns)
        writer.writerows(rows)
