"""The chat's HTTP endpoints, and how a transport's connection keeps an identity present.

- ``POST /api/chat/join {"user"}`` → ``201 {"token", "message"}`` (409 if the name is online);
- ``POST /api/chat {"text"[, "user"]}`` with ``Authorization: Bearer <token>`` → 201 with
  the published message (``user``, when given, must be the token's name: else 403);
- ``POST /api/chat/leave`` with the Bearer token → 200 with the leave event; the token
  stops working.

No token, or an unknown one, is ``401`` with ``WWW-Authenticate: Bearer``; a post
over the rate limit is ``429`` with ``Retry-After``, answered after a pause
(``refusal_pause_s``, 1 s: a tarpit, so that a client ignoring ``Retry-After`` on
one connection is refused once a second). Every refusal has a JSON
``{"error": ...}`` reason (see :mod:`lab.chat.errors`).

Presence over HTTP: a GET of any transport (poll, long poll, stream, SSE,
WebSocket) that carries ``?token=<token>`` holds that identity present while it
runs (:func:`hold_presence`, :func:`release_presence`) — a query parameter,
because ``EventSource`` and a browser's WebSocket cannot send headers. A poll
holds it for an instant, which counts as being seen; a stream for as long as it
is open. An unknown token there is 401 too, so a page learns it was dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import orjson
from aiohttp import web

from lab.chat.errors import ChatError, RateLimited, UnknownToken
from lab.chat.room import ChatService
from lab.hub import Message
from lab.transports.common import (
    SETTINGS_KEY,
    client_address,
    json_error,
    json_response,
    refuse_foreign,
)

CHAT_KEY = web.AppKey("chat", ChatService)

STATUS_ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden,
    409: web.HTTPConflict, 429: web.HTTPTooManyRequests, 503: web.HTTPServiceUnavailable,
}


def refusal(exc: ChatError) -> web.HTTPException:
    """The HTTP answer to one of the room's refusals: its status, a JSON reason, and the
    header that status asks for (``WWW-Authenticate`` for 401, ``Retry-After`` for 429)."""
    headers: dict[str, str] = {}
    fields: dict[str, Any] = {}
    if isinstance(exc, UnknownToken):
        headers["WWW-Authenticate"] = 'Bearer realm="chat"'
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
        fields["retry_after"] = exc.retry_after
    return json_error(STATUS_ERRORS[exc.status], str(exc), headers=headers, fields=fields)


def bearer_token(request: web.Request) -> str:
    """The token of ``Authorization: Bearer <token>``; 401 when there is none."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise refusal(UnknownToken("send the token join gave as Authorization: Bearer <token>"))
    return token.strip()


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.client_max_size
        raise json_error(
            web.HTTPRequestEntityTooLarge, f"body over {limit} bytes",
            max_size=limit, actual_size=request.content_length or limit + 1,
        ) from None
    except ConnectionError:  # the client hung up mid-body: a 400 nobody reads, and no 500
        raise json_error(web.HTTPBadRequest, "the body ended before its length") from None
    try:
        value = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise json_error(web.HTTPBadRequest, "body must be a JSON object") from None
    if not isinstance(value, dict):
        raise json_error(web.HTTPBadRequest, "body must be a JSON object")
    return value


async def _acted(act: Awaitable[Any]) -> Any:
    """What the room did, or its refusal as the HTTP answer."""
    try:
        return await act
    except ChatError as exc:
        raise refusal(exc) from None


async def handle_join(request: web.Request) -> web.Response:
    """``POST /api/chat/join {"user"}`` → 201 with the token and the join event."""
    refuse_foreign(request)
    body = await _json_object(request)
    joined = await _acted(request.app[CHAT_KEY].join(body.get("user")))
    answer = b'{"token":%s,"message":%s}' % (orjson.dumps(joined.token), joined.message.json)
    return json_response(answer, status=201)


async def handle_chat(request: web.Request) -> web.Response:
    """``POST /api/chat {"text"[, "user"]}`` with the Bearer token → 201 with the message."""
    refuse_foreign(request)
    body = await _json_object(request)
    token = bearer_token(request)
    say = request.app[CHAT_KEY].say(token, body.get("text"), body.get("user"), client_address(request))
    try:
        message: Message = await _acted(say)
    except web.HTTPTooManyRequests:
        # The tarpit: a refused post is answered only after a pause, so a script posting in a
        # loop on one connection is refused once a second, not a thousand times (each refusal
        # costs the server a request: ~0.4 ms of CPU here, mostly the kernel's).
        await asyncio.sleep(request.app[SETTINGS_KEY].refusal_pause_s)
        raise
    return json_response(message.json, status=201)


async def handle_leave(request: web.Request) -> web.Response:
    """``POST /api/chat/leave`` with the Bearer token → 200 with the leave event."""
    refuse_foreign(request)
    token = bearer_token(request)
    message: Message = await _acted(request.app[CHAT_KEY].leave(token))
    return json_response(message.json)


async def hold_presence(request: web.Request) -> str | None:
    """If the request carries ``?token=``, hold that identity present (401 if unknown);
    the token, for :func:`release_presence` once the request ends."""
    token = request.query.get("token")
    if token is None:
        return None
    await _acted(request.app[CHAT_KEY].hold(token))
    return token


async def release_presence(request: web.Request, token: str | None) -> None:
    """The request that held ``token`` (if any) has ended."""
    if token is not None:
        await request.app[CHAT_KEY].release(token)


def setup_chat(app: web.Application, room: ChatService) -> None:
    """Add the chat routes, served by ``room``."""
    app[CHAT_KEY] = room
    app.router.add_post("/api/chat", handle_chat)
    app.router.add_post("/api/chat/join", handle_join)
    app.router.add_post("/api/chat/leave", handle_leave)

