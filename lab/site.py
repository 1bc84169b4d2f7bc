"""Listening: the app's runner, the entrance every connection takes, the socket.

:func:`start_site` is how ``python -m lab`` (and each worker of ``--workers N``)
serves an app, and how the tests serve one in-process.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass

from aiohttp import web

from lab.delivery import DELIVERY_KEY, Delivery
from lab.settings import Settings
from lab.transports.common import ORIGINS_KEY

LISTEN_BACKLOG = 4096
"""Pending connections the kernel queues for accept (capped by net.core.somaxconn)."""

SHUTDOWN_TIMEOUT = 0.5
"""Seconds to let handlers finish after Ctrl-C before they are cancelled."""


GC_YOUNG_THRESHOLD = 50_000
"""Allocations between young-generation collections (CPython's default: 700).

With thousands of connections alive, the default ran a full collection every
second or two, each an 80–100 ms pause of the whole server: in a 20 s run with
5,000 long polls, 12 full collections and 2.3 s of collector time in all; with
50,000, one full collection and 0.07 s (young collections then take ~10 ms).
"""


@dataclass(frozen=True)
class Site:
    """A listening lab: the app's runner, its delivery (which chose the entrance), the socket."""

    runner: web.AppRunner
    delivery: Delivery
    server: asyncio.Server

    @property
    def port(self) -> int:
        """The TCP port listened on."""
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening, shut the app down (held polls are answered), close every connection."""
        self.server.close()
        await self.runner.cleanup()
        self.delivery.close()


async def start_site(app: web.Application, settings: Settings, reuse_port: bool) -> Site:
    """Set up and start listening; a port that cannot be had is a one-line SystemExit."""
    access_log = logging.getLogger("lab.access") if logging.root.level <= logging.DEBUG else None
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT, access_log=access_log)
    await runner.setup()
    assert runner.server is not None
    delivery = app[DELIVERY_KEY]
    entrance = delivery.entrance(runner.server)
    try:
        # A deep accept queue: thousands of clients connect at once in class and in the benchmarks.
        server = await asyncio.get_running_loop().create_server(
            entrance, settings.host, settings.port, reuse_port=reuse_port or None,
            backlog=LISTEN_BACKLOG,
        )
    except OSError as exc:
        await runner.cleanup()
        raise SystemExit(f"error: cannot listen on {settings.host}:{settings.port}: {exc.strerror}")
    site = Site(runner, delivery, server)
    app[ORIGINS_KEY].serve_at(settings.host, site.port)  # pages of the lab itself may talk to it
    return site


def tune_gc() -> None:
    """Once serving: start-up objects are never collected again, young collections are rarer."""
    gc.collect()
    gc.freeze()  # shorter collector pauses
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
