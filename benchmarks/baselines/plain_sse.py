"""Textbook aiohttp Server-Sent Events: a set of StreamResponses and a ``write`` loop.

``GET /api/events`` prepares a ``text/event-stream`` response and parks its
handler; every tick the publisher formats ``id: <seq>`` + ``data: <json>`` once
and awaits ``resp.write(event)`` for each response in turn. A write that fails
(the client went away) removes that response and releases its handler. No
resume (``Last-Event-ID`` is ignored), no queue, no heartbeat.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import web

from benchmarks.baselines.common import (
    PriceWalk,
    background,
    deadlines,
    healthz,
    parse_args,
    run_main,
    serve_app,
)

CLIENTS = web.AppKey("clients", dict[web.StreamResponse, asyncio.Event])


async def handle_events(request: web.Request) -> web.StreamResponse:
    """Start an event stream and hold it open until a write to it fails."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-store"})
    await resp.prepare(request)
    gone = asyncio.Event()
    request.app[CLIENTS][resp] = gone
    try:
        await gone.wait()
    finally:
        request.app[CLIENTS].pop(resp, None)
    return resp


async def publish(app: web.Application, rate: float, seed: int) -> None:
    """Write each tick's event to every stream, one ``await`` after another."""
    walk = PriceWalk(seed)
    clients = app[CLIENTS]
    async for _ in deadlines(rate):
        price = walk.next()
        event = f"id: {price.seq}\ndata: {price.text}\n\n".encode()
        for resp, gone in list(clients.items()):
            try:
                await resp.write(event)
            except ConnectionError:
                clients.pop(resp, None)
                gone.set()


def create_app(rate: float, seed: int) -> web.Application:
    """The app: ``/api/events``, ``/healthz`` and the publisher task."""
    app = web.Application()
    app[CLIENTS] = {}
    app.router.add_get("/api/events", handle_events)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(background(lambda app: publish(app, rate, seed)))
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = parse_args("python -m benchmarks.baselines.plain_sse", __doc__.splitlines()[0], argv)
    return run_main(serve_app(create_app(args.rate, args.seed), args.port))


if __name__ == "__main__":
    raise SystemExit(main())
