"""``python -m benchmarks.web``: the transports direct and through a real nginx; ``web.md``.

Starts the lab (``python -m lab``) as a child process and nginx in front of it (tuned, then
each probe's default), runs the clients in this process, and writes ``web.json`` and
``web.md`` to ``--out``. Every process it starts it stops by its PID. Needs nginx; without it,
one line and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import orjson

from lab.proxy.nginx import ProxyError, find_nginx, start_proxy
from lab.proxy.options import ProxyOptions

from .cases import PROBES, measured_cases
from .measure import measure
from .output import markdown, targets
from .probes import verdict

LONGEST_HOLD = 120.0
"""The lab's longest long-poll hold (``Settings.longpoll_max``), for the tuned timeouts."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line, every default shown in ``--help``."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.web", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Measure each transport direct and through nginx over HTTP/1.1 and HTTP/2, "
        "and what a bare proxy breaks.")
    parser.add_argument("--clients", type=int, default=20, help="clients per case")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per case")
    parser.add_argument("--rate", type=float, default=10.0, help="feed updates per second")
    parser.add_argument("--plain", action="store_true",
                        help="serve the textbook transports alone (python -m lab --plain)")
    parser.add_argument("--out", type=Path, default=Path("reports/web"), help="output directory")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or args.rate <= 0:
        parser.error("--clients, --seconds and --rate must be positive")
    return args


async def start_lab(rate: float, plain: bool = False) -> tuple[asyncio.subprocess.Process, int]:
    """``python -m lab`` on a free port (``--plain`` if asked); the process and its port."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lab", "--no-class-link", "--port", "0", "--rate", str(rate), "--log-level", "WARNING",
        *(["--plain"] if plain else []),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
    match = re.search(r"serving on http://[^:]+:(\d+)/", line)
    if match is None:
        process.kill()
        await process.wait()
        raise ProxyError(f"the lab did not start: {line.strip()!r}")
    return process, int(match.group(1))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every measured case, then every probe; the document ``web.json`` holds."""
    lab, port = await start_lab(args.rate, args.plain)
    measured: dict[str, dict[str, dict[str, Any]]] = {}
    probes: dict[str, dict[str, dict[str, Any]]] = {}
    try:
        tuned = await start_proxy(ProxyOptions("tuned", 0).resolved("127.0.0.1"), "127.0.0.1",
                                  port, LONGEST_HOLD)
        try:
            for route, transport in measured_cases():
                url = (f"https://127.0.0.1:{tuned.plan.port}" if route.proxied
                       else f"http://127.0.0.1:{port}")
                print(f"web: {transport} via {route.label}", flush=True)
                measured.setdefault(transport, {})[route.name] = await measure(
                    url, transport, route.http2, args.clients, args.seconds)
        finally:
            await tuned.stop()
        for probe in PROBES:
            options = ProxyOptions("default", 0, 0, read_timeout=probe.read_timeout,
                                   ignore_accel_buffering=probe.ignore_accel_buffering)
            proxy = await start_proxy(options.resolved("127.0.0.1"), "127.0.0.1", port,
                                      LONGEST_HOLD)
            try:
                url = f"http://127.0.0.1:{proxy.plan.cleartext_port}"
                seconds = max(args.seconds, 3 * (probe.read_timeout or 0))
                for transport in probe.transports:
                    print(f"web: {transport} via {probe.label}", flush=True)
                    probes.setdefault(probe.name, {})[transport] = await verdict(
                        url, probe, transport, seconds)
            finally:
                await proxy.stop()
    finally:
        lab.terminate()
        await lab.wait()
    return {"clients": args.clients, "seconds": args.seconds, "rate": args.rate,
            "serving": "plain" if args.plain else "engineered",
            "measured": measured, "targets": targets(measured), "probes": probes}


def main(argv: list[str] | None = None) -> int:
    """Entry point; the exit status."""
    args = parse_args(argv)
    try:
        find_nginx()
        document = asyncio.run(run(args))
    except ProxyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "web.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    (args.out / "web.md").write_text(markdown(document))
    print(f"web: wrote {args.out / 'web.md'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
