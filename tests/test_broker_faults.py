"""Faults of a broker, each against a real redis-server: seq never goes back, loss is told."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass, field

import aiohttp
import pytest

from tests.conftest_redis import (  # noqa: F401  (fixtures, registered by being imported)
    Node,
    NodeFactory,
    RedisServer,
    eventually,
    make_node_fixture,
    redis_server_fixture,
)

pytestmark = pytest.mark.timeout(120)


@dataclass
class Follower:
    """A WebSocket reader of ``prices`` that resumes after every close, as the clients do."""

    node: Node
    seqs: list[int] = field(default_factory=list)
    missed: int = 0
    reconnects: int = 0
    got: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, session: aiohttp.ClientSession) -> None:
        """Read until cancelled; count missed notices and reconnections."""
        while True:
            since = self.seqs[-1] if self.seqs else 0
            try:
                async with session.ws_connect(f"{self.node.base}/ws?topic=prices&since={since}",
                                              heartbeat=None) as ws:
                    async for frame in ws:
                        if frame.type is not aiohttp.WSMsgType.TEXT:
                            break
                        item = frame.json()
                        if "missed" in item:
                            # Before its first message a follower starts where history does.
                            self.missed += item["missed"] if self.seqs else 0
                        else:
                            self.seqs.append(item["seq"])
                            self.got.set()
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
            self.reconnects += 1

    async def wait_for(self, count: int) -> None:
        """Wait until ``count`` more seqs have arrived."""
        target = len(self.seqs) + count
        while len(self.seqs) < target:
            self.got.clear()
            await self.got.wait()

    def check(self) -> None:
        """Seqs only rise, none twice, and every gap was reported as missed."""
        assert all(b > a for a, b in zip(self.seqs, self.seqs[1:], strict=False)), self.seqs
        gaps = sum(b - a - 1 for a, b in zip(self.seqs, self.seqs[1:], strict=False))
        assert gaps == self.missed, (gaps, self.missed)


async def follow(session: aiohttp.ClientSession, *nodes: Node) -> tuple[list[Follower],
                                                                          list[asyncio.Task[None]]]:
    """One running follower per node."""
    followers = [Follower(node) for node in nodes]
    return followers, [asyncio.create_task(f.run(session)) for f in followers]


async def stop(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the followers' tasks."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_redis_restarted_without_its_data(make_node: NodeFactory,
                                                redis_server: RedisServer) -> None:
    """Nodes reconnect and carry on; seq continues above what was served, nothing repeats."""
    a = await make_node("--rate", "30")
    b = await make_node("--rate", "30")
    async with aiohttp.ClientSession() as session, asyncio.timeout(60):
        followers, tasks = await follow(session, a, b)
        await asyncio.gather(*(f.wait_for(20) for f in followers))
        before = max(f.seqs[-1] for f in followers)
        redis_server.stop()
        redis_server.start()
        await asyncio.gather(*(f.wait_for(30) for f in followers))
        await stop(tasks)
    for follower in followers:
        follower.check()
        assert follower.seqs[-1] > before + 20


async def test_redis_paused_two_seconds(make_node: NodeFactory,
                                        redis_server: RedisServer) -> None:
    """SIGSTOP 2 s, SIGCONT: clients keep their sockets and miss nothing."""
    a = await make_node("--rate", "30")
    b = await make_node("--rate", "30")
    async with aiohttp.ClientSession() as session, asyncio.timeout(60):
        followers, tasks = await follow(session, a, b)
        await asyncio.gather(*(f.wait_for(20) for f in followers))
        redis_server.pause()
        await asyncio.sleep(2.0)  # the fault itself lasts 2 s; the test waits on messages
        redis_server.resume()
        await asyncio.gather(*(f.wait_for(40) for f in followers))
        await stop(tasks)
    for follower in followers:
        follower.check()
        assert follower.missed == 0 and follower.reconnects == 0


@pytest.mark.parametrize("serving", ["plain", "fast"])
async def test_a_node_behind_the_history_reports_missed(make_node: NodeFactory,
                                                        serving: str) -> None:
    """A node paused past the stream's history tells its clients how many they missed."""
    flags = ("--rate", "100", "--history", "20", *(("--plain",) if serving == "plain" else ()))
    feeder = await make_node(*flags)
    slow = await make_node(*flags, "--feed", "never")
    async with aiohttp.ClientSession() as session, asyncio.timeout(60):
        followers, tasks = await follow(session, slow)
        await followers[0].wait_for(20)
        os.kill(slow.pid, signal.SIGSTOP)
        await asyncio.sleep(4.0)  # 400 prices go by: more than the stream keeps (~20 + 100)
        os.kill(slow.pid, signal.SIGCONT)
        await followers[0].wait_for(20)
        await stop(tasks)
        body = await feeder.get(session, "/api/poll?topic=prices&since=1")
    followers[0].check()
    assert followers[0].missed > 0 and followers[0].reconnects >= 1
    assert body["missed"] > 0


async def test_chat_identities_come_back_after_redis_lost_its_data(
        make_node: NodeFactory, redis_server: RedisServer) -> None:
    """Redis restarts empty: the node puts its users back, so their tokens and names hold."""
    a = await make_node("--feed", "never")
    b = await make_node("--feed", "never")
    async with aiohttp.ClientSession() as session, asyncio.timeout(60):
        async with session.post(f"{a.base}/api/chat/join", json={"user": "ada"}) as response:
            token = (await response.json())["token"]
        redis_server.stop()
        redis_server.start()

        async def ada_can_post() -> bool:
            """ada's token posts again (through the other node)"""
            async with session.post(f"{b.base}/api/chat", json={"text": "back"},
                                    headers={"Authorization": f"Bearer {token}"}) as response:
                return response.status == 201

        await eventually(ada_can_post)
        async with session.post(f"{b.base}/api/chat/join", json={"user": "ada"}) as response:
            assert response.status == 409
