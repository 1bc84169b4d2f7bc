"""Server-Sent Events: ``GET /api/events?topic=prices``.

Every event is ``id: <seq>`` + ``data: <message JSON>``, so a browser's
EventSource resumes by itself: it reconnects with ``Last-Event-ID`` and the
stream continues after that seq. ``?since=N`` does the same for a first
connection; the header wins when both are present. Heartbeats are SSE comments.
A resume older than the buffer starts with a ``data:`` event carrying the
contract's ``{"topic": ..., "missed": k}`` notice (no ``id``, so it does not
move the resume point).

Written by hand rather than with aiohttp-sse: every event is pre-encoded once
in the hub and shared by all subscribers, and the byte counters must know the
exact framing, which a per-subscriber ``send()`` would rebuild each time.
"""

from __future__ import annotations

from operator import attrgetter

from aiohttp import web

from lab.transports.common import count_request, parse_since
from lab.transports.streaming import Framing, serve_stream

EVENT_STREAM = Framing(
    transport="sse",
    content_type="text/event-stream",
    message=attrgetter("sse"),
    frame="sse",
    notice=lambda body: b"data: " + body + b"\n\n",
    heartbeat=b": heartbeat\n\n",
)


async def handle_events(request: web.Request) -> web.StreamResponse:
    """Stream the topic as SSE, resuming after ``Last-Event-ID`` or ``since``."""
    count_request(request, "sse")
    header = request.headers.get("Last-Event-ID")
    if header is not None:
        since = parse_since(header.strip(), "Last-Event-ID")
    else:
        since = parse_since(request.query.get("since"))
    return await serve_stream(request, EVENT_STREAM, since)
