"""The chat room: who is in it, under which name and token, how fast each may post.

Chat events are ordinary messages on the ``chat`` topic, so every transport
delivers them like prices. Text is stored and sent as data — the server never
builds HTML; escaping is the renderer's job (the page uses ``textContent``).

Identity: joining with a name gives an *identity* — the name and an opaque,
unguessable token (:func:`secrets.token_urlsafe`). Every later act names the
token, not the name, so nobody can speak or leave as someone else. A name is
unique among those online: a second join with a name in use is refused
(:class:`NameTaken`, HTTP 409) rather than renamed, so what the room shows is
what the user typed. Leaving ends the identity: its token stops working.

Limits: each post takes a token from two buckets (:mod:`lab.limits`), the
identity's and its client address's, both at ``post_rate``; an empty bucket
refuses the post with the seconds to wait (:class:`RateLimited`). Leaving and
joining again gives a fresh identity bucket, but not a fresh address bucket.

Presence: an identity is *held* while a connection of its own is open (a
WebSocket that joined, or a stream, SSE, long poll or WebSocket that carries
its token) and *seen* at each of its requests. One neither held nor seen for
``presence_timeout`` seconds is announced as left by :meth:`ChatRoom.sweep`,
which the room's owner calls every so often (:meth:`ChatRoom.sweep_forever`);
the clock is injectable, so a test sweeps at a made-up time.

:class:`ChatService` is what the transports use; :class:`ChatRoom` is the
authoritative implementation, and :class:`lab.backplane.workers.RemoteChatRoom` forwards
to one in another process.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from lab.chat.errors import ChatError, NameTaken, RateLimited, UnknownToken, WrongUser
from lab.hub import Message, Topic
from lab.limits import Buckets, Rate, take_all

MAX_USER = 32
MAX_TEXT = 500


def validate_user(value: Any) -> str:
    """A user name: a string of 1–32 characters, not only spaces."""
    if not isinstance(value, str) or not value.strip():
        raise ChatError("user must be a non-empty string")
    if len(value) > MAX_USER:
        raise ChatError(f"user must be at most {MAX_USER} characters")
    return value


def validate_text(value: Any) -> str:
    """A message text: a string of 1–500 characters, not only spaces."""
    if not isinstance(value, str) or not value.strip():
        raise ChatError("text must be a non-empty string")
    if len(value) > MAX_TEXT:
        raise ChatError(f"text must be at most {MAX_TEXT} characters")
    return value


class Joined(NamedTuple):
    """What a join gives: the identity's token and the published join event."""

    token: str
    message: Message


class ChatService(Protocol):
    """What the transports need of a chat room: a local one, or one in another process."""

    @property
    def online(self) -> int:
        """Number of identities online (as last announced, for a remote room)."""

    async def join(self, user: Any, held: bool = False) -> Joined:
        """A new identity named ``user`` (held from the start when ``held``)."""

    async def leave(self, token: str) -> Message:
        """End the identity of ``token``; the published leave event."""

    async def say(self, token: str, text: Any, user: Any = None, address: str | None = None
                  ) -> Message:
        """Publish ``text`` as the identity of ``token`` posting from ``address``."""

    async def hold(self, token: str) -> None:
        """A connection of the identity opened: it stays present while held."""

    async def release(self, token: str) -> None:
        """A connection of the identity closed (a token that has left is ignored)."""


@dataclass(slots=True)
class Identity:
    """One user online: their name, how many connections hold them, when last seen."""

    name: str
    holds: int
    last_seen: float


class PostLimits:
    """The post limits of a room: a bucket per identity and one per client address."""

    def __init__(self, post_rate: Rate) -> None:
        self.identities = Buckets(post_rate)
        self.addresses = Buckets(post_rate)

    def admit(self, identity: Identity, token: str, text: Any, user: Any, address: str | None,
              now: float) -> str:
        """The text ``identity`` may post now; else the refusal: another name
        (:class:`WrongUser`), a bad text, or an empty bucket (:class:`RateLimited`, and then
        neither bucket is charged). A post marks the identity seen."""
        if user is not None and user != identity.name:
            raise WrongUser(f"this token belongs to {identity.name!r}, not {user!r}")
        body = validate_text(text)
        buckets = [self.identities.bucket(token, now)]
        if address is not None:
            buckets.append(self.addresses.bucket(address, now))
        wait = take_all(buckets, now)
        if wait:
            raise RateLimited(wait)
        identity.last_seen = now
        return body


class ChatRoom:
    """Who is in the chat, and the events that announce it (the authoritative room)."""

    def __init__(self, topic: Topic, post_rate: Rate, presence_timeout: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.topic = topic
        self.presence_timeout = presence_timeout
        self.clock = clock
        self._identities: dict[str, Identity] = {}  # by token
        self._tokens: dict[str, str] = {}  # name → token
        self._limits = PostLimits(post_rate)

    @property
    def online(self) -> int:
        """Number of identities online."""
        return len(self._identities)

    def identity(self, token: Any) -> Identity:
        """The identity of ``token``; :class:`UnknownToken` when there is none (or it left)."""
        identity = self._identities.get(token) if isinstance(token, str) else None
        if identity is None:
            raise UnknownToken("missing or unknown chat token; join first")
        return identity

    async def join(self, user: Any, held: bool = False) -> Joined:
        """A new identity for ``user``, announced; :class:`NameTaken` if the name is online."""
        name = validate_user(user)
        if name in self._tokens:
            raise NameTaken(f"{name!r} is already in the chat; choose another name")
        token = secrets.token_urlsafe(24)
        self._identities[token] = Identity(name, int(held), self.clock())
        self._tokens[name] = token
        return Joined(token, self._publish("join", name))

    async def leave(self, token: str) -> Message:
        """End the identity of ``token`` (the token stops working) and announce it."""
        name = self.identity(token).name
        del self._identities[token], self._tokens[name]
        self._limits.identities.forget(token)
        return self._publish("leave", name)

    async def say(self, token: str, text: Any, user: Any = None, address: str | None = None
                  ) -> Message:
        """Publish ``text`` as the identity of ``token``; ``user``, when given, must be its name.

        Refused with :class:`RateLimited` when the identity's or ``address``'s bucket is empty
        (then neither bucket is charged)."""
        identity = self.identity(token)
        body = self._limits.admit(identity, token, text, user, address, self.clock())
        return self._publish("message", identity.name, body)

    async def hold(self, token: str) -> None:
        """A connection of the identity opened."""
        identity = self.identity(token)
        identity.holds += 1
        identity.last_seen = self.clock()

    async def release(self, token: str) -> None:
        """A connection of the identity closed; it counts as seen now."""
        identity = self._identities.get(token)
        if identity is not None:
            identity.holds -= 1
            identity.last_seen = self.clock()

    def sweep(self) -> list[Message]:
        """Announce as left every identity neither held nor seen for ``presence_timeout``."""
        deadline = self.clock() - self.presence_timeout
        gone = [token for token, identity in self._identities.items()
                if identity.holds <= 0 and identity.last_seen < deadline]
        left = []
        for token in gone:
            name = self._identities.pop(token).name
            del self._tokens[name]
            self._limits.identities.forget(token)
            left.append(self._publish("leave", name))
        return left

    async def sweep_forever(self) -> None:
        """Sweep every quarter of the presence timeout (every 0.1–5 s), until cancelled."""
        every = max(0.1, min(5.0, self.presence_timeout / 4))
        while True:
            await asyncio.sleep(every)
            self.sweep()

    def _publish(self, kind: str, user: str, text: str | None = None) -> Message:
        data: dict[str, Any] = {"kind": kind, "user": user}
        if text is not None:
            data["text"] = text
        data["online"] = self.online
        return self.topic.publish(data)
