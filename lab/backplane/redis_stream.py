"""Sequencing in Redis: one Lua script per publish, and a reader that follows the streams.

Keys (``rnl:`` is the lab's prefix; one broker URL, one lab):

- ``rnl:<topic>:seq`` — the topic's last seq (a plain integer);
- ``rnl:<topic>:stream`` — its history, a stream capped at about ``history``
  entries (``MAXLEN ~``), each entry's id ``<seq>-0`` and its one field ``m``
  the message's exact contract JSON, built once, in Redis;
- ``rnl:feed`` — the feed lock (:mod:`lab.backplane.feed_lock`), whose token
  the script checks before it sequences a price (fencing);
- ``rnl:chat:…`` — the chat's identities, which the script checks and changes
  with each chat event (:mod:`lab.backplane.presence`).

:data:`SEQUENCE` runs atomically, so two nodes that publish at once get
consecutive seqs, and a stream id that must rise makes a seq going
backwards impossible inside one Redis. Every node sends its own ``floor``, the
highest seq it has seen: after Redis restarted without its data the counter
starts again *above* what the nodes have served, never at 1. A node that
reconnects lifts the counters to its own head at once, before it reads. The
one gap left: in the moments before the others have reconnected, a node that
remembers less (started after the loss) may sequence a chat message below
what they have served; they never read it, so their clients miss it without
a notice.

:class:`StreamReader` follows both streams with ``XREAD BLOCK`` from the last
id it ingested — the same call catches up after a pause or a reconnect and
waits for news, so nothing is read twice or skipped. A seq that jumps (the
node fell further behind than the stream's history, or Redis lost what it had
not yet read) is ingested with ``after_loss``: the hub reports the gap as
``missed`` (:meth:`lab.hub.Topic.ingest`). Connection errors are retried with
full-jitter backoff; the reader never gives up while the node runs.

What it does not do: Redis Cluster (the keys carry no hash tag) or a
persistence policy (that is the Redis operator's choice).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lab.contract import now_us
from lab.hub import Hub, Message

log = logging.getLogger("lab.broker")

PREFIX = "rnl"
FEED_LOCK_KEY = f"{PREFIX}:feed"
SESSION_KEYS = f"{PREFIX}:chat:nodes"
"""The set of every node's chat sessions key (``rnl:chat:sessions:<node>``)."""
TOKENS_KEY = f"{PREFIX}:chat:tokens"
"""Every identity online: token → name (its length is ``online``)."""
NAMES_KEY = f"{PREFIX}:chat:names"
"""Every name online: name → token."""
OWNERS_KEY = f"{PREFIX}:chat:owners"
"""Each identity's node: token → that node's sessions key."""
READ_BATCH = 1_000
"""Entries one ``XREAD`` returns at most (a node catching up reads its backlog in batches)."""
BLOCK_MS = 1_000
"""How long one ``XREAD`` waits for news; short, so a dead connection is noticed soon."""
BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 5.0

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
"""What a Redis that went away (restarted, paused past the timeout, unreachable) raises."""

SEQUENCE = """
-- KEYS[1] seq counter, KEYS[2] stream, KEYS[3] feed lock; for chat events: KEYS[4] the
-- acting node's sessions (a set of tokens), KEYS[5] the set of every node's sessions key,
-- KEYS[6] token -> name, KEYS[7] name -> token, KEYS[8] token -> its node's sessions key
-- ARGV[1] topic, ARGV[2] data JSON, ARGV[3] t_us, ARGV[4] floor, ARGV[5] history,
-- ARGV[6] the feed lock's token ('' for a message that needs no lock),
-- ARGV[7] chat identity change: '' none, 'join', 'leave', 'say'; ARGV[8] name, ARGV[9] token
if ARGV[6] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[6] then
  return redis.error_reply('FENCED this node does not hold the feed lock')
end
local data = ARGV[2]
if ARGV[7] ~= '' then
  local name, token = ARGV[8], ARGV[9]
  if ARGV[7] == 'join' then
    if redis.call('HEXISTS', KEYS[7], name) == 1 then return redis.error_reply('NAMETAKEN') end
    redis.call('HSET', KEYS[7], name, token)
    redis.call('HSET', KEYS[6], token, name)
    redis.call('HSET', KEYS[8], token, KEYS[4])
    redis.call('SADD', KEYS[4], token)
    redis.call('SADD', KEYS[5], KEYS[4])
  elseif redis.call('HGET', KEYS[6], token) ~= name then
    return redis.error_reply('UNKNOWNTOKEN')
  elseif ARGV[7] == 'leave' then
    redis.call('HDEL', KEYS[6], token)
    redis.call('HDEL', KEYS[7], name)
    local owner = redis.call('HGET', KEYS[8], token)
    if owner then redis.call('SREM', owner, token) end
    redis.call('HDEL', KEYS[8], token)
  end
  local online = redis.call('HLEN', KEYS[6])
  data = string.sub(data, 1, -2) .. ',"online":' .. string.format('%d', online) .. '}'
end
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[4])
if floor > seq then seq = floor end
seq = seq + 1
local id = string.format('%d', seq)
redis.call('SET', KEYS[1], id)
local json = '{"topic":"' .. ARGV[1] .. '","seq":' .. id .. ',"t_us":' .. ARGV[3]
  .. ',"data":' .. data .. '}'
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], id .. '-0', 'm', json)
return json
"""
"""Next seq (never below the caller's floor), the message's bytes, appended to the capped
stream: all or nothing. The JSON is the contract's, byte for byte as :meth:`Message.build`
writes it (orjson's compact form, fields in the same order). A chat event checks and
changes the identities in the same step (a name is unique among those online on every
node; a token speaks and leaves only as its own name) and counts ``online`` over every
node, so the counts that events announce follow their seq order."""

RAISE_FLOOR = """
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > seq then redis.call('SET', KEYS[1], ARGV[1]) end
return 0
"""
"""Lift a topic's counter to at least what this node has served (after a reconnect)."""


class Fenced(Exception):
    """A price was refused: this node no longer holds the feed lock."""


class NameInUse(Exception):
    """A join with a name already online on some node."""


class NotOnline(Exception):
    """A leave or post by a token that is not (or no longer) the name's."""


@dataclass(frozen=True, slots=True)
class IdentityChange:
    """What a chat event does to the identities: ``join``, ``leave`` or ``say`` (checks only),
    by the identity ``token`` named ``name``, acting through the node whose sessions key is
    ``sessions_key``."""

    action: str
    name: str
    token: str
    sessions_key: str


def seq_key(topic: str) -> str:
    """The key of ``topic``'s counter."""
    return f"{PREFIX}:{topic}:seq"


def stream_key(topic: str) -> str:
    """The key of ``topic``'s stream."""
    return f"{PREFIX}:{topic}:stream"


def backoff(attempt: int) -> float:
    """Seconds to wait before reconnect ``attempt`` (0, 1, …): full jitter under a cap that
    doubles."""
    return random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))


class Sequencer:
    """Publishes through Redis: the one authority for each topic's seq and history."""

    def __init__(self, redis: Redis, hub: Hub, history: int) -> None:
        self.redis = redis
        self.hub = hub
        self.history = history
        self._sequence = redis.register_script(SEQUENCE)
        self._raise_floor = redis.register_script(RAISE_FLOOR)

    async def publish(self, topic: str, data: Mapping[str, Any], token: str = "",
                      identity: IdentityChange | None = None) -> Message:
        """Sequence ``data`` on ``topic`` in Redis; the message as every node will ingest it.

        A ``token`` fences the publish: Redis refuses it (:class:`Fenced`) unless
        the feed lock still holds that token. A chat event's ``identity`` change
        is checked and made in the same step, and ``online`` added to its data
        (:class:`NameInUse`, :class:`NotOnline` when refused). Connection errors
        propagate: the message was then not published (or, if the reply alone
        was lost, every node reads it from the stream all the same).
        """
        floor = self.hub[topic].head
        change = identity or IdentityChange("", "", "", f"{PREFIX}:chat:none")
        args: list[bytes | str | int] = [topic, orjson.dumps(data), now_us(), floor, self.history,
                                         token, change.action, change.name, change.token]
        keys = [seq_key(topic), stream_key(topic), FEED_LOCK_KEY, change.sessions_key,
                SESSION_KEYS, TOKENS_KEY, NAMES_KEY, OWNERS_KEY]
        try:
            body = await self._sequence(keys=keys, args=args)
        except ResponseError as exc:
            refusal = {"FENCED": Fenced, "NAMETAKEN": NameInUse, "UNKNOWNTOKEN": NotOnline}
            for prefix, error in refusal.items():
                if str(exc).startswith(prefix):
                    raise error(str(exc)) from None
            raise
        return Message.from_json(bytes(body))

    async def raise_floors(self) -> None:
        """Make sure no topic's counter is below what this node has served."""
        for name, topic in self.hub.topics.items():
            await self._raise_floor(keys=[seq_key(name)], args=[topic.head])


class StreamReader:
    """Follows every topic's stream into the hub, from the last ingested seq on."""

    def __init__(self, redis: Redis, hub: Hub, sequencer: Sequencer) -> None:
        self.redis = redis
        self.hub = hub
        self.sequencer = sequencer
        self.stopped = False
        """Set when the node stops: :meth:`run` ends at its next turn."""

    async def run(self) -> None:
        """Ingest until cancelled; reconnect with backoff whenever Redis goes away.

        After an outage the node first lifts the counters to what it has served
        (:meth:`Sequencer.raise_floors`), then reads on from its last seq.
        """
        attempt = 0
        while not self.stopped:
            try:
                if attempt:
                    await self.sequencer.raise_floors()
                    log.warning("broker reachable again; catching up from the streams")
                    attempt = 0
                while not self.stopped:
                    await self.read_once(BLOCK_MS)
            except UNAVAILABLE as exc:
                if not attempt:
                    log.warning("broker unreachable (%s); retrying", exc)
                await asyncio.sleep(backoff(attempt))
                attempt += 1

    async def read_once(self, block_ms: int | None) -> int:
        """One ``XREAD`` from each topic's last ingested seq; how many messages were ingested."""
        streams: dict[Any, Any] = {stream_key(name): f"{topic.head}-0"
                                   for name, topic in self.hub.topics.items()}
        reply: Any = await self.redis.xread(streams, count=READ_BATCH, block=block_ms)
        ingested = 0
        for _stream, entries in reply or ():
            for _id, fields in entries:
                message = Message.from_json(bytes(fields[b"m"]))
                topic = self.hub[message.topic]
                if message.seq <= topic.head:
                    continue  # another read (a catch-up) ingested it meanwhile
                if topic.head and message.seq != topic.head + 1:
                    log.warning("%s: seq %d follows %d; %d messages lost upstream",
                                topic.name, message.seq, topic.head, message.seq - topic.head - 1)
                topic.ingest(message, after_loss=True)
                ingested += 1
        return ingested

    async def catch_up(self) -> None:
        """Read everything the streams hold now (a node starting late fills its ring first)."""
        while await self.read_once(None) == READ_BATCH:
            pass

