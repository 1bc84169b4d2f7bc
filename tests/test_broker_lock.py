"""The broker's pieces against a real redis-server, in-process: fencing, floors, takeover."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from lab.backplane.broker import Broker
from lab.backplane.feed_lock import FeedLock
from lab.backplane.redis_stream import Fenced, Sequencer
from lab.feed import gbm_ticks
from lab.hub import Hub
from lab.settings import Settings
from tests.conftest_redis import (  # noqa: F401  (fixtures, registered by being imported)
    RedisServer,
    eventually,
    redis_server_fixture,
)


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A client of the test's redis-server."""
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


async def test_a_price_without_the_lock_is_refused(redis: Redis) -> None:
    """Fencing: only the token the lock holds now may sequence a price."""
    sequencer = Sequencer(redis, Hub(), history=100)
    first, second = FeedLock(redis, ttl_ms=60_000), FeedLock(redis, ttl_ms=60_000)
    assert await first.take() and not await second.take()
    assert (await sequencer.publish("prices", {"p": 1}, token=first.token)).seq == 1
    with pytest.raises(Fenced):
        await sequencer.publish("prices", {"p": 2}, token=second.token)
    await redis.delete("rnl:feed")  # as if the lock expired while its holder was paused
    assert await second.take()
    with pytest.raises(Fenced):
        await sequencer.publish("prices", {"p": 3}, token=first.token)
    assert not await first.renew()
    assert (await sequencer.publish("prices", {"p": 4}, token=second.token)).seq == 2


async def test_seq_continues_above_what_a_node_served_after_redis_lost_its_data(
        redis: Redis) -> None:
    """After FLUSHALL the counter restarts above the node's own head, never at 1."""
    hub = Hub()
    sequencer = Sequencer(redis, hub, history=100)
    for _ in range(5):
        hub["chat"].ingest(await sequencer.publish("chat", {"kind": "message"}))
    await redis.flushall()
    assert (await sequencer.publish("chat", {"kind": "message"})).seq == 6


async def test_the_bytes_redis_builds_are_the_hubs(redis: Redis) -> None:
    """The Lua script writes the contract's JSON exactly as Message.build does."""
    data = {"symbol": "ÄCME \"q\"", "price": 101.37}
    message = await Sequencer(redis, Hub(), history=100).publish("prices", data)
    rebuilt = type(message).build("prices", message.seq, message.t_us, data)
    assert message.json == rebuilt.json


async def test_a_new_feed_node_continues_from_the_last_published_prices(redis: Redis) -> None:
    """The node that takes the lock starts its walk at the prices in the stream."""
    writer = Sequencer(redis, Hub(), history=100)
    await writer.publish("prices", {"symbol": "ACME", "price": 123.0})
    hub = Hub()
    broker = Broker(redis)
    broker.chat_room(hub, Settings(history=100))
    ticks = lambda last: gbm_ticks(("ACME",), 50.0, 1, 0.2, steady=True, last_prices=last)
    task = asyncio.create_task(broker.run(hub, ticks, dict))
    try:
        async def three() -> bool:
            """the new feed published two prices"""
            return hub["prices"].head >= 3
        await eventually(three)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    prices = [m.data["price"] for m in hub["prices"].since(1).messages]
    assert all(abs(p - 123.0) < 0.5 for p in prices), prices
