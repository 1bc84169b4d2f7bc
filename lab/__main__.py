"""``python -m lab``: run the lab server until Ctrl-C.

Parses flags into :class:`lab.settings.Settings`, builds the app, listens, and
prints where to point a browser. Errors a user can fix (a port in use, a bad
replay file, a bad flag) are one line on stderr and exit status 2 or 1,
never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from pathlib import Path

from lab.app import make_ticks
from lab.cluster import run_primary
from lab.feed import FeedError
from lab.limits import Rate
from lab.proxy.config import PROFILES, render
from lab.proxy.nginx import ProxyError, plan_for
from lab.proxy.options import ProxyOptions
from lab.serving import announce, configure_logging, serve
from lab.settings import DEFAULT_SYMBOLS, FEED_MODES, Settings


def rate_arg(text: str) -> Rate:
    """A ``RATE[/BURST]`` flag value."""
    try:
        return Rate.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    add("--ws-compress", action="store_true", help="compress WebSocket messages "
        "(permessage-deflate, RFC 7692) for clients that offer it: fewer bytes per price, "
        "more CPU per delivery and a compression context per socket")
    add("--plain", action="store_true", help="serve the textbook transports alone, without the "
        "engineered fast path (the direct fan-out and the front door); the same bytes, slower")
    add("--allow-origin", action="append", default=[], metavar="URL",
        help="also let pages of this origin (http://host:port) use the lab from a browser, e.g. "
        "one opened through a relay or a proxy; repeatable (the lab's own URLs always may)")
    add("--broker", default=None, metavar="URL", help="share one feed and chat between lab "
        "nodes on several machines through Redis (e.g. redis://127.0.0.1:6379/0): Redis "
        "sequences every message, so a client resumes on any node")
    add("--feed", choices=FEED_MODES, default=d.feed, help="with --broker: "
        "which node runs the price feed (auto: whichever takes the lock, another takes over "
        "when it dies; always: this one or refuse to start; never: serve only)")
    add("--chat-rate", type=rate_arg, default=d.chat_rate, metavar="RATE[/BURST]",
        help="chat posts allowed per second, with bursts of BURST, for each chat identity and "
        "for each client address (over it: 429 with Retry-After)")
    add("--ws-command-rate", type=rate_arg, default=d.ws_command_rate, metavar="RATE[/BURST]",
        help="commands per second one WebSocket may send, with bursts of BURST; a socket that "
        "keeps sending over it is closed (1008)")
    add("--presence-timeout", type=float, default=d.presence_timeout, metavar="SECONDS",
        help="an HTTP chat user with no chat connection open and no chat request for this "
        "long is announced as left")
    add("--max-connections-per-ip", type=int, default=d.max_connections_per_ip, metavar="N",
        help="open connections one LAN address may hold (503 beyond); 0: no cap")
    add("--max-loopback-connections", type=int, default=d.max_loopback_connections,
        metavar="N", help="open connections this machine's own addresses (127.0.0.1, ::1) may "
        "hold; 0: no cap, so benchmarks of thousands of local clients are unaffected")
    add("--proxy", choices=["nginx"], default=None, help="put a real reverse proxy in front of "
        "the lab, started and stopped with it: HTTPS with HTTP/2 and HTTP/1.1 on --proxy-port")
    add("--proxy-port", type=int, default=8443, help="the proxy's HTTPS port (0 picks a free one)")
    add("--proxy-profile", choices=PROFILES, default="tuned", help="tuned: keep-alive upstream, "
        "WebSocket upgrades passed, no buffering, long read timeouts; default: a bare proxy_pass")
    add("--proxy-cleartext-port", type=int, default=None, metavar="PORT",
        help="also serve HTTP/1.1 without TLS through the proxy on PORT (for benchmark clients)")
    add("--proxy-h2c-port", type=int, default=None, metavar="PORT",
        help="also serve HTTP/2 without TLS (prior knowledge, h2c) through the proxy on PORT")
    add("--proxy-nginx", default=None, metavar="PATH",
        help="the nginx executable (default: nginx on PATH, else /usr/sbin/nginx)")
    add("--proxy-print-config", action="store_true",
        help="print the nginx config --proxy would use, then exit")
    add("--class-port", type=int, default=None, metavar="PORT",
        help="serve everything again through the network relay on PORT: the class link "
        "students open, whose conditions the instructor changes (default: the port + 1, or a "
        "free port if that is taken; 0 picks a free one)")
    add("--no-class-link", action="store_true", help="serve no class link")
    add("--instructor-key", default=None, metavar="KEY",
        help="the key that lets the dashboard change the class link's network (default: a "
        "random one, printed at start)")
    add("--demo", action="store_true", help="play a three-minute scripted sequence of network "
        "conditions on the class link, announced on the page")
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
        ws_compress=args.ws_compress,
        workers=args.workers,
        pin_workers=args.pin_workers,
        plain=args.plain,
        allow_origins=tuple(args.allow_origin),
        chat_rate=args.chat_rate,
        ws_command_rate=args.ws_command_rate,
        presence_timeout=args.presence_timeout,
        max_connections_per_ip=args.max_connections_per_ip,
        max_loopback_connections=args.max_loopback_connections,
        log_level=args.log_level,
        broker=args.broker,
        feed=args.feed,
        class_port=(link := class_port(args)),
        behind_proxy=link is not None,  # the class link names each student in X-Forwarded-For
        instructor_key=args.instructor_key or secrets.token_urlsafe(12),
        demo=args.demo,
    )


def class_port(args: argparse.Namespace) -> int | None:
    """The class link's port from the flags (None: no class link); ValueError when it cannot
    be served."""
    if args.no_class_link:
        if args.class_port is not None:
            raise ValueError("--class-port and --no-class-link contradict each other")
        return None
    if args.workers != 1:
        if args.class_port is not None or args.demo:
            raise ValueError("the class link serves one lab process: leave out --workers")
        return None
    if args.class_port is not None:
        return args.class_port
    return args.port + 1 if 0 < args.port < 65535 else 0


def proxy_options(args: argparse.Namespace, host: str) -> ProxyOptions | None:
    """The proxy's options with free ports chosen, or None without ``--proxy``."""
    if args.proxy is None and not args.proxy_print_config:
        return None
    return ProxyOptions(
        args.proxy_profile, args.proxy_port, args.proxy_cleartext_port, args.proxy_h2c_port,
        args.proxy_nginx,
    ).resolved(host)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        settings = settings_from(args)
        proxy = proxy_options(args, settings.host)
        if args.proxy_print_config and proxy is not None:
            print(render(plan_for(proxy, settings.host, settings.port,
                                  Path("/tmp/right-now-lab-nginx-XXXXXX"), settings.longpoll_max)))
            return 0
        if proxy is not None:
            settings = settings.replace(allow_origins=settings.allow_origins
                                        + proxy.origins(settings.host), behind_proxy=True)
        if settings.workers == 1:
            asyncio.run(serve(settings, proxy))
            return 0
        if proxy is not None:
            raise ValueError("--proxy serves one lab process: leave out --workers")
        make_ticks(settings)  # a bad replay file fails here, before any worker starts
        return asyncio.run(run_primary(settings, lambda port: announce(settings, port)))
    except (ValueError, FeedError, ProxyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
