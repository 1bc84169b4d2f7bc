"""The aiohttp application: routes, counters, error bodies, the feed's lifetime.

:func:`create_app` wires the hub, the feed and the five transports together
and nothing else; listening is :mod:`lab.site`'s job, and running it (signals,
workers) :mod:`lab.__main__`'s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path

import orjson
from aiohttp import web

from lab.backplane import Backplane
from lab.backplane.inprocess import InProcess
from lab.chat.http import CHAT_KEY, setup_chat
from lab.console import setup_console
from lab.contract import now_us
from lab.delivery import DELIVERY_KEY, Delivery
from lab.fast import FastDelivery
from lab.feed import Tick, gbm_ticks, load_replay, replay_ticks
from lab.hub import Hub
from lab.origins import OriginPolicy
from lab.settings import Settings
from lab.stats import ServerStats
from lab.transports.common import (
    HUB_KEY,
    LIVE_KEY,
    NO_STORE,
    ORIGINS_KEY,
    SETTINGS_KEY,
    SHUTDOWN,
    STATS_KEY,
    TRANSPORT_BY_PATH,
    LiveConnections,
    PageResponse,
    count_request,
    json_error,
    json_response,
    refuse_foreign,
)
from lab.transports.longpoll import handle_longpoll
from lab.transports.poll import handle_poll
from lab.transports.sse import handle_events
from lab.transports.stream import handle_stream
from lab.transports.websocket import handle_ws

log = logging.getLogger("lab")

STATIC_DIR = Path(__file__).parent / "static"
OPENAPI = Path(__file__).parent / "openapi.yaml"
"""The OpenAPI 3 document of the HTTP API (``docs/openapi.yaml`` links to it)."""
STARTED_KEY = web.AppKey("started", float)
BACKPLANE_KEY = web.AppKey("backplane", Backplane)
RUN_KEY = web.AppKey("run", asyncio.Task)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


ALLOWED_METHODS = {
    **dict.fromkeys(TRANSPORT_BY_PATH, "GET"),
    **dict.fromkeys(("/api/chat", "/api/chat/join", "/api/chat/leave"), "POST"),
    **dict.fromkeys(
        ("/api/stats", "/api/time", "/api/openapi.yaml", "/healthz", "/", "/dashboard"), "GET"),
    "/api/network": "GET, PUT",
}


async def handle_unrouted(request: web.Request) -> web.Response:
    """Every request no route took: 405 on a known path, 404 elsewhere, with a JSON reason.

    The lab uses no middleware: a middleware keeps a frame alive for every open
    WebSocket and stream (about 1 KB each at thousands of clients).
    """
    transport = TRANSPORT_BY_PATH.get(request.path, "other")
    if transport != "other":  # "other" requests are counted with their response
        count_request(request, transport)
    refuse_foreign(request)
    allowed = ALLOWED_METHODS.get(request.path)
    if allowed is not None:
        body = orjson.dumps({"error": f"method {request.method} not allowed; use {allowed}"})
        return json_response(body, status=405, headers={"Allow": allowed})
    return json_response(orjson.dumps({"error": f"no such path: {request.path}"}), status=404)


def make_ticks(settings: Settings, last_prices: Mapping[str, float] | None = None,
               ) -> Iterator[Tick]:
    """The feed's tick iterator; a bad replay file raises here, before the server starts.

    ``last_prices`` (a feed taking over from another node's) start the walk where it
    left off; a replay starts over.
    """
    if settings.replay is not None:
        return replay_ticks(load_replay(settings.replay), settings.speed)
    return gbm_ticks(
        settings.symbols,
        settings.rate,
        settings.seed,
        settings.volatility,
        settings.drift,
        settings.start_price,
        steady=settings.steady,
        last_prices=last_prices,
    )


async def shut_down_live(app: web.Application) -> None:
    """Answer held long polls, end streams and close sockets with 1001."""
    app[DELIVERY_KEY].shutdown()
    app[LIVE_KEY].shutdown()
    app[HUB_KEY].close(SHUTDOWN)


def sum_snapshots(snapshots: list[dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    """Add up counter snapshots of several worker processes."""
    total: dict[str, dict[str, int]] = {}
    for snapshot in snapshots:
        for transport, counters in snapshot.items():
            into = total.setdefault(transport, dict.fromkeys(counters, 0))
            for name, value in counters.items():
                into[name] += value
    return total


async def handle_stats(request: web.Request) -> web.Response:
    """``GET /api/stats``: counters per transport (all workers), topic heads and subscribers."""
    refuse_foreign(request)
    app = request.app
    snapshots = await app[BACKPLANE_KEY].counters(app[STATS_KEY].snapshot)
    snapshot, workers = sum_snapshots(snapshots), len(snapshots)
    other = snapshot.pop("other")
    topics = {
        name: {"head": topic.head, "subscribers": topic.subscriber_count}
        for name, topic in app[HUB_KEY].topics.items()
    }
    topics["chat"]["online"] = app[CHAT_KEY].online
    body = {
        "transports": snapshot,
        "other": other,
        "topics": topics,
        "uptime_s": round(time.monotonic() - app[STARTED_KEY], 3),
        "workers": workers,
        "serving": app[DELIVERY_KEY].name,
        "backplane": app[BACKPLANE_KEY].name,
        "nodes": await app[BACKPLANE_KEY].nodes(),
    }
    return json_response(orjson.dumps(body))


async def handle_health(request: web.Request) -> web.Response:
    """``GET /healthz``: 200 while serving."""
    refuse_foreign(request)
    return json_response(b'{"status":"ok"}')


async def handle_time(request: web.Request) -> web.Response:
    """``GET /api/time``: the server's wall clock, for a remote browser's offset estimate."""
    refuse_foreign(request)
    return json_response(b'{"t_us":%d}' % now_us())


async def handle_openapi(request: web.Request) -> web.StreamResponse:
    """``GET /api/openapi.yaml``: the OpenAPI 3 document of the HTTP API."""
    refuse_foreign(request)
    return PageResponse(OPENAPI, headers={**NO_STORE, "Content-Type": "application/yaml"})


def _page(name: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        refuse_foreign(request)
        return PageResponse(STATIC_DIR / name, headers=NO_STORE)

    handler.__doc__ = f"Serve {name}."
    return handler


async def handle_static(request: web.Request) -> web.StreamResponse:
    """``GET /static/NAME``: a file of the page (the folder is flat; nothing outside it)."""
    refuse_foreign(request)
    path = STATIC_DIR / request.match_info["name"]
    if path.parent != STATIC_DIR or not path.is_file():
        raise json_error(web.HTTPNotFound, f"no such file: {request.path}")
    return PageResponse(path, headers=NO_STORE)


async def backplane_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Keep the hub fed by the backplane (run the feed, or follow) while the app runs."""
    settings = app[SETTINGS_KEY]
    ticks = lambda last: make_ticks(settings, last)
    task = asyncio.create_task(
        app[BACKPLANE_KEY].run(app[HUB_KEY], ticks, app[STATS_KEY].snapshot), name="backplane"
    )
    app[RUN_KEY] = task
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def create_app(settings: Settings | None = None, backplane: Backplane | None = None,
               ) -> web.Application:
    """Build the lab's application for ``settings`` (defaults when omitted).

    The ``backplane`` (:mod:`lab.backplane`; in-process when omitted) decides who
    sequences the hub's messages: this process, the primary of ``--workers N``,
    or a broker. ``settings.plain`` serves the textbook transports alone, without
    :mod:`lab.fast`. A bad replay file raises here, before anything listens.
    """
    settings = settings or Settings()
    app = web.Application(client_max_size=settings.max_body)
    app[SETTINGS_KEY] = settings
    app[ORIGINS_KEY] = OriginPolicy(settings.allow_origins)  # the server's own: once it listens
    app[HUB_KEY] = Hub(settings.history)
    app[STATS_KEY] = ServerStats()
    app[LIVE_KEY] = LiveConnections()
    # The one place the engineered path is wired in (see lab.delivery).
    app[DELIVERY_KEY] = Delivery(app) if settings.plain else FastDelivery(app)
    app[STARTED_KEY] = time.monotonic()
    app[BACKPLANE_KEY] = backplane = backplane or InProcess()
    make_ticks(settings)  # a bad replay file fails now
    app.cleanup_ctx.append(backplane_lifetime)
    setup_chat(app, backplane.chat_room(app[HUB_KEY], settings))

    app.on_shutdown.append(shut_down_live)

    router = app.router
    router.add_get("/api/poll", handle_poll)
    router.add_get("/api/longpoll", handle_longpoll)
    router.add_get("/api/stream", handle_stream)
    router.add_get("/api/events", handle_events)
    router.add_get("/ws", handle_ws)
    router.add_get("/api/stats", handle_stats)
    router.add_get("/api/time", handle_time)
    router.add_get("/api/openapi.yaml", handle_openapi)
    router.add_get("/healthz", handle_health)
    setup_console(app)
    router.add_get("/", _page("index.html"))
    router.add_get("/dashboard", _page("dashboard.html"))
    router.add_get("/static/{name:[A-Za-z0-9_-][A-Za-z0-9_.-]*}", handle_static)
    router.add_route("*", r"/{path:[\s\S]*}", handle_unrouted)  # "." would miss a newline
    return app

