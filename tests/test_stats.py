"""``/api/stats`` byte counters equal the bytes that really crossed a raw socket."""

from __future__ import annotations

import asyncio

import pytest

from lab.settings import Settings
from lab.transports.common import STATS_KEY
from tests.conftest import QUIET

REQUESTS = {
    "poll": b"GET /api/poll?topic=prices&since=0 HTTP/1.1\r\nHost: lab\r\nUser-Agent: raw\r\n\r\n",
    "longpoll": b"GET /api/longpoll?topic=prices&since=0 HTTP/1.1\r\nHost: lab\r\n\r\n",
    "stream": b"GET /api/stream?topic=prices&since=0 HTTP/1.1\r\nHost: lab\r\n\r\n",
    "sse": b"GET /api/events?topic=prices HTTP/1.1\r\nHost: lab\r\nLast-Event-ID: 0\r\n\r\n",
    "websocket": (
        b"GET /ws?topic=prices&since=0 HTTP/1.1\r\nHost: lab\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    ),
}


@pytest.mark.parametrize("transport", list(REQUESTS))
async def test_counters_match_raw_bytes(make_lab, transport: str) -> None:
    """Request-header bytes in, and header + body + framing bytes out, are exact."""
    lab = await make_lab(Settings(rate=QUIET.rate, steady=True, heartbeat=60))
    lab.publish(3)
    reader, writer = await asyncio.open_connection(lab.host, lab.port)
    writer.write(REQUESTS[transport])
    counters = lab.app[STATS_KEY][transport]
    received = b""
    async with asyncio.timeout(5):
        while received.count(b'"seq":') < 3 or not received.endswith((b"}", b"\n")):
            received += await reader.read(65536)
        lab.publish(2)  # and two live ones, through the fast path where there is one
        while transport not in ("poll", "longpoll") and received.count(b'"seq":') < 5:
            received += await reader.read(65536)
    writer.close()
    sent = counters.response_header_bytes + counters.body_bytes + counters.framing_bytes
    assert counters.request_header_bytes == len(REQUESTS[transport])
    assert sent == len(received)
    assert counters.messages_sent == received.count(b'"seq":')
