"""Serving an app in this process until SIGINT or SIGTERM: one lab, or one worker of several.

:func:`serve` is ``python -m lab``'s single process (alone, or a node of a
broker); :func:`serve_worker` is one of ``--workers N`` (started by
:mod:`lab.cluster`). Both listen with :func:`lab.site.start_site` and print
where to point a browser.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from lab.app import RUN_KEY, create_app
from lab.backplane import Backplane
from lab.backplane.inprocess import InProcess
from lab.backplane.workers import Link, Worker
from lab.origins import CLASSROOM_HOSTS, lan_addresses
from lab.settings import Settings
from lab.site import start_site, tune_gc


def configure_logging(level: str, process: str | None = None) -> None:
    """Log to stderr at ``level``; worker processes tag their lines."""
    tag = f"[{process}] " if process else ""
    logging.basicConfig(level=level, format=f"%(asctime)s %(levelname)s {tag}%(name)s: %(message)s")


def announce(settings: Settings, port: int) -> None:
    """Print where to point a browser (every LAN address when serving a classroom)."""
    if settings.host in CLASSROOM_HOSTS:
        print(f"Right Now Lab serving on http://127.0.0.1:{port}/", flush=True)
        for address in lan_addresses():
            print(f"  students: http://{address}:{port}/   instructor: "
                  f"http://{address}:{port}/dashboard", flush=True)
    else:
        print(f"Right Now Lab serving on http://{settings.host}:{port}/", flush=True)


def page_url(settings: Settings, port: int) -> str:
    """The URL other machines reach this lab's page at (its first LAN address in a classroom)."""
    if settings.host in CLASSROOM_HOSTS:
        return f"http://{next(iter(lan_addresses()), '127.0.0.1')}:{port}/"
    return f"http://{settings.host}:{port}/"


async def wait_for_signal(*also: asyncio.Future[object]) -> None:
    """Return on SIGINT or SIGTERM (or when any of ``also`` finishes)."""
    stop = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda: stop.done() or stop.set_result(None))
    await asyncio.wait({stop, *also}, return_when=asyncio.FIRST_COMPLETED)


async def node_backplane(settings: Settings) -> Backplane:
    """This machine's backplane: in-process, or a node of ``--broker``.

    The broker's module (and Redis's client) is imported only when one is asked
    for. A bad URL or an unreachable Redis raises
    :class:`lab.backplane.broker.BrokerError` (a ``ValueError``: one line, exit 1).
    """
    if settings.broker is None:
        return InProcess()
    from lab.backplane.broker import connect_broker

    return await connect_broker(settings.broker, settings.feed)


async def serve(settings: Settings) -> None:
    """One process: listen, announce the URLs, and run until SIGINT or SIGTERM."""
    backplane = await node_backplane(settings)
    app = create_app(settings, backplane)
    site = await start_site(app, settings, reuse_port=False)
    backplane.advertise(page_url(settings, site.port))
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
    app = create_app(settings, Worker(link))
    site = await start_site(app, settings, reuse_port=True)
    tune_gc()
    link.send({"op": "ready"})
    try:
        await wait_for_signal(app[RUN_KEY])  # the primary going away ends the worker too
    finally:
        await site.close()
        writer.close()
