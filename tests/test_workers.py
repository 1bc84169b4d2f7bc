"""``python -m lab --workers 2``: one feed, one seq order and resume on every worker."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest

WORKERS = 2


@pytest.fixture
async def cluster() -> AsyncIterator[str]:
    """A primary with two workers on a free port, in its own process group."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lab", "--port", "0", "--workers", str(WORKERS), "--rate", "50",
        "--log-level", "WARNING",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )
    assert process.stdout is not None and process.stderr is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    match = re.search(r"serving on (http://\S+?)/", line)
    assert match, line + (await process.stderr.read()).decode()
    yield match.group(1)
    if process.returncode is None:
        os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C in a terminal does
    status = await asyncio.wait_for(process.wait(), 10)
    err = (await process.stderr.read()).decode()
    assert status == 0 and "Traceback" not in err, (status, err)


async def read_seqs(session: aiohttp.ClientSession, base: str, since: int, count: int) -> list[int]:
    """``count`` seqs from one WebSocket connection resuming after ``since``."""
    async with session.ws_connect(f"{base}/ws?topic=prices&since={since}") as ws:
        return [(await ws.receive_json())["seq"] for _ in range(count)]


async def test_every_connection_sees_one_order_and_resumes(cluster: str) -> None:
    """Connections spread over the workers all resume after the same seq and agree on order."""
    async with aiohttp.ClientSession() as session, asyncio.timeout(30):
        async with session.get(f"{cluster}/api/longpoll?since=20") as response:
            head = (await response.json())["head"]
        start = head - 10
        runs = await asyncio.gather(*(read_seqs(session, cluster, start, 40) for _ in range(8)))
        async with session.get(f"{cluster}/api/stats") as response:
            stats = await response.json()
    expected = list(range(start + 1, start + 41))
    assert all(run == expected for run in runs)
    assert stats["workers"] == WORKERS
    assert stats["transports"]["websocket"]["requests"] == 8


async def test_chat_presence_is_shared_by_all_workers(cluster: str) -> None:
    """Joins through any worker count in one room, and every socket hears every event."""
    async with aiohttp.ClientSession() as session, asyncio.timeout(30):
        sockets = [await session.ws_connect(f"{cluster}/ws") for _ in range(6)]
        for i, ws in enumerate(sockets):
            await ws.send_json({"type": "subscribe", "topic": "chat", "user": f"user{i}"})
        onlines = []
        for _ in range(6):
            onlines.append((await sockets[0].receive_json())["data"]["online"])
        async with session.post(f"{cluster}/api/chat", json={"user": "x", "text": "hi"}) as r:
            assert r.status == 201
        for ws in sockets:
            while (message := await ws.receive_json())["data"]["kind"] != "message":
                pass
            assert message["data"]["text"] == "hi"
            await ws.close()
    assert onlines == [1, 2, 3, 4, 5, 6]
