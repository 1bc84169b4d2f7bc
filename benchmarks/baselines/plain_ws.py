"""Textbook aiohttp WebSocket broadcast: a set of sockets and a ``send_str`` loop.

``GET /ws`` joins the set; every tick the publisher encodes the message once
and awaits ``ws.send_str(text)`` for each socket in turn (iterating over a
copy, since handlers remove closed sockets meanwhile). No resume, no queue, no
slow-consumer policy: a slow socket simply makes the loop wait, which is what
the textbook version does. Incoming frames are read and ignored.
"""

from __future__ import annotations

import contextlib
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

CLIENTS = web.AppKey("clients", set[web.WebSocketResponse])


async def handle_ws(request: web.Request) -> web.WebSocketResponse:
    """Accept a socket, keep it in the set until it closes."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    clients = request.app[CLIENTS]
    clients.add(ws)
    try:
        async for _ in ws:
            pass
    finally:
        clients.discard(ws)
    return ws


async def publish(app: web.Application, rate: float, seed: int) -> None:
    """Send each tick's text to every socket, one ``await`` after another."""
    walk = PriceWalk(seed)
    async for _ in deadlines(rate):
        text = walk.next().text
        for ws in list(app[CLIENTS]):
            with contextlib.suppress(ConnectionError):
                await ws.send_str(text)


def create_app(rate: float, seed: int) -> web.Application:
    """The app: ``/ws``, ``/healthz`` and the publisher as a background task."""
    app = web.Application()
    app[CLIENTS] = set()
    app.router.add_get("/ws", handle_ws)
    app.router.add_get("/healthz", healthz)

    app.cleanup_ctx.append(background(lambda app: publish(app, rate, seed)))
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = parse_args("python -m benchmarks.baselines.plain_ws", __doc__.splitlines()[0], argv)
    return run_main(serve_app(create_app(args.rate, args.seed), args.port))


if __name__ == "__main__":
    raise SystemExit(main())
