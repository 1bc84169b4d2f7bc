"""``python -m lab --workers 2``: one feed, one seq order and resume on every worker."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import NamedTuple

import aiohttp
import pytest

from lab.cluster import worker_cpus

WORKERS = 2
CHAT_BURST = 4


class Cluster(NamedTuple):
    """A running ``python -m lab --workers 2``."""

    url: str
    pid: int


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    """A primary with two workers on a free port, in its own process group."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lab", "--port", "0", "--workers", str(WORKERS), "--rate", "50",
        "--log-level", "WARNING", "--chat-rate", f"0.001/{CHAT_BURST}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )
    assert process.stdout is not None and process.stderr is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    match = re.search(r"serving on (http://\S+?)/", line)
    assert match, line + (await process.stderr.read()).decode()
    yield Cluster(match.group(1), process.pid)
    if process.returncode is None:
        os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C in a terminal does
    status = await asyncio.wait_for(process.wait(), 10)
    err = (await process.stderr.read()).decode()
    assert status == 0 and "Traceback" not in err, (status, err)


async def read_seqs(session: aiohttp.ClientSession, base: str, since: int, count: int) -> list[int]:
    """``count`` seqs from one WebSocket connection resuming after ``since``."""
    async with session.ws_connect(f"{base}/ws?topic=prices&since={since}") as ws:
        return [(await ws.receive_json())["seq"] for _ in range(count)]


async def test_every_connection_sees_one_order_and_resumes(cluster: Cluster) -> None:
    """Connections spread over the workers all resume after the same seq and agree on order."""
    base = cluster.url
    async with aiohttp.ClientSession() as session, asyncio.timeout(30):
        async with session.get(f"{base}/api/longpoll?since=20") as response:
            head = (await response.json())["head"]
        start = head - 10
        runs = await asyncio.gather(*(read_seqs(session, base, start, 40) for _ in range(8)))
        async with session.get(f"{base}/api/stats") as response:
            stats = await response.json()
    expected = list(range(start + 1, start + 41))
    assert all(run == expected for run in runs)
    assert stats["workers"] == WORKERS
    assert stats["transports"]["websocket"]["requests"] == 8


async def test_chat_presence_is_shared_by_all_workers(cluster: Cluster) -> None:
    """Joins through any worker count in one room, and every socket hears every event."""
    base = cluster.url
    async with aiohttp.ClientSession() as session, asyncio.timeout(30):
        sockets = [await session.ws_connect(f"{base}/ws") for _ in range(6)]
        for i, ws in enumerate(sockets):
            await ws.send_json({"type": "subscribe", "topic": "chat", "user": f"user{i}"})
        onlines = []
        for _ in range(6):
            onlines.append((await sockets[0].receive_json())["data"]["online"])
        async with session.post(f"{base}/api/chat/join", json={"user": "x"}) as r:
            token = (await r.json())["token"]
        async with session.post(f"{base}/api/chat", json={"text": "hi"},
                                headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 201
        for ws in sockets:
            while (message := await ws.receive_json())["data"]["kind"] != "message":
                pass
            assert message["data"]["text"] == "hi"
            await ws.close()
    assert onlines == [1, 2, 3, 4, 5, 6]


async def test_a_token_works_on_every_worker_and_the_limits_are_shared(cluster: Cluster) -> None:
    """Identities live in the primary's room: a token joined through one connection posts
    through fresh connections (spread over the workers by the kernel), a name is taken on all
    of them, the post limit is counted once, and a leave ends the token everywhere."""
    base = cluster.url
    fresh = aiohttp.TCPConnector(force_close=True)  # a new connection, maybe another worker
    async with aiohttp.ClientSession(connector=fresh) as session, asyncio.timeout(30):

        async def post(path: str, body: dict, token: str | None = None) -> tuple[int, dict]:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with session.post(base + path, json=body, headers=headers) as response:
                return response.status, await response.json()

        status, joined = await post("/api/chat/join", {"user": "ada"})
        token = joined["token"]
        assert status == 201
        assert [(await post("/api/chat/join", {"user": "ada"}))[0] for _ in range(4)] == [409] * 4
        assert (await post("/api/chat", {"user": "bob", "text": "hi"}, token))[0] == 403
        statuses = [(await post("/api/chat", {"text": f"{i}"}, token))[0]
                    for i in range(CHAT_BURST + 2)]
        assert statuses == [201] * CHAT_BURST + [429, 429]
        polls = [f"{base}/api/{path}?topic=chat&since=0&token={token}"
                 for path in ("poll", "longpoll", "stream")]
        for url in polls:  # a connection carrying the token holds the identity, on any worker
            async with session.get(url) as response:
                assert response.status == 200
        assert (await post("/api/chat/leave", {}, token))[0] == 200
        assert [(await post("/api/chat/leave", {}, token))[0] for _ in range(4)] == [401] * 4
        async with session.get(polls[0]) as response:
            assert response.status == 401


def worker_pids(primary: int) -> list[int]:
    """The primary's worker processes (its other child is multiprocessing's resource tracker)."""
    children = Path(f"/proc/{primary}/task/{primary}/children").read_text().split()
    return [int(pid) for pid in children
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


async def test_each_worker_runs_on_a_cpu_of_its_own(cluster: Cluster) -> None:
    """With as many CPUs as workers, each worker is pinned to a different one."""
    allowed = os.sched_getaffinity(0)
    if len(allowed) < WORKERS:
        pytest.skip(f"{len(allowed)} CPU(s): fewer than the workers, so none is pinned")
    pids = worker_pids(cluster.pid)
    assert len(pids) == WORKERS
    assert sorted(min(os.sched_getaffinity(pid)) for pid in pids) == sorted(allowed)[:WORKERS]
    assert all(len(os.sched_getaffinity(pid)) == 1 for pid in pids)


@pytest.mark.parametrize(
    ("workers", "allowed", "expected"),
    [(2, {0, 1}, [0, 1]), (2, {3, 1, 7}, [1, 3]), (1, {5}, [5]), (3, {0, 1}, None)],
)
def test_worker_cpus_gives_each_worker_its_own_cpu_or_none(
    workers: int, allowed: set[int], expected: list[int] | None
) -> None:
    """One distinct CPU per worker when enough are allowed; else None (the kernel places them)."""
    assert worker_cpus(workers, allowed) == expected
