"""Chunked HTTP streaming: ``GET /api/stream?topic=prices[&since=N]``.

One response that never ends, sent with ``Transfer-Encoding: chunked``
(RFC 9112 §7.1), whose body is NDJSON (``application/x-ndjson``): one JSON
message per line::

    {"topic":"prices","seq":42,"t_us":1764160000123456,"data":{...}}\\n

A blank line is the heartbeat. Chunk boundaries carry no meaning — several
queued messages may share one chunk, and a proxy may split or merge chunks —
so clients split on newlines, never on chunks. A resume older than the buffer
starts with a ``{"topic": ..., "missed": k}`` line. The loop that writes is
shared with SSE (:mod:`lab.transports.streaming`).
"""

from __future__ import annotations

from aiohttp import web

from lab.hub import Message
from lab.transports.common import count_request, parse_since
from lab.transports.streaming import StreamFormat, serve_stream


def encode_line(message: Message) -> bytes:
    """One NDJSON line: the message's JSON and a newline."""
    return message.json + b"\n"


def encode_notice(notice: bytes) -> bytes:
    """The ``missed`` notice as a line of its own."""
    return notice + b"\n"


HEARTBEAT = b"\n"
"""An empty line: no message, but the stream is alive."""

NDJSON = StreamFormat("stream", "application/x-ndjson", encode_line, encode_notice, HEARTBEAT)


async def handle_stream(request: web.Request) -> web.StreamResponse:
    """Stream the topic as NDJSON, resuming after ``since`` if given."""
    count_request(request, "stream")
    return await serve_stream(request, NDJSON, parse_since(request.query.get("since")))
