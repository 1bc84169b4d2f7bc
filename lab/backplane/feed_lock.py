"""Exactly one price feed per broker: a lock in Redis, with a TTL, renewed by its holder.

The lock is a key (:data:`lab.backplane.redis_stream.FEED_LOCK_KEY`) whose value
is the holder's random token, set with ``NX`` and a TTL. The holder renews it
well inside the TTL; a node that dies stops renewing, the key expires, and
another node takes it at its next try (within ``ttl + retry`` seconds).

Never two feeds at once: the lock alone cannot promise that (a holder paused
past its TTL still believes it holds it), so every price is *fenced* — the
sequencing script (:data:`lab.backplane.redis_stream.SEQUENCE`) refuses a price
whose token is not the lock's current value. A holder that finds it lost the
lock (renewal refused, or a price fenced) stops its feed at once.
"""

from __future__ import annotations

import secrets

from redis.asyncio import Redis

from lab.backplane.redis_stream import FEED_LOCK_KEY

LOCK_TTL_MS = 3_500
"""How long a lock outlives its holder's last renewal. Longer than a Redis pause the nodes
should ride out (2 s, with a second to spare: the TTL is Redis's wall clock, so a paused Redis
expires keys when it resumes), short enough that a dead feed is replaced within 4 s."""
RENEW_EVERY_S = 0.5
"""How often the holder renews, and how often the others try to take it."""

RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class FeedLock:
    """This node's claim on the feed lock: take, renew, release, always by its own token."""

    def __init__(self, redis: Redis, ttl_ms: int = LOCK_TTL_MS) -> None:
        self.redis = redis
        self.ttl_ms = ttl_ms
        self.token = secrets.token_hex(16)
        self._renew = redis.register_script(RENEW)
        self._release = redis.register_script(RELEASE)

    async def take(self) -> bool:
        """Take the lock if nobody holds it; True if this node holds it now."""
        taken = await self.redis.set(FEED_LOCK_KEY, self.token, nx=True, px=self.ttl_ms)
        return bool(taken) or await self.held()

    async def held(self) -> bool:
        """Whether the lock holds this node's token."""
        return await self.redis.get(FEED_LOCK_KEY) == self.token.encode()

    async def renew(self) -> bool:
        """Extend the lock by its TTL; False if this node no longer holds it."""
        return bool(await self._renew(keys=[FEED_LOCK_KEY], args=[self.token, self.ttl_ms]))

    async def release(self) -> None:
        """Give the lock up (only if still this node's), so another node takes over at once."""
        await self._release(keys=[FEED_LOCK_KEY], args=[self.token])
