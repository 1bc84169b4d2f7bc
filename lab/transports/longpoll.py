"""Long polling: ``GET /api/longpoll?topic=prices&since=N[&timeout=S]``.

The request is held until a message with a seq above ``since`` exists or the
timeout passes (default 30 s, at most 120); the answer then carries every
buffered message after ``since`` (several, if they arrived together — the
batching RFC 6202 describes), so nothing buffered is ever skipped. A timeout
answers with an empty ``messages``. Without ``since`` the poll waits for the
next message after the current head.

Every waiter for the same ``since`` gets the same body, encoded once per
published head (see :class:`lab.transports.common.BodyCache`).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from lab.transports.common import (
    BODY_CACHE_KEY,
    SETTINGS_KEY,
    STATS_KEY,
    count_request,
    json_response,
    parse_seconds,
    parse_since,
    poll_body,
    query_topic,
)


async def handle_longpoll(request: web.Request) -> web.Response:
    """Hold the request until there is news after ``since``, or time out."""
    count_request(request, "longpoll")
    settings = request.app[SETTINGS_KEY]
    topic = query_topic(request)
    since = parse_since(request.query.get("since"))
    timeout = parse_seconds(
        request.query.get("timeout"), settings.longpoll_default, settings.longpoll_max, "timeout"
    )
    # A resume point beyond the head (say, from before a server restart) waits for the next message.
    since = topic.head if since is None else min(since, topic.head)
    if topic.head <= since:
        try:
            async with asyncio.timeout(timeout):  # no extra task per waiter, unlike wait_for
                await topic.wait_beyond(since)
        except TimeoutError:
            return json_response(poll_body([], topic.head, 0))
    body, count = request.app[BODY_CACHE_KEY].body(topic, since)
    request.app[STATS_KEY]["longpoll"].messages_sent += count
    return json_response(body)
