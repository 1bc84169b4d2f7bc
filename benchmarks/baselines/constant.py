"""A bare aiohttp handler returning a constant JSON body: short poll's ceiling.

``GET /api/poll`` (any query) answers with the same pre-encoded poll body —
one message in the lab's shape — without looking at anything. The scale suite
divides requests served by CPU seconds spent to get the most requests per
CPU-second aiohttp itself allows, and holds the lab's short poll against it.
``--rate`` and ``--seed`` are accepted for a uniform command line and only
stamp the one message.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from benchmarks.baselines.common import PriceWalk, healthz, parse_args, run_main, serve_app


def create_app(seed: int) -> web.Application:
    """The app: ``/api/poll`` with a constant body, and ``/healthz``."""
    price = PriceWalk(seed).next()
    body = b'{"messages":[%s],"head":%d,"missed":0}' % (price.text.encode(), price.seq)

    async def handle_poll(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/poll", handle_poll)
    app.router.add_get("/healthz", healthz)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = parse_args("python -m benchmarks.baselines.constant", __doc__.splitlines()[0], argv)
    return run_main(serve_app(create_app(args.seed), args.port))


if __name__ == "__main__":
    raise SystemExit(main())
