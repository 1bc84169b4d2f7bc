"""The chat room of the original exercise: presence, validation and HTTP endpoints.

Chat events are ordinary messages on the ``chat`` topic, so every transport
delivers them like prices. Text is stored and sent as data — the server never
builds HTML; escaping is the renderer's job (the page uses ``textContent``).

Presence counts sessions, not names: two tabs joined as "ada" are two
sessions, and "online" falls by one when either leaves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable
from typing import Any, Protocol

import orjson
from aiohttp import web

from lab.hub import Message, Topic
from lab.transports.common import HUB_KEY, json_error, json_response, refuse_foreign

MAX_USER = 32
MAX_TEXT = 500


class ChatError(ValueError):
    """A chat request the client got wrong; the message says what to fix."""


class NotInChat(ChatError):
    """A leave for a user with no joined session."""


class ChatUnavailable(ChatError):
    """The room cannot be reached now (a broker that went away): try again later."""


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


class ChatService(Protocol):
    """What the transports need of a chat room: a local one, or one in another process."""

    @property
    def online(self) -> int:
        """Number of joined sessions (as last announced, for a remote room)."""

    async def join(self, user: Any) -> Message:
        """Add a session for ``user``; the published join event."""

    async def leave(self, user: Any) -> Message:
        """Remove one session of ``user``; the published leave event."""

    async def say(self, user: Any, text: Any) -> Message:
        """Publish a message from ``user``."""


class ChatRoom:
    """Who is in the chat, and the events that announce it (the authoritative room)."""

    def __init__(self, topic: Topic) -> None:
        self.topic = topic
        self._sessions: Counter[str] = Counter()

    @property
    def online(self) -> int:
        """Number of joined sessions."""
        return sum(self._sessions.values())

    async def join(self, user: Any) -> Message:
        """Add a session for ``user`` and announce it."""
        name = validate_user(user)
        self._sessions[name] += 1
        return self._publish("join", name)

    async def leave(self, user: Any) -> Message:
        """Remove one session of ``user`` and announce it."""
        name = validate_user(user)
        if self._sessions[name] <= 0:
            del self._sessions[name]
            raise NotInChat(f"{name!r} is not in the chat")
        self._sessions[name] -= 1
        if not self._sessions[name]:
            del self._sessions[name]
        return self._publish("leave", name)

    async def say(self, user: Any, text: Any) -> Message:
        """Publish a message from ``user``."""
        name, body = validate_user(user), validate_text(text)
        return self._publish("message", name, body)

    def _publish(self, kind: str, user: str, text: str | None = None) -> Message:
        data: dict[str, Any] = {"kind": kind, "user": user}
        if text is not None:
            data["text"] = text
        data["online"] = self.online
        return self.topic.publish(data)


CHAT_KEY = web.AppKey("chat", ChatService)


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.client_max_size
        raise json_error(
            web.HTTPRequestEntityTooLarge, f"body over {limit} bytes",
            max_size=limit, actual_size=request.content_length or limit + 1,
        ) from None
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise json_error(web.HTTPBadRequest, "body must be a JSON object") from None
    if not isinstance(value, dict):
        raise json_error(web.HTTPBadRequest, "body must be a JSON object")
    return value


async def _answer(act: Awaitable[Message], status: int) -> web.Response:
    """The published event as the answer; the room's objections as 400 (404: not joined,
    503: the room is unreachable now)."""
    try:
        message = await act
    except NotInChat as exc:
        raise json_error(web.HTTPNotFound, str(exc)) from None
    except ChatUnavailable as exc:
        raise json_error(web.HTTPServiceUnavailable, str(exc)) from None
    except ChatError as exc:
        raise json_error(web.HTTPBadRequest, str(exc)) from None
    return json_response(message.json, status=status)


async def handle_chat(request: web.Request) -> web.Response:
    """``POST /api/chat {"user", "text"}`` → 201 with the published message."""
    refuse_foreign(request)
    body = await _json_object(request)
    return await _answer(request.app[CHAT_KEY].say(body.get("user"), body.get("text")), 201)


async def handle_join(request: web.Request) -> web.Response:
    """``POST /api/chat/join {"user"}`` → 201 with the join event."""
    refuse_foreign(request)
    body = await _json_object(request)
    return await _answer(request.app[CHAT_KEY].join(body.get("user")), 201)


async def handle_leave(request: web.Request) -> web.Response:
    """``POST /api/chat/leave {"user"}`` → 200 with the leave event; 404 if not joined."""
    refuse_foreign(request)
    body = await _json_object(request)
    return await _answer(request.app[CHAT_KEY].leave(body.get("user")), 200)


def setup_chat(app: web.Application, room: ChatService | None = None) -> None:
    """Add the chat routes; the room defaults to a local one on the hub's chat topic."""
    app[CHAT_KEY] = room if room is not None else ChatRoom(app[HUB_KEY]["chat"])
    app.router.add_post("/api/chat", handle_chat)
    app.router.add_post("/api/chat/join", handle_join)
    app.router.add_post("/api/chat/leave", handle_leave)
