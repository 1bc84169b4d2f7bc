"""Server-Sent Events: ``GET /api/events?topic=prices``.

SSE (the WHATWG HTML standard, §9.2 "Server-sent events") is a stream of
``text/event-stream`` text: each event is a few ``field: value`` lines and a
blank line. Every event here carries two fields::

    id: 42
    data: {"topic":"prices","seq":42,"t_us":1764160000123456,"data":{...}}
    <blank line>

The ``id`` is the seq, so a browser's ``EventSource`` resumes by itself: when
the connection drops it reconnects with a ``Last-Event-ID: 42`` header and the
stream continues after that seq. ``?since=N`` does the same for a first
connection; the header wins when both are present. A line starting with a
colon is a comment: the heartbeat. A resume older than the buffer starts with
a ``data:`` event carrying the contract's ``{"topic": ..., "missed": k}``
notice, without ``id`` so that it does not move the resume point.

The events travel in an HTTP/1.1 chunked response, written by the loop shared
with the NDJSON stream (:mod:`lab.transports.streaming`). Written by hand
rather than with aiohttp-sse so that the format stays in plain sight and the
byte counters know the exact framing.
"""

from __future__ import annotations

from aiohttp import web

from lab.hub import Message
from lab.transports.common import count_request, parse_since
from lab.transports.streaming import StreamFormat, serve_stream


def encode_event(message: Message) -> bytes:
    """One SSE event: ``id: <seq>``, ``data: <message JSON>`` and the blank line that ends it."""
    return b"id: %d\ndata: %s\n\n" % (message.seq, message.json)


def encode_notice(notice: bytes) -> bytes:
    """The ``missed`` notice as a ``data:`` event without an ``id``."""
    return b"data: " + notice + b"\n\n"


HEARTBEAT = b": heartbeat\n\n"
"""A comment line: EventSource ignores it, but the connection stays busy."""

EVENT_STREAM = StreamFormat("sse", "text/event-stream", encode_event, encode_notice, HEARTBEAT)


async def handle_events(request: web.Request) -> web.StreamResponse:
    """Stream the topic as SSE, resuming after ``Last-Event-ID`` or ``since``."""
    count_request(request, "sse")
    header = request.headers.get("Last-Event-ID")
    if header is not None:
        since = parse_since(header.strip(), "Last-Event-ID")
    else:
        since = parse_since(request.query.get("since"))
    return await serve_stream(request, EVENT_STREAM, since)
