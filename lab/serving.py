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
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from lab.app import RUN_KEY, create_app
from lab.backplane import Backplane
from lab.backplane.inprocess import InProcess
from lab.backplane.workers import Link, Worker
from lab.classlink import ClassLink, start_class_link
from lab.console import NETWORK_KEY
from lab.demo import run_demo
from lab.origins import CLASSROOM_HOSTS, lan_addresses
from lab.proxy.nginx import RunningProxy, start_proxy
from lab.proxy.options import ProxyOptions
from lab.settings import Settings
from lab.site import start_site, tune_gc
from lab.transports.common import ORIGINS_KEY

log = logging.getLogger("lab")


class ClientTroubleInOneLine(logging.Filter):
    """Log what a client did wrong as one INFO line, not as an ERROR with a traceback.

    aiohttp logs "Error handling request" with a traceback both for a request
    its HTTP parser refused (it answers 400, or 413/431 for an oversized one)
    and for a client that hung up while a handler read its body (the 500 it
    answers reaches nobody): the client's doing dressed as the server's fault.
    Every other record passes as it is, so a fault of the lab's own still logs
    its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite a record of a client's doing in place; keep every record."""
        error = record.exc_info[1] if record.exc_info else None
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        if isinstance(error, HttpProcessingError) and 400 <= error.code < 500:
            reason = str(error.message).strip().splitlines()[0] if error.message else ""
            record.msg, record.args = "refused a malformed request from %s with %d: %s", (
                remote, error.code, reason)
        elif isinstance(error, ConnectionResetError):
            record.msg, record.args = "%s hung up in the middle of its request", (remote,)
        else:
            return True
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def configure_logging(level: str, process: str | None = None) -> None:
    """Log to stderr at ``level``; worker processes tag their lines; what a client did wrong
    is one line (:class:`ClientTroubleInOneLine`)."""
    tag = f"[{process}] " if process else ""
    logging.basicConfig(level=level, format=f"%(asctime)s %(levelname)s {tag}%(name)s: %(message)s")
    logging.getLogger("aiohttp.server").addFilter(ClientTroubleInOneLine())


def announce(settings: Settings, port: int, class_link: bool = False) -> None:
    """Print where to point a browser (every LAN address when serving a classroom); with a
    class link (announced by :func:`announce_class_link`) students open that instead."""
    if settings.host in CLASSROOM_HOSTS:
        print(f"Right Now Lab serving on http://127.0.0.1:{port}/", flush=True)
        for address in [] if class_link else lan_addresses():
            print(f"  students: http://{address}:{port}/   instructor: "
                  f"http://{address}:{port}/dashboard", flush=True)
    else:
        print(f"Right Now Lab serving on http://{settings.host}:{port}/", flush=True)


def page_url(settings: Settings, port: int) -> str:
    """The URL other machines reach this lab's page at (its first LAN address in a classroom)."""
    if settings.host in CLASSROOM_HOSTS:
        return f"http://{next(iter(lan_addresses()), '127.0.0.1')}:{port}/"
    return f"http://{settings.host}:{port}/"


def announce_class_link(settings: Settings, port: int, class_port: int) -> None:
    """Print the class link students open and the instructor's dashboard with its key (for
    every LAN address when serving a classroom)."""
    classroom = settings.host in CLASSROOM_HOSTS
    for host in (lan_addresses() if classroom else []) or [
            "127.0.0.1" if classroom else settings.host]:
        print(f"  class link (students): http://{host}:{class_port}/", flush=True)
        print(f"  instructor: http://{host}:{port}/dashboard?key={settings.instructor_key}",
              flush=True)


async def open_class_link(app: web.Application, settings: Settings, port: int) -> ClassLink:
    """Start the class link in front of the lab on `port`; its default port (the lab's + 1)
    gives way to a free one when taken; any other port taken is a one-line SystemExit."""
    wanted = settings.class_port or 0
    network = app[NETWORK_KEY]
    try:
        link = await start_class_link(network, settings.host, wanted, port)
    except OSError as exc:
        if wanted != port + 1:
            raise SystemExit(f"error: cannot listen on {settings.host}:{wanted} for the class "
                             f"link: {exc.strerror}") from None
        log.warning("port %d is taken: the class link takes a free port instead", wanted)
        link = await start_class_link(network, settings.host, 0, port)
    app[ORIGINS_KEY].serve_at(settings.host, link.port)  # its pages may talk to the lab
    host = "127.0.0.1" if settings.host in CLASSROOM_HOSTS else settings.host
    network.class_link = f"http://{f'[{host}]' if ':' in host else host}:{link.port}/"
    return link


def stop_signal() -> asyncio.Future[None]:
    """A future that is done once SIGINT or SIGTERM arrives (from the moment this returns)."""
    stop = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda: stop.done() or stop.set_result(None))
    return stop


async def wait_for_signal(*also: asyncio.Future[Any], stop: asyncio.Future[None] | None = None,
                          ) -> None:
    """Return on SIGINT or SIGTERM (or when any of ``also`` finishes); ``stop``: a
    :func:`stop_signal` made earlier, so a signal sent meanwhile is not missed."""
    stop = stop or stop_signal()
    await asyncio.wait({stop, *also}, return_when=asyncio.FIRST_COMPLETED)


def announce_proxy(proxy: RunningProxy) -> None:
    """Print the proxy's URL and its certificate's fingerprint (what a browser's warning shows)."""
    plan = proxy.plan
    print(f"  through nginx ({plan.profile}): {proxy.url}  (HTTP/2 and HTTP/1.1)", flush=True)
    print(f"  certificate SHA-256 {proxy.certificate.fingerprint}", flush=True)
    for port, what in ((plan.cleartext_port, "HTTP/1.1"), (plan.h2c_port, "h2c")):
        if port is not None:
            print(f"  cleartext {what} through nginx on port {port}", flush=True)


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


async def serve(settings: Settings, proxy_options: ProxyOptions | None = None) -> None:
    """One process: listen (with nginx in front if asked), announce the URLs, and run until
    SIGINT or SIGTERM; raises ``ProxyError`` if nginx cannot start or exits meanwhile."""
    backplane = await node_backplane(settings)
    app = create_app(settings, backplane)
    site = await start_site(app, settings, reuse_port=False)
    backplane.advertise(page_url(settings, site.port))
    stop = stop_signal()  # before the URLs are announced: whoever reads them may stop us
    proxy: RunningProxy | None = None
    class_link: ClassLink | None = None
    demo: asyncio.Task[None] | None = None
    try:
        if settings.class_port is not None:
            class_link = await open_class_link(app, settings, site.port)
        if proxy_options is not None:
            proxy = await start_proxy(proxy_options, settings.host, site.port,
                                      settings.longpoll_max, tuple(lan_addresses()))
        tune_gc()
        announce(settings, site.port, class_link=class_link is not None)
        if proxy is not None:
            announce_proxy(proxy)
        if class_link is not None:  # last: the lines above keep their places for scripts
            announce_class_link(settings, site.port, class_link.port)
        if settings.demo:
            demo = asyncio.create_task(run_demo(app[NETWORK_KEY]), name="demo")
        await wait_for_signal(*([proxy.exited] if proxy else []), stop=stop)
        if proxy is not None and proxy.exited.done():
            raise proxy.failure()
    finally:
        if demo is not None:
            demo.cancel()
            await asyncio.gather(demo, return_exceptions=True)
        if class_link is not None:
            await class_link.close()
        if proxy is not None:
            await proxy.stop()
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
