"""What the baselines share: the command line, the price walk, serving and stopping.

Messages have the lab's exact JSON shape, compact like the lab's orjson output:
``{"topic":"prices","seq":n,"t_us":...,"data":{"symbol":...,"price":...}}``.
The floor keeps its own clock (:mod:`~benchmarks.baselines.floor`); the constant
handler has none. Apart from :func:`serve_app`, this module does no network I/O.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import random
import signal
import sys
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from lab.contract import now_us

SYMBOLS: tuple[str, ...] = ("ACME", "GLOBEX", "INITECH")
HOST = "127.0.0.1"


def build_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The shared command line: ``--port``, ``--rate``, ``--seed``."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--port", type=int, default=8090, help="TCP port on 127.0.0.1 (0: any)")
    parser.add_argument("--rate", type=float, default=10.0, help="messages per second")
    parser.add_argument("--seed", type=int, default=1, help="seed of the price walk")
    return parser


def parse_args(prog: str, description: str, argv: Sequence[str] | None = None,
               ) -> argparse.Namespace:
    """Parsed and checked arguments; a bad value exits with a one-line error."""
    parser = build_parser(prog, description)
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("port must be 0..65535")
    if not 0 < args.rate <= 10_000:
        parser.error("rate must be > 0 and at most 10000")
    return args


def announce(port: int) -> None:
    """The line the scale suite (and a human) waits for."""
    print(f"serving on http://{HOST}:{port}/", flush=True)


@dataclass(frozen=True, slots=True)
class Price:
    """One published message: its seq, publish time and compact JSON."""

    seq: int
    t_us: int
    text: str


class PriceWalk:
    """A seeded random walk over :data:`SYMBOLS` producing lab-shaped messages."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._prices = dict.fromkeys(SYMBOLS, 100.0)
        self.seq = 0

    def next(self) -> Price:
        """The next message, stamped now."""
        symbol = self._rng.choice(SYMBOLS)
        price = self._prices[symbol] * math.exp(self._rng.gauss(0.0, 0.0005))
        self._prices[symbol] = price
        self.seq += 1
        t_us = now_us()
        message = {"topic": "prices", "seq": self.seq, "t_us": t_us,
                   "data": {"symbol": symbol, "price": round(price, 4)}}
        return Price(self.seq, t_us, json.dumps(message, separators=(",", ":")))


def run_main(main: Coroutine[Any, Any, None]) -> int:
    """Run ``main`` until SIGTERM/Ctrl-C; exit status 0, never a traceback."""

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, lambda: None if stop.done() else stop.set_result(None))
        task = asyncio.ensure_future(main)
        await asyncio.wait({stop, task}, return_when=asyncio.FIRST_COMPLETED)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    try:
        asyncio.run(runner())
    except OSError as exc:
        print(f"error: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


async def serve_app(app: web.Application, port: int) -> None:
    """Listen on loopback, announce, and serve until cancelled (then clean up)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    try:
        site = web.TCPSite(runner, HOST, port, backlog=4096)
        await site.start()
        gc.collect()
        gc.freeze()
        announce(runner.addresses[0][1])
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


async def healthz(_request: web.Request) -> web.Response:
    """``GET /healthz``: 200 while serving."""
    return web.Response(text="ok")
