"""Raw-socket HTTP for the tests: exact request bytes out, whole responses back."""

from __future__ import annotations

import asyncio

from lab.delivery import DELIVERY_KEY
from lab.fast import FastDelivery
from tests.conftest import Lab


async def open_poll(lab: Lab, query: str, request_tail: str = "HTTP/1.1\r\nHost: t\r\n",
                    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw socket with one long-poll request sent on it."""
    reader, writer = await asyncio.open_connection(lab.host, lab.port)
    writer.write(f"GET /api/longpoll?{query} {request_tail}\r\n".encode())
    await writer.drain()
    return reader, writer


async def read_answer(reader: asyncio.StreamReader) -> tuple[bytes, dict[str, str], bytes]:
    """One response: head bytes, headers (lower-case names) and body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:] if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 5)
    return head, headers, body


def waiting(lab: Lab) -> int:
    """Long polls the server holds: at the front door, or (textbook) in mailboxes of their own
    (the only subscribers in the tests that use this)."""
    delivery = lab.app[DELIVERY_KEY]
    at_door = len(delivery.held_polls) if isinstance(delivery, FastDelivery) else 0
    return at_door + sum(topic.subscriber_count for topic in lab.hub.topics.values())


async def held(lab: Lab, count: int) -> None:
    """Wait until the server holds ``count`` long polls (a counter, bounded in time)."""
    async with asyncio.timeout(5):
        while waiting(lab) != count:
            await asyncio.sleep(0.005)
