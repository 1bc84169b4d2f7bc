"""Chat across nodes: one room whose presence lives in Redis, with a heartbeat per node.

Each node keeps its chat sessions in a hash of its own
(``rnl:chat:sessions:<node>``: user → sessions) and says it is alive with a key
that expires (``rnl:alive:<node>``, renewed every second, holding the URL of
the node's page; ``rnl:nodes`` lists the nodes, so a page can move to another
node when its own stops answering). A join, leave or
message is one call of the sequencing script
(:data:`lab.backplane.redis_stream.SEQUENCE`), which changes the hash and
counts ``online`` over every node's hash in the same atomic step.

A node that dies stops renewing its key. Every other node looks once a second
for session hashes whose node is no longer alive and announces each of those
sessions as a leave; several nodes may do it at once, and the leave's own
check (no leave without a session) makes sure each session leaves once. So a
dead node's users are gone from the count within the alive key's TTL plus a
second. A Redis that lost its data gets each node's sessions back at the next
heartbeat (without events: nobody joined).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Any

from redis.asyncio import Redis

from lab.backplane.redis_stream import (
    PREFIX,
    SESSION_KEYS,
    UNAVAILABLE,
    NotJoined,
    PresenceChange,
    Sequencer,
)
from lab.chat import ChatUnavailable, NotInChat, validate_text, validate_user
from lab.hub import Hub, Message

log = logging.getLogger("lab.broker")

ALIVE_TTL_MS = 5_000
"""How long a node counts as alive after its last heartbeat."""
HEARTBEAT_S = 1.0
NODES_KEY = f"{PREFIX}:nodes"


def sessions_key(node: str) -> str:
    """The key of ``node``'s chat sessions."""
    return f"{PREFIX}:chat:sessions:{node}"


def alive_key(node: str) -> str:
    """The key that says ``node`` is alive."""
    return f"{PREFIX}:alive:{node}"


class BrokerChatRoom:
    """The chat room as seen from one node of a broker: every change is made in Redis."""

    def __init__(self, redis: Redis, sequencer: Sequencer, hub: Hub, node: str) -> None:
        self.redis = redis
        self.sequencer = sequencer
        self.hub = hub
        self.node = node
        self._own = sessions_key(node)
        self._sessions: Counter[str] = Counter()  # this node's, to restore after a data loss
        self._unannounced: list[str] = []  # leaves that failed while Redis was away
        self.url = ""
        """This node's page (set once it listens), announced with its heartbeat."""

    @property
    def online(self) -> int:
        """The online count of the newest chat event this node has seen."""
        latest = self.hub["chat"].latest()
        return int(latest[-1].data.get("online", 0)) if latest else 0

    async def _publish(self, kind: str, user: str, delta: int, text: str | None = None,
                       key: str | None = None) -> Message:
        data: dict[str, Any] = {"kind": kind, "user": user}
        if text is not None:
            data["text"] = text
        change = PresenceChange(key or self._own, delta, user)
        try:
            return await self.sequencer.publish("chat", data, presence=change)
        except UNAVAILABLE as exc:
            raise ChatUnavailable(f"the chat is unavailable: broker unreachable ({exc})") from None

    async def join(self, user: Any) -> Message:
        """Add a session for ``user`` on this node and announce it to every node."""
        name = validate_user(user)
        message = await self._publish("join", name, 1)
        self._sessions[name] += 1
        return message

    async def leave(self, user: Any) -> Message:
        """Remove one session of ``user`` on this node and announce it.

        A leave Redis cannot take now (a socket closed during an outage) is
        announced at the first heartbeat that reaches Redis, so the count heals.
        """
        name = validate_user(user)
        try:
            message = await self._publish("leave", name, -1)
        except NotJoined:
            raise NotInChat(f"{name!r} is not in the chat") from None
        except ChatUnavailable:
            if self._sessions[name] > self._unannounced.count(name):
                self._unannounced.append(name)
            raise
        self._sessions[name] -= 1
        if self._sessions[name] <= 0:
            del self._sessions[name]
        return message

    async def say(self, user: Any, text: Any) -> Message:
        """Publish a message from ``user`` to every node."""
        name, body = validate_user(user), validate_text(text)
        return await self._publish("message", name, 0, body)

    async def keep_presence(self) -> None:
        """Heartbeat, and announce the leaves of dead nodes' sessions, until cancelled."""
        while True:
            try:
                await self.heartbeat()
                await self.reap()
            except UNAVAILABLE:
                pass  # the stream reader reports the outage; try again at the next beat
            await asyncio.sleep(HEARTBEAT_S)

    async def heartbeat(self) -> None:
        """Say this node is alive; announce leaves that failed; put its sessions back if Redis
        lost them."""
        await self.redis.set(alive_key(self.node), self.url, px=ALIVE_TTL_MS)
        await self.redis.sadd(NODES_KEY, self.node)
        while self._unannounced:
            name = self._unannounced[0]
            with contextlib.suppress(NotJoined):
                await self._publish("leave", name, -1)
            self._unannounced.pop(0)
            self._sessions[name] -= 1
            if self._sessions[name] <= 0:
                del self._sessions[name]
        if self._sessions and not await self.redis.exists(self._own):
            sessions: dict[Any, Any] = dict(self._sessions)
            await self.redis.hset(self._own, mapping=sessions)
            await self.redis.sadd(SESSION_KEYS, self._own)

    async def live_urls(self) -> list[str]:
        """The page URL of every node alive now, this one included, in a stable order;
        nodes no longer alive are dropped from the list."""
        members: Any = await self.redis.smembers(NODES_KEY)
        nodes = sorted(raw.decode() for raw in members)
        urls: Any = await self.redis.mget([alive_key(node) for node in nodes]) if nodes else []
        gone = [node for node, url in zip(nodes, urls, strict=True) if url is None]
        if gone:
            await self.redis.srem(NODES_KEY, *gone)
        return [url.decode() for url in urls if url]

    async def reap(self) -> int:
        """Announce every session of a node that is no longer alive as a leave; how many."""
        left = 0
        members: Any = await self.redis.smembers(SESSION_KEYS)
        for raw in members:
            key = raw.decode()
            node = key.rsplit(":", 1)[-1]
            if node == self.node or await self.redis.exists(alive_key(node)):
                continue
            sessions: Any = await self.redis.hgetall(key)
            for user, count in sessions.items():
                for _ in range(int(count)):
                    try:
                        await self._publish("leave", user.decode(), -1, key=key)
                    except NotJoined:
                        break  # another node announced this one first
                    left += 1
            if not await self.redis.exists(key):
                await self.redis.srem(SESSION_KEYS, key)
        if left:
            log.info("announced %d chat sessions of nodes that stopped as leaves", left)
        return left

    async def forget(self) -> None:
        """At shutdown: stop saying this node is alive, so others announce its leaves now."""
        await self.redis.delete(alive_key(self.node))
