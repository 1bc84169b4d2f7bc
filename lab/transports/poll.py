"""Short polling: ``GET /api/poll?topic=prices[&since=N]`` answers at once.

Without ``since`` the body holds the latest message of each symbol; with it,
every newer message still buffered, and ``missed`` counts the newer ones the
buffer no longer holds. The handler never waits.
"""

from __future__ import annotations

from aiohttp import web

from lab.transports.common import (
    STATS_KEY,
    count_request,
    json_response,
    parse_since,
    poll_body,
    query_topic,
)


async def handle_poll(request: web.Request) -> web.Response:
    """Answer a short poll from the topic's buffer."""
    count_request(request, "poll")
    topic = query_topic(request)
    since = parse_since(request.query.get("since"))
    if since is None:
        messages, missed, head = topic.latest(), 0, topic.head
    else:
        backlog = topic.since(since)
        messages, missed, head = backlog.messages, backlog.missed, backlog.head
    request.app[STATS_KEY]["poll"].messages_sent += len(messages)
    return json_response(poll_body(messages, head, missed))
