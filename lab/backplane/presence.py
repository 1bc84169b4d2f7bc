"""Chat across nodes: one room whose identities live in Redis, with a heartbeat per node.

The identities are global: ``rnl:chat:tokens`` (token → name), ``rnl:chat:names``
(name → token) and ``rnl:chat:owners`` (token → its node). A join, leave or
post is one call of the sequencing script
(:data:`lab.backplane.redis_stream.SEQUENCE`), which checks and changes them
and counts ``online`` in the same atomic step — so a name is unique among
those online on every node, and a token works on any node.

Presence is each node's own, as in :class:`lab.chat.room.ChatRoom`: the node an
identity acts through holds it while a connection of its own is open and sees
it at each request, and announces it as left after ``presence_timeout`` of
neither. An identity that turns up on another node (its client moved there) is
*adopted* by that node. Post limits are counted per node (a client spreading
its posts over several nodes gets each node's rate).

Each node says it is alive with a key that expires (``rnl:alive:<node>``,
renewed every second, holding the URL of the node's page; ``rnl:nodes`` lists
the nodes, so a page can move to another node when its own stops answering).
A node that dies stops renewing it: every other node looks once a second for
identities whose node is gone and announces each as a leave (the script's own
check lets only one node announce each). A Redis that lost its data gets each
node's identities back at the next heartbeat (without events: nobody joined).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from lab.backplane.redis_stream import (
    NAMES_KEY,
    OWNERS_KEY,
    PREFIX,
    SESSION_KEYS,
    TOKENS_KEY,
    UNAVAILABLE,
    IdentityChange,
    NameInUse,
    NotOnline,
    Sequencer,
)
from lab.chat.errors import ChatUnavailable, NameTaken, UnknownToken
from lab.chat.room import Identity, Joined, PostLimits, validate_user
from lab.hub import Hub, Message
from lab.limits import Rate

log = logging.getLogger("lab.broker")

ALIVE_TTL_MS = 5_000
"""How long a node counts as alive after its last heartbeat."""
HEARTBEAT_S = 1.0
NODES_KEY = f"{PREFIX}:nodes"


def sessions_key(node: str) -> str:
    """The key of the set of tokens ``node`` holds."""
    return f"{PREFIX}:chat:sessions:{node}"


def alive_key(node: str) -> str:
    """The key that says ``node`` is alive (its value: the node's page URL)."""
    return f"{PREFIX}:alive:{node}"


class BrokerChatRoom:
    """The chat room as seen from one node of a broker: every change is made in Redis."""

    def __init__(self, redis: Redis, sequencer: Sequencer, hub: Hub, node: str, post_rate: Rate,
                 presence_timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.redis = redis
        self.sequencer = sequencer
        self.hub = hub
        self.node = node
        self.presence_timeout = presence_timeout
        self.clock = clock
        self.url = ""
        """This node's page, announced with its heartbeat (see :meth:`advertise`)."""
        self._advertised = asyncio.Event()
        self.stopped = False
        """Set when the node stops: :meth:`keep_presence` ends at its next turn."""
        self._own = sessions_key(node)
        self._identities: dict[str, Identity] = {}  # the ones this node holds, by token
        self._limits = PostLimits(post_rate)

    @property
    def online(self) -> int:
        """The online count of the newest chat event this node has seen."""
        latest = self.hub["chat"].latest()
        return int(latest[-1].data.get("online", 0)) if latest else 0

    async def _publish(self, change: IdentityChange, text: str | None = None) -> Message:
        kind = {"join": "join", "leave": "leave", "say": "message"}[change.action]
        data: dict[str, Any] = {"kind": kind, "user": change.name}
        if text is not None:
            data["text"] = text
        try:
            return await self.sequencer.publish("chat", data, identity=change)
        except UNAVAILABLE as exc:
            raise ChatUnavailable(f"the chat is unavailable: broker unreachable ({exc})") from None
        except NotOnline:
            self._identities.pop(change.token, None)
            raise UnknownToken("missing or unknown chat token; join first") from None

    async def _identity(self, token: Any) -> Identity:
        """This node's record of ``token``, adopting one that joined through another node."""
        if not isinstance(token, str) or not token:
            raise UnknownToken("missing or unknown chat token; join first")
        identity = self._identities.get(token)
        if identity is not None:
            return identity
        try:
            name: Any = await self.redis.hget(TOKENS_KEY, token)
            if name is None:
                raise UnknownToken("missing or unknown chat token; join first")
            owner: Any = await self.redis.hget(OWNERS_KEY, token)
            if owner is not None and owner.decode() != self._own:
                await self.redis.smove(owner.decode(), self._own, token)
            await self.redis.hset(OWNERS_KEY, token, self._own)
            await self.redis.sadd(SESSION_KEYS, self._own)
        except UNAVAILABLE as exc:
            raise ChatUnavailable(f"the chat is unavailable: broker unreachable ({exc})") from None
        identity = self._identities[token] = Identity(name.decode(), 0, self.clock())
        return identity

    async def join(self, user: Any, held: bool = False) -> Joined:
        """A new identity for ``user``, announced on every node; :class:`NameTaken` if the
        name is online on any."""
        name = validate_user(user)
        token = secrets.token_urlsafe(24)
        try:
            message = await self._publish(IdentityChange("join", name, token, self._own))
        except NameInUse:
            raise NameTaken(f"{name!r} is already in the chat; choose another name") from None
        self._identities[token] = Identity(name, int(held), self.clock())
        return Joined(token, message)

    async def leave(self, token: str) -> Message:
        """End the identity of ``token`` on every node and announce it.

        A leave Redis cannot take now (a socket closed during an outage) is left
        to the sweep: the identity counts as unheld and long unseen, so the
        first sweep that reaches Redis announces it.
        """
        identity = await self._identity(token)
        try:
            message = await self._publish(IdentityChange("leave", identity.name, token, self._own))
        except ChatUnavailable:
            identity.holds, identity.last_seen = 0, float("-inf")
            raise
        self._identities.pop(token, None)
        self._limits.identities.forget(token)
        return message

    async def say(self, token: str, text: Any, user: Any = None, address: str | None = None
                  ) -> Message:
        """Publish ``text`` as the identity of ``token`` to every node (limits: this node's)."""
        identity = await self._identity(token)
        body = self._limits.admit(identity, token, text, user, address, self.clock())
        return await self._publish(IdentityChange("say", identity.name, token, self._own), body)

    async def hold(self, token: str) -> None:
        """A connection of the identity opened on this node."""
        identity = await self._identity(token)
        identity.holds += 1
        identity.last_seen = self.clock()

    async def release(self, token: str) -> None:
        """A connection of the identity closed; it counts as seen now."""
        identity = self._identities.get(token)
        if identity is not None:
            identity.holds -= 1
            identity.last_seen = self.clock()

    async def sweep(self) -> int:
        """Announce as left every identity of this node neither held nor seen for
        ``presence_timeout``; how many."""
        deadline = self.clock() - self.presence_timeout
        gone = [token for token, identity in self._identities.items()
                if identity.holds <= 0 and identity.last_seen < deadline]
        for token in gone:
            with contextlib.suppress(UnknownToken):
                await self.leave(token)
        return len(gone)

    def advertise(self, url: str) -> None:
        """The node listens at ``url``: start the heartbeat, which announces it."""
        self.url = url
        self._advertised.set()

    async def keep_presence(self) -> None:
        """Once the node listens: heartbeat, sweep, and announce the leaves of dead nodes'
        identities, until cancelled. (Before it listens nobody can join through it, and
        other nodes must not list a page that does not answer yet.)"""
        await self._advertised.wait()
        while not self.stopped:
            with contextlib.suppress(*UNAVAILABLE, ChatUnavailable):
                await self.heartbeat()
                await self.sweep()
                await self.reap()
            await asyncio.sleep(HEARTBEAT_S)

    async def heartbeat(self) -> None:
        """Say this node is alive; put its identities back if Redis lost them."""
        await self.redis.set(alive_key(self.node), self.url, px=ALIVE_TTL_MS)
        await self.redis.sadd(NODES_KEY, self.node)
        tokens = list(self._identities)
        if not tokens:
            return
        known: Any = await self.redis.hmget(TOKENS_KEY, tokens)
        for token, name in zip(tokens, known, strict=True):
            if name is None and await self.redis.hsetnx(NAMES_KEY, self._identities[token].name,
                                                        token):
                await self.redis.hset(TOKENS_KEY, token, self._identities[token].name)
                await self.redis.hset(OWNERS_KEY, token, self._own)
                await self.redis.sadd(self._own, token)
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
        """Announce every identity of a node that is no longer alive as a leave; how many."""
        left = 0
        members: Any = await self.redis.smembers(SESSION_KEYS)
        for raw in members:
            key = raw.decode()
            node = key.rsplit(":", 1)[-1]
            if node == self.node or await self.redis.exists(alive_key(node)):
                continue
            tokens: Any = await self.redis.smembers(key)
            for token in (t.decode() for t in tokens):
                name: Any = await self.redis.hget(TOKENS_KEY, token)
                if name is None:
                    await self.redis.srem(key, token)
                    continue
                with contextlib.suppress(UnknownToken):
                    await self._publish(IdentityChange("leave", name.decode(), token, key))
                    left += 1
            if not await self.redis.exists(key):
                await self.redis.srem(SESSION_KEYS, key)
        if left:
            log.info("announced %d chat users of nodes that stopped as leaves", left)
        return left

    async def forget(self) -> None:
        """At shutdown: stop saying this node is alive, so others announce its users now."""
        await self.redis.delete(alive_key(self.node))
