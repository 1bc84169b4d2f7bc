"""``python -m lab``: run the lab server until Ctrl-C.

Parses flags into :class:`lab.settings.Settings`, builds the app, listens, and
prints where to point a browser. Errors a user can fix (a port in use, a bad
replay file, a bad flag) are one line on stderr and exit status 2 or 1,
never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
from pathlib import Path

from lab.app import FOLLOW_KEY, create_app, make_ticks
from lab.cluster import Link, run_primary
from lab.feed import FeedError
from lab.settings import DEFAULT_SYMBOLS, Settings
from lab.site import start_site, tune_gc


def build_parser() -> argparse.ArgumentParser:
    """The command line, with every default shown in ``--help``."""
    d = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m lab",
        description="Serve a live stock-price feed by short poll, long poll, chunked stream, "
        "SSE and WebSocket at once, with a page that shows them side by side.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--host", default=d.host, help="address to listen on; 0.0.0.0 serves a classroom LAN")
    add("--port", type=int, default=d.port, help="TCP port (0 picks a free one)")
    add("--rate", type=float, default=d.rate, help="price changes per second, all symbols together")
    add("--symbols", default=",".join(DEFAULT_SYMBOLS), help="comma-separated ticker symbols")
    add("--seed", type=int, default=d.seed, help="random seed of the price walk")
    add("--volatility", type=float, default=d.volatility, help="annualised volatility σ of the walk")
    add("--drift", type=float, default=d.drift, help="annualised drift μ of the walk")
    add("--steady", action="store_true", help="evenly spaced ticks instead of Poisson arrivals")
    add("--replay", type=Path, default=None, help="replay a CSV (timestamp,symbol,price) instead")
    add("--speed", type=float, default=d.speed, help="replay speed factor (2 = twice as fast)")
    add("--history", type=int, default=d.history, help="messages kept per topic for resume")
    add("--mailbox", type=int, default=d.mailbox_size, help="queued messages per subscriber "
        "before it is dropped as a slow consumer")
    add("--heartbeat", type=float, default=d.heartbeat, help="seconds between heartbeats on "
        "streams, SSE and WebSocket pings")
    add("--workers", type=int, default=d.workers, help="server processes sharing one feed and "
        "one port (SO_REUSEPORT); 1 serves from a single process")
    add("--pin-workers", action=argparse.BooleanOptionalAction, default=d.pin_workers,
        help="with --workers N: pin each worker to a CPU of its own when there are N of them "
        "(a shorter latency tail when each fan-out has a core)")
    add("--plain", action="store_true", help="serve the textbook transports alone, without the "
        "engineered fast path (the direct fan-out and the front door); the same bytes, slower")
    add("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level (INFO logs each stream and socket opening and closing)")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from parsed flags; ValueError names what is wrong."""
    symbols = tuple(s.strip() for s in args.symbols.split(",") if s.strip())
    return Settings(
        host=args.host,
        port=args.port,
        rate=args.rate,
        symbols=symbols,
        seed=args.seed,
        volatility=args.volatility,
        drift=args.drift,
        steady=args.steady,
        replay=args.replay,
        speed=args.speed,
        history=args.history,
        mailbox_size=args.mailbox,
        heartbeat=args.heartbeat,
        workers=args.workers,
        pin_workers=args.pin_workers,
        plain=args.plain,
        log_level=args.log_level,
    )


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback (for classroom URLs)."""
    found: set[str] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.add(str(info[4][0]))
    except OSError:
        pass
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # UDP connect sends nothing; it picks a route
        found.add(probe.getsockname()[0])
    except OSError:
        pass
    finally:
        probe.close()
    return sorted(a for a in found if not a.startswith("127."))


def configure_logging(level: str, process: str | None = None) -> None:
    """Log to stderr at ``level``; worker processes tag their lines."""
    tag = f"[{process}] " if process else ""
    logging.basicConfig(level=level, format=f"%(asctime)s %(levelname)s {tag}%(name)s: %(message)s")


def announce(settings: Settings, port: int) -> None:
    """Print where to point a browser (every LAN address when serving a classroom)."""
    if settings.host in ("0.0.0.0", "::", ""):
        print(f"Right Now Lab serving on http://127.0.0.1:{port}/", flush=True)
        for address in lan_addresses():
            print(f"  students: http://{address}:{port}/   instructor: "
                  f"http://{address}:{port}/dashboard", flush=True)
    else:
        print(f"Right Now Lab serving on http://{settings.host}:{port}/", flush=True)


async def wait_for_signal(*also: asyncio.Future[object]) -> None:
    """Return on SIGINT or SIGTERM (or when any of ``also`` finishes)."""
    stop = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda: stop.done() or stop.set_result(None))
    await asyncio.wait({stop, *also}, return_when=asyncio.FIRST_COMPLETED)


async def serve(settings: Settings) -> None:
    """One process: listen, announce the URLs, and run until SIGINT or SIGTERM."""
    site = await start_site(create_app(settings), settings, reuse_port=False)
    tune_gc()
    announce(settings, site.port)
    try:
        await wait_for_signal()
    finally:
        await site.close()


async def serve_worker(settings: Settings, link_path: str) -> None:
    """One worker of ``--workers N``: mirror the primary, share its port, run until told."""
    reader, writer = await asyncio.open_unix_connection(link_path)
    link = Link(reader, writer)
    app = create_app(settings, link)
    site = await start_site(app, settings, reuse_port=True)
    tune_gc()
    link.send({"op": "ready"})
    try:
        await wait_for_signal(app[FOLLOW_KEY])  # the primary going away ends the worker too
    finally:
        await site.close()
        writer.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        settings = settings_from(args)
        if settings.workers == 1:
            asyncio.run(serve(settings))
            return 0
        ticks = make_ticks(settings)  # a bad replay file fails here, before any worker starts
        return asyncio.run(run_primary(settings, ticks, lambda port: announce(settings, port)))
    except (ValueError, FeedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
