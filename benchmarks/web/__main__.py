"""``python -m benchmarks.web``: the ``web`` group on its own; ``web.json`` and ``web.md``.

The same group ``python -m benchmarks.run`` runs (:func:`benchmarks.web.group.run_group`),
written as ``web.json`` (the document results.json keeps as ``web``), ``samples.csv`` (every
latency sample of the measured cases) and ``web.md`` (the
report's two web chapters, :mod:`benchmarks.report.web_chapters`). Needs nginx; without it,
one line and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import orjson

from benchmarks.report.web_chapters import markdown
from benchmarks.results.files import SAMPLES_COLUMNS, append_rows
from lab.proxy.nginx import ProxyError

from .cases import WebSize
from .group import nginx_missing, run_group


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line, every default shown in ``--help``."""
    d = WebSize()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.web", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Measure each transport direct and through nginx over HTTP/1.1 and HTTP/2, "
        "and what a bare proxy breaks.")
    parser.add_argument("--clients", type=int, default=d.clients, help="clients per case")
    parser.add_argument("--seconds", type=float, default=d.seconds,
                        help="measured window per case")
    parser.add_argument("--rate", type=float, default=d.rate, help="feed updates per second")
    parser.add_argument("--plain", action="store_true",
                        help="serve the textbook transports alone (python -m lab --plain)")
    parser.add_argument("--out", type=Path, default=Path("reports/web"), help="output directory")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or args.rate <= 0:
        parser.error("--clients, --seconds and --rate must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point; the exit status."""
    args = parse_args(argv)
    missing = nginx_missing()
    if missing is not None:
        print(f"error: {missing}", file=sys.stderr)
        return 1
    try:
        document, rows = asyncio.run(run_group(WebSize(args.clients, args.seconds, args.rate,
                                                       args.plain)))
    except ProxyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "web.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    (args.out / "samples.csv").unlink(missing_ok=True)
    append_rows(args.out / "samples.csv", SAMPLES_COLUMNS, rows)
    (args.out / "web.md").write_text(markdown(document), encoding="utf-8")
    print(f"web: wrote {args.out / 'web.md'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
