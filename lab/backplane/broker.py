"""The broker backplane: ``python -m lab --broker redis://…``, nodes that share one feed.

Redis is the one authority for ``seq`` and history
(:mod:`lab.backplane.redis_stream`); each node's hub is a replica that reads
the streams, so every node sends the same bytes and a client resumes on any
node. Publishing — feed ticks and chat — goes to Redis, never straight into
the hub.

Which node runs the price feed (``--feed``):

- ``auto`` (default): whichever node takes the feed lock
  (:mod:`lab.backplane.feed_lock`); the others try again every second, so
  when the feed's node dies another continues the prices from the last
  published ones within a few seconds;
- ``always``: this node must run it — it takes the lock at start or refuses
  to start (another node's feed holds it), then behaves as ``auto``;
- ``never``: this node only serves.

The chat room is :mod:`lab.backplane.presence`'s. Errors a user can fix — a
bad URL, a Redis that does not answer at start — are a :class:`BrokerError`,
one line naming the URL (password hidden).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from lab.backplane import Counters, TickSource
from lab.backplane.feed_lock import RENEW_EVERY_S, FeedLock
from lab.backplane.presence import BrokerChatRoom
from lab.backplane.redis_stream import UNAVAILABLE, Fenced, Sequencer, StreamReader
from lab.chat.room import ChatService
from lab.feed import run_feed
from lab.hub import Hub
from lab.settings import FEED_MODES, Settings

log = logging.getLogger("lab.broker")

STOP_WAIT_S = 3.0
"""How long a stopping node waits for its broker tasks and its goodbye to Redis."""
SOCKET_TIMEOUT_S = 5.0
"""How long one Redis call may take before the node counts Redis as gone: longer than
``XREAD``'s block and than a short pause that nodes should ride out."""


class BrokerError(ValueError):
    """The broker cannot be used (bad URL, unreachable, the feed lock taken): one line."""


def shown(url: str) -> str:
    """``url`` with its password hidden, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def connect_broker(url: str, feed: str = "auto") -> Broker:
    """Connect to the broker at ``url`` and check it answers; :class:`BrokerError` if not."""
    if feed not in FEED_MODES:
        raise BrokerError(f"--feed must be one of {', '.join(FEED_MODES)}")
    try:
        redis = Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=2.0,
                               retry=Retry(NoBackoff(), 0))
    except ValueError as exc:
        raise BrokerError(f"bad broker URL {shown(url)}: {exc}") from None
    try:
        await redis.ping()
    except (RedisError, *UNAVAILABLE) as exc:
        await redis.aclose()
        raise BrokerError(f"cannot reach the broker at {shown(url)}: {exc}") from None
    broker = Broker(redis, feed)
    if feed == "always" and not await broker.lock.take():
        await redis.aclose()
        raise BrokerError(f"another node runs the feed of {shown(url)}; use --feed auto or never")
    return broker


class Replica:
    """A node's hub kept in step with Redis: who publishes, who reads, the chat room."""

    def __init__(self, redis: Redis, hub: Hub, settings: Settings, node: str) -> None:
        self.hub = hub
        self.sequencer = Sequencer(redis, hub, settings.history)
        self.reader = StreamReader(redis, hub, self.sequencer)
        self.room = BrokerChatRoom(redis, self.sequencer, hub, node, settings.chat_rate,
                                   settings.presence_timeout)


class Broker:
    """One node of a lab that Redis sequences (see :mod:`lab.backplane`)."""

    name = "redis"

    def __init__(self, redis: Redis, feed: str = "auto") -> None:
        self.redis = redis
        self.feed = feed
        self.node = secrets.token_hex(6)
        self.lock = FeedLock(redis)
        self.stopped = False
        """Set when the node stops: every loop of the broker ends at its next turn."""
        self._replica: Replica | None = None

    def replica(self, hub: Hub) -> Replica:
        """What this node keeps in step with Redis (made by :meth:`chat_room` for its hub)."""
        if self._replica is None or self._replica.hub is not hub:
            raise ValueError("a broker node serves the one hub its chat room was made for")
        return self._replica

    def chat_room(self, hub: Hub, settings: Settings) -> ChatService:
        """The room whose identities are in Redis (this makes the node's replica of ``hub``)."""
        if self._replica is not None:
            raise ValueError("a broker node serves one hub")
        self._replica = Replica(self.redis, hub, settings, self.node)
        return self._replica.room

    async def counters(self, own: Counters) -> list[dict[str, Any]]:
        """This node's counters (each node reports its own)."""
        return [own()]

    def advertise(self, url: str) -> None:
        """Announce ``url`` as this node's page from the next heartbeat on."""
        if self._replica is not None:
            self._replica.room.advertise(url)

    async def nodes(self) -> list[str]:
        """The page URL of every live node (empty while Redis cannot be reached)."""
        if self._replica is None:
            return []
        try:
            return await self._replica.room.live_urls()
        except UNAVAILABLE:
            return []

    async def run(self, hub: Hub, ticks: TickSource, counters: Counters) -> None:
        """Follow the streams, contend for the feed and keep presence until cancelled."""
        replica = self.replica(hub)
        tasks: list[asyncio.Task[None]] = []
        try:
            with contextlib.suppress(*UNAVAILABLE):
                await replica.reader.catch_up()  # a node starting late serves the history first
            tasks = [asyncio.create_task(replica.reader.run(), name="broker-reader"),
                     asyncio.create_task(replica.room.keep_presence(), name="broker-presence")]
            if self.feed != "never":
                tasks.append(asyncio.create_task(self._lead(replica, ticks), name="broker-feed"))
            await asyncio.gather(*tasks)
        finally:
            # Flags first, then cancel: a cancellation that a Redis call's own timeout turns
            # into a TimeoutError must not keep a loop going (seen on Python 3.11).
            self.stopped = replica.reader.stopped = replica.room.stopped = True
            for task in tasks:
                task.cancel()
            if tasks:
                _, stuck = await asyncio.wait(tasks, timeout=STOP_WAIT_S)
                if stuck:
                    log.warning("%d broker tasks did not stop in %g s", len(stuck), STOP_WAIT_S)
            with contextlib.suppress(RedisError, *UNAVAILABLE):
                async with asyncio.timeout(STOP_WAIT_S):
                    await self.lock.release()
                    await replica.room.forget()
            await self.redis.aclose()

    async def _lead(self, replica: Replica, ticks: TickSource) -> None:
        """Run the feed whenever this node holds the lock; try to take it every second."""
        while not self.stopped:
            try:
                if await self.lock.take():
                    await self._feed_while_held(replica, ticks)
            except UNAVAILABLE:
                pass
            await asyncio.sleep(RENEW_EVERY_S)

    async def _feed_while_held(self, replica: Replica, ticks: TickSource) -> None:
        """Feed prices, continuing from the last published ones, until the lock is lost."""
        await replica.reader.catch_up()
        last = {m.data["symbol"]: m.data["price"] for m in replica.hub["prices"].latest()}

        async def publish(data: dict[str, object]) -> None:
            await self._publish_price(replica.sequencer, data)

        feed = asyncio.create_task(run_feed(ticks(last), publish))
        log.info("this node runs the price feed")
        try:
            while not feed.done():
                await asyncio.wait({feed}, timeout=RENEW_EVERY_S)
                with contextlib.suppress(*UNAVAILABLE):
                    if not feed.done() and not await self.lock.renew():
                        break
        finally:
            feed.cancel()
            await asyncio.gather(feed, return_exceptions=True)
            log.info("this node no longer runs the price feed")

    async def _publish_price(self, sequencer: Sequencer, data: dict[str, object]) -> None:
        """Sequence one tick, fenced by the lock; a tick Redis cannot take is skipped.

        A skipped tick was never sequenced, so it leaves no gap: the price walk
        simply moves on. A fenced one ends the feed (:class:`Fenced` propagates).
        """
        try:
            await sequencer.publish("prices", data, token=self.lock.token)
        except Fenced:
            raise
        except UNAVAILABLE:
            log.debug("a tick was skipped: broker unreachable")
