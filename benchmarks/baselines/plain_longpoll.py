"""Textbook aiohttp long poll: waiters on an ``asyncio.Condition``, one JSON body each.

``GET /api/longpoll?topic=prices&since=N[&timeout=S]`` answers at once if a
message after ``N`` is buffered, else waits on the condition (with
``asyncio.wait_for``) until the publisher's ``notify_all()`` or the timeout.
Every waiter then builds its own answer with ``web.json_response`` — the
per-request encoding the lab's shared bodies avoid. The body has the lab's
shape: ``{"messages": [...], "head": H, "missed": k}``. The last
:data:`HISTORY` messages are kept so a poller can catch up.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence
from typing import Any

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

HISTORY = 1000


class Feed:
    """The buffered messages, the head seq and the condition waiters sleep on."""

    def __init__(self) -> None:
        self.messages: collections.deque[dict[str, Any]] = collections.deque(maxlen=HISTORY)
        self.head = 0
        self.changed = asyncio.Condition()

    def after(self, since: int) -> tuple[list[dict[str, Any]], int]:
        """Buffered messages after ``since`` and how many newer ones fell out of the buffer."""
        found = [m for m in self.messages if m["seq"] > since]
        oldest = found[0]["seq"] if found else self.head + 1
        return found, max(0, oldest - since - 1)


FEED = web.AppKey("feed", Feed)


async def handle_longpoll(request: web.Request) -> web.Response:
    """Wait for a message after ``since`` (or the timeout) and answer with its own body."""
    feed = request.app[FEED]
    try:
        since = int(request.query.get("since", feed.head))
        timeout = float(request.query.get("timeout", 30))
    except ValueError:
        return web.json_response({"error": "since and timeout must be numbers"}, status=400)
    if feed.head <= since:
        async with feed.changed:
            try:
                await asyncio.wait_for(feed.changed.wait_for(lambda: feed.head > since), timeout)
            except TimeoutError:
                pass
    messages, missed = feed.after(since)
    return web.json_response({"messages": messages, "head": feed.head, "missed": missed})


async def publish(app: web.Application, rate: float, seed: int) -> None:
    """Append each tick to the buffer and wake every waiter."""
    walk = PriceWalk(seed)
    feed = app[FEED]
    async for _ in deadlines(rate):
        price = walk.next()
        async with feed.changed:
            feed.messages.append(price.message)
            feed.head = price.seq
            feed.changed.notify_all()


def create_app(rate: float, seed: int) -> web.Application:
    """The app: ``/api/longpoll``, ``/healthz`` and the publisher task."""
    app = web.Application()
    app[FEED] = Feed()
    app.router.add_get("/api/longpoll", handle_longpoll)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(background(lambda app: publish(app, rate, seed)))
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = parse_args("python -m benchmarks.baselines.plain_longpoll", __doc__.splitlines()[0],
                      argv)
    return run_main(serve_app(create_app(args.rate, args.seed), args.port))


if __name__ == "__main__":
    raise SystemExit(main())
