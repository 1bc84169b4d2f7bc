"""Short polling: ``GET /api/poll?topic=prices[&since=N]`` answers at once.

Without ``since`` the body holds the latest message of each symbol; with it,
every newer message still buffered, and ``missed`` counts the newer ones the
buffer no longer holds. The handler never waits; pollers asking the same
question between two publishes share one pre-built answer
(:mod:`lab.transports.answers`).
"""

from __future__ import annotations

from aiohttp import web

from lab.transports.answers import ANSWERS_KEY, send
from lab.transports.common import STATS_KEY, count_request, parse_since, query_topic


async def handle_poll(request: web.Request) -> web.StreamResponse:
    """Answer a short poll from the topic's buffer."""
    count_request(request, "poll")
    topic = query_topic(request)
    since = parse_since(request.query.get("since"))
    return send(request, request.app[ANSWERS_KEY].answer(topic, since), request.app[STATS_KEY]["poll"])
