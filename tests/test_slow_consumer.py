"""A subscriber that stops reading is dropped and never delays one that reads."""

from __future__ import annotations

import asyncio
import socket
from contextlib import aclosing

import pytest

from lab.settings import Settings
from lab.transports.common import STATS_KEY
from tests.conftest import QUIET
from tests.readers import read

RAW_REQUEST = {
    "stream": b"GET /api/stream?topic=prices HTTP/1.1\r\nHost: lab\r\n\r\n",
    "sse": b"GET /api/events?topic=prices HTTP/1.1\r\nHost: lab\r\n\r\n",
    "websocket": (
        b"GET /ws?topic=prices HTTP/1.1\r\nHost: lab\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    ),
}
PAD = "x" * 30_000  # big messages fill the socket buffers in a few hundred publishes
ROUNDS, PER_ROUND = 100, 4


async def wait_until(predicate, timeout: float = 5.0) -> None:
    """Wait for a server-side counter to reach a state, bounded in time."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


@pytest.mark.parametrize("transport", list(RAW_REQUEST))
async def test_non_reader_is_dropped_and_reader_gets_everything(make_lab, transport: str) -> None:
    """The reader receives every message in order; the non-reader is cut as a slow consumer."""
    lab = await make_lab(Settings(rate=QUIET.rate, steady=True, mailbox_size=8, heartbeat=30))
    topic = lab.hub["prices"]

    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.setblocking(False)
    await asyncio.get_running_loop().sock_connect(stuck, (lab.host, lab.port))
    await asyncio.get_running_loop().sock_sendall(stuck, RAW_REQUEST[transport])
    await wait_until(lambda: topic.subscriber_count == 1)

    received: list[int] = []
    progress = asyncio.Event()

    async def reader() -> None:
        async with aclosing(read(lab.session, lab.base, transport, since=0)) as messages:
            async for message in messages:
                received.append(message["seq"])
                progress.set()
                if len(received) == ROUNDS * PER_ROUND:
                    return

    task = asyncio.create_task(reader())
    try:
        await wait_until(lambda: topic.subscriber_count == 2)
        async with asyncio.timeout(20):
            for _ in range(ROUNDS):
                for _ in range(PER_ROUND):
                    topic.publish({"symbol": "ACME", "price": 1.0, "pad": PAD})
                while len(received) < topic.head:
                    progress.clear()
                    await progress.wait()
            await task
    finally:
        task.cancel()
        stuck.close()

    assert received == list(range(1, ROUNDS * PER_ROUND + 1))
    await wait_until(lambda: lab.app[STATS_KEY][transport].slow_consumers_dropped == 1)
