"""Chunked HTTP streaming: ``GET /api/stream?topic=prices[&since=N]``.

``application/x-ndjson`` over ``Transfer-Encoding: chunked``: one JSON
message per line, a blank line as heartbeat. Chunk boundaries carry no
meaning (several queued messages may share one chunk); clients split on
newlines. A resume older than the buffer starts with a
``{"topic": ..., "missed": k}`` line.
"""

from __future__ import annotations

from operator import attrgetter

from aiohttp import web

from lab.transports.common import count_request, parse_since
from lab.transports.streaming import Framing, serve_stream

NDJSON = Framing(
    transport="stream",
    content_type="application/x-ndjson",
    message=attrgetter("ndjson"),
    frame="ndjson",
    notice=lambda body: body + b"\n",
    heartbeat=b"\n",
)


async def handle_stream(request: web.Request) -> web.StreamResponse:
    """Stream the topic as NDJSON, resuming after ``since`` if given."""
    count_request(request, "stream")
    return await serve_stream(request, NDJSON, parse_since(request.query.get("since")))
