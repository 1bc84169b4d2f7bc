"""The terminal trader: ``python -m clients TRANSPORT [options]`` watches prices on one transport.

Options: ``--url``, ``--topic``, ``--interval`` (short poll), ``--seconds``, ``--since``, ``--json``,
``--http2`` (HTTP/2 over ``https:`` by ALPN, or h2c over ``http:``), ``--insecure``, ``--compress``
(WebSocket's permessage-deflate).

Without ``--json`` it prints one line per message (price, latency, running counters) and a
summary at exit; with ``--json`` it prints only, at exit, one JSON object on its last stdout
line: the :class:`~clients.WireStats` keys plus ``latency_ms_p50``, ``latency_ms_p99``,
``latency_ms_max`` (and ``staleness_ms_p50``, ``staleness_ms_p99`` for short poll); a poll
client's initial snapshot is left out of the latency figures. ``auto``
picks a transport with fallback. Server down or any client error: one line on stderr, exit 1.
Ctrl-C (or SIGTERM) stops cleanly, prints the summary, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

import orjson

from lab.contract import TRANSPORTS

from .base import BaseClient
from .errors import ClientError
from .factory import COMPRESS_IS_WEBSOCKETS, WEBSOCKET_OVER_HTTP2, open_client
from .fallback import FallbackClient, connect
from .metrics import StalenessSampler, summary_ms
from .records import Received


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse and check the command line (argparse exits with code 2 on bad input)."""
    parser = argparse.ArgumentParser(
        prog="python -m clients", description="Watch the lab's live prices over one transport."
    )
    parser.add_argument("transport", choices=[*TRANSPORTS, "auto"])
    parser.add_argument("--url", action="append", default=None, help="server or relay URL "
                        "(default http://127.0.0.1:8080); repeat it to name the other nodes of "
                        "a lab that shares one feed (--broker): the client moves to the next "
                        "when one stops answering and resumes there")
    parser.add_argument("--topic", default="prices", help="prices (default) or chat")
    parser.add_argument("--interval", type=float, default=1.0, help="short poll period, seconds")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--since", type=int, default=None, help="resume after this seq")
    parser.add_argument("--json", action="store_true", help="print one JSON summary at exit")
    parser.add_argument("--http2", action="store_true", help="speak HTTP/2 (https: by ALPN, "
                        "http: as h2c); not for websocket, which nginx offers on HTTP/1.1 only")
    parser.add_argument("--insecure", action="store_true",
                        help="accept any TLS certificate (a lab proxy's throw-away one)")
    parser.add_argument("--compress", action="store_true", help="websocket: offer "
                        "permessage-deflate (the lab accepts it with --ws-compress)")
    args = parser.parse_args(argv)
    if args.compress and args.transport != "websocket":
        parser.error(COMPRESS_IS_WEBSOCKETS)
    if args.http2 and args.transport in ("websocket", "auto"):
        parser.error(f"--http2 with {args.transport}: {WEBSOCKET_OVER_HTTP2}")
    args.url = args.url or ["http://127.0.0.1:8080"]
    if not args.interval > 0:
        parser.error("--interval must be positive")
    if args.seconds is not None and not args.seconds > 0:
        parser.error("--seconds must be positive")
    if args.since is not None and args.since < 0:
        parser.error("--since must not be negative")
    return args


def live_line(received: Received, client: BaseClient | FallbackClient) -> str:
    """One human line: seq, what changed, latency and the running counters."""
    data = received.message.get("data", {})
    if isinstance(data, dict) and "symbol" in data and "price" in data:
        what = f"{data['symbol']:<8} {data['price']:>10.2f}"
    else:
        what = orjson.dumps(data).decode()[:40].ljust(19)
    stats = client.stats()
    return (
        f"#{received.seq:<8} {what}  {received.latency_us / 1000:8.1f} ms   "
        f"req {stats.requests}  rx {stats.bytes_received} B  tx {stats.bytes_sent} B  "
        f"gaps {stats.gaps}  reconnects {stats.reconnects}"
    )


def summary(stats: dict[str, Any], latencies: list[int], sampler: StalenessSampler | None) -> dict:
    """The ``--json`` object: wire counters, then latency (and staleness) percentiles in ms."""
    out: dict[str, Any] = dict(stats)
    out.update(summary_ms("latency", latencies, (50, 99, 100)))
    if sampler is not None:
        out.update(summary_ms("staleness", sampler.samples, (50, 99)))
    return out


async def consume(
    client: BaseClient | FallbackClient,
    latencies: list[int],
    sampler: StalenessSampler | None,
    live: bool,
) -> None:
    """Record every message until cancelled (or until the client stops)."""
    async for received in client:
        if not received.snapshot:
            latencies.append(received.latency_us)
        if sampler is not None:
            sampler.observe(received)
        if live:
            print(live_line(received, client), flush=True)


async def run(args: argparse.Namespace) -> int:
    """Connect, consume until time is up or a signal arrives, print the summary."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    latencies: list[int] = []
    sampler = StalenessSampler() if args.transport == "poll" else None
    if args.transport == "auto":
        client: BaseClient | FallbackClient = connect(
            args.url, topic=args.topic, since=args.since, insecure=args.insecure
        )
    else:
        client = open_client(
            args.transport, args.url, topic=args.topic, interval=args.interval, since=args.since,
            http2=args.http2, insecure=args.insecure, compress=args.compress,
        )
    async with client:
        if isinstance(client, FallbackClient) and not args.json:
            print(f"transport: {client.transport} ({client.choice_reason})", flush=True)
        tasks = [asyncio.create_task(consume(client, latencies, sampler, not args.json))]
        if sampler is not None:
            tasks.append(asyncio.create_task(sampler.run()))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait([tasks[0], stopper], timeout=args.seconds, return_when="FIRST_COMPLETED")
        for task in [*tasks, stopper]:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task  # re-raises a client error from the consumer
    result = summary(client.stats().to_dict(), latencies, sampler)
    if args.json:
        print(orjson.dumps(result).decode(), flush=True)
    else:
        print(" ".join(f"{key}={value}" for key, value in result.items()), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(argv)
    try:
        return asyncio.run(run(args))
    except (ClientError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before the signal handler was installed
        return 0
