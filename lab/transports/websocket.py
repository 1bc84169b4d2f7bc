"""WebSocket: ``GET /ws[?topic=prices[&since=N]]``, one text frame per message.

After an HTTP/1.1 upgrade handshake (RFC 6455 §4), both sides send frames
(§5.2) on the same connection. Every published message is one unmasked text
frame from the server, built by :func:`encode_frame`; a frame's header is 2
bytes for a message under 126 bytes (a price is about 90), against a poll's
few hundred bytes of HTTP headers. With ``--ws-compress``, a client that offers
permessage-deflate (RFC 7692) gets each message deflated by aiohttp with its socket's own
context (RSV1 set); the counters keep the message's own size.

The client may send JSON commands on the socket:

- ``{"type": "subscribe", "topic": "chat", "since": N, "user": "ada"}`` —
  resume after ``since`` if given; a ``user`` on ``chat`` joins the chat room:
  the socket is then that identity (see :mod:`lab.chat.room`), and leaves
  when it closes, unsubscribes or stops answering pings;
- ``{"type": "unsubscribe", "topic": ...}``;
- ``{"type": "chat", "text": ...}`` speaks as the joined name (a ``user``
  field, if sent, must be that name).

A command with a bad field, an unknown type or a second subscription to the
same topic gets ``{"type": "error", "error": ...}`` and the socket stays open.
Commands are rate-limited per socket (``ws_command_rate``) and chat posts per
identity and address as over HTTP: one over either limit gets
``{"type": "error", "error": "rate limited", "retry_after": S}``, and a socket
that goes on sending over the limit (:data:`FLOOD_STRIKES` refusals in a row)
is closed with 1008. ``/ws?token=<token>`` holds an HTTP chat identity
present while the socket is open (:func:`lab.chat.http.hold_presence`).
A frame that is not a JSON object closes with 1008, a binary frame with 1003,
a frame over ``max_ws_message`` characters with 1009 (§7.4.1). Ping/pong
heartbeats (§5.5.2) every ``heartbeat`` seconds; a peer that stops answering
is closed. A slow consumer, and a socket whose topic lost messages upstream
(see :mod:`lab.mailbox`), is closed with 1013 (try again: resume), shutdown
with 1001.

The handler task reads commands. Messages wait in the socket's mailbox, and a
writer task drains it while anything is queued, then ends (thousands of idle
sockets hold no task). Before any close frame goes out the mailbox is closed
(:class:`ClosingWebSocket`), so no data frame follows a close frame.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from lab.chat.errors import ChatError, RateLimited
from lab.chat.http import CHAT_KEY, hold_presence, release_presence
from lab.chat.room import ChatService, validate_user
from lab.delivery import DELIVERY_KEY
from lab.hub import Hub, Message
from lab.limits import Rate, TokenBucket, retry_after
from lab.mailbox import LOST_UPSTREAM, SLOW_CONSUMER
from lab.stats import TransportCounters
from lab.transports.common import (
    HUB_KEY,
    LIVE_KEY,
    NO_STORE,
    SETTINGS_KEY,
    SHUTDOWN,
    STATS_KEY,
    client_address,
    count_request,
    count_response,
    json_error,
    missed_notice,
    parse_since,
    query_topic,
    resume,
)

_closing: set[asyncio.Task[None]] = set()  # strong references until each close finishes

log = logging.getLogger("lab.connections")

CLOSE_CODES = {SHUTDOWN: WSCloseCode.GOING_AWAY, SLOW_CONSUMER: WSCloseCode.TRY_AGAIN_LATER,
               LOST_UPSTREAM: WSCloseCode.TRY_AGAIN_LATER}

FLOOD_STRIKES = 5
"""Commands over the rate limit in a row after which a socket is closed (1008) as a flooder."""


def encode_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented text frame from the server (RFC 6455 §5.2)::

         0                   1                   2                   3
         0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
        +-+-+-+-+-------+-+-------------+-------------------------------+
        |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
        |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
        |N|V|V|V|       |S|             |   (if payload len==126/127)   |
        | |1|2|3|       |K|             |                               |
        +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
        |                         Payload Data ...                      |
        +---------------------------------------------------------------+

    FIN=1 and opcode 1 (text) make the first byte 0x81; a server never masks
    (MASK=0), so the second byte is the length when under 126, else 126 and a
    16-bit length, or 127 and a 64-bit one.
    """
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 65536:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload


def frame_header_size(payload: int) -> int:
    """Bytes of an unmasked (server → client) frame header for a ``payload``-byte message."""
    return 2 if payload < 126 else 4 if payload < 65536 else 10


def message_frame(message: Message) -> bytes:
    """What one message becomes on the socket: its JSON in one text frame."""
    return encode_frame(message.json)


class ClosingWebSocket(web.WebSocketResponse):
    """aiohttp's WebSocket response, closing the session's mailbox before any close frame.

    aiohttp closes from inside ``receive()`` too (a client's close frame, a
    protocol error); all of it goes through :meth:`close`.
    """

    # aiohttp's class has slots: without them here, each socket would grow a dict (+1.5 KB).
    __slots__ = ("session",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session: Session | None = None

    async def close(self, **kwargs: Any) -> bool:
        """No more messages for this socket, then close as aiohttp does (nothing to close if the
        client left during the handshake: aiohttp would raise)."""
        if not self.prepared:
            return False
        if self.session is not None:
            self.session.mailbox.close("socket closing")
        return await super().close(**kwargs)


class CommandError(ValueError):
    """A well-formed command the server cannot carry out."""


class Session:
    """One socket: its mailbox (of which it is the owner), subscriptions, chat identity, and
    the bucket its commands draw from (made at its first command)."""

    # Thousands of idle sockets each hold one: slots keep that small.
    __slots__ = ("_pump", "address", "chat", "command_rate", "commands", "counters", "hub",
                 "mailbox", "strikes", "token", "transport", "user", "ws")

    def __init__(self, request: web.Request, ws: ClosingWebSocket, hub: Hub, chat: ChatService,
                 counters: TransportCounters, maxsize: int, command_rate: Rate) -> None:
        assert request.transport is not None
        self.transport = request.transport
        self.address = client_address(request)  # who speaks, for the chat's per-address limit
        self.ws = ws
        self.hub = hub
        self.chat = chat
        self.counters = counters
        self.user: str | None = None
        self.token: str | None = None
        self.command_rate = command_rate
        self.commands: TokenBucket | None = None
        self.strikes = 0
        self._pump: asyncio.Task[None] | None = None
        self.mailbox = request.app[DELIVERY_KEY].mailbox(
            request, "websocket", message_frame, self, maxsize, compressed=bool(ws.compress))
        ws.session = self

    async def send(self, payload: bytes) -> None:
        """Send one text frame and count it (compressed: the message's size, not the wire's)."""
        await self.ws.send_frame(payload, WSMsgType.TEXT)
        self.counters.body_bytes += len(payload)
        self.counters.framing_bytes += frame_header_size(len(payload))

    def queued(self) -> None:
        """Start the writer task unless it runs (the mailbox queued something)."""
        if self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(self.pump())

    async def pump(self) -> None:
        """Write queued messages until none are left, then end (no idle task per socket)."""
        try:
            while batch := self.mailbox.take():
                for message in batch:
                    await self.send(message.json)
                self.counters.messages_sent += len(batch)
        except ConnectionError:
            pass
        finally:
            self._pump = None

    def closed(self, reason: str) -> None:
        """Close the socket with the code for ``reason``, aborting if it cannot be sent."""
        code = CLOSE_CODES.get(reason)
        if code is None or self.ws.closed:
            return
        task = asyncio.get_running_loop().create_task(self._close(code, reason))
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    async def _close(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=reason.encode()), 1.0)
        except (TimeoutError, ConnectionError):
            self.transport.abort()

    async def stop_pump(self) -> None:
        """Cancel the writer task, if any, and wait for it."""
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)

    async def subscribe(self, command: dict[str, Any]) -> None:
        """Attach the socket to a topic, after its resume backlog; maybe join the chat."""
        name = command.get("topic")
        if not isinstance(name, str) or name not in self.hub:
            raise CommandError(f"unknown topic {name!r}")
        topic = self.hub[name]
        if topic in self.mailbox.topics:
            raise CommandError(f"already subscribed to {name!r}")
        since = command.get("since")
        if since is not None and (type(since) is not int or since < 0):
            raise CommandError("since must be a non-negative integer")
        user = command.get("user")
        if user is not None:
            if name != "chat":
                raise CommandError("only the chat topic takes a user")
            if self.user is not None:
                raise CommandError(f"already joined as {self.user!r}")
            validate_user(user)
        self.start(topic.name, since)  # first, so that the socket hears its own join
        if user is not None:
            try:
                self.token = (await self.chat.join(user, held=True)).token
            except ChatError:
                self.detach(topic.name)
                raise
            self.user = user

    def start(self, name: str, since: int | None) -> None:
        """Resume ``name`` after ``since``: missed notice, backlog, then live.

        All in one synchronous step, so no live message can get ahead of the
        backlog: the notice is written straight to the socket's buffer, the
        backlog queued ahead of anything live.
        """
        backlog = resume(self.hub[name], since, self.mailbox)
        if backlog.missed:
            notice = missed_notice(name, backlog.missed)
            self.transport.write(encode_frame(notice))
            self.counters.body_bytes += len(notice)
            self.counters.framing_bytes += frame_header_size(len(notice))
        self.mailbox.put_backlog(backlog.messages)

    async def unsubscribe(self, command: dict[str, Any]) -> None:
        """Detach from a topic; leaving ``chat`` also leaves the room."""
        name = command.get("topic")
        if not isinstance(name, str) or name not in self.hub \
                or self.hub[name] not in self.mailbox.topics:
            raise CommandError(f"not subscribed to {name!r}")
        self.detach(name)
        if name == "chat":
            await self.leave()

    def detach(self, name: str) -> None:
        """Stop delivering topic ``name`` to this socket."""
        self.hub[name].detach(self.mailbox)
        self.mailbox.discard_topic(name)

    async def say(self, command: dict[str, Any]) -> None:
        """Publish a chat message as this socket's identity."""
        if self.token is None:
            raise CommandError("subscribe to chat with a user to speak")
        await self.chat.say(self.token, command.get("text"), command.get("user"), self.address)

    async def leave(self) -> None:
        """Leave the chat room if this socket joined it."""
        if self.token is not None:
            token, self.token, self.user = self.token, None, None
            await self.chat.leave(token)

    def over_limit(self) -> float:
        """Take a token from the socket's command bucket: 0.0, or the seconds to wait."""
        now = asyncio.get_running_loop().time()
        if self.commands is None:
            self.commands = TokenBucket(self.command_rate, now)
        return self.commands.take(now)

    async def refuse(self, wait: float) -> bool:
        """Answer a command over a limit; False when the socket was closed as a flooder."""
        self.strikes += 1
        if self.strikes >= FLOOD_STRIKES:
            reason = f"flooding: {FLOOD_STRIKES} commands in a row over the rate limit"
            await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=reason.encode())
            return False
        await self.send(orjson.dumps(
            {"type": "error", "error": "rate limited", "retry_after": retry_after(wait)}))
        return True

    async def handle_text(self, text: str) -> bool:
        """Carry out one command; False when the socket was closed for it."""
        try:
            command = orjson.loads(text)
        except orjson.JSONDecodeError:
            command = None
        if not isinstance(command, dict):
            await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"expected a JSON object")
            return False
        wait = self.over_limit()
        if wait:
            return await self.refuse(wait)
        kind = command.get("type")
        try:
            if kind == "subscribe":
                await self.subscribe(command)
            elif kind == "unsubscribe":
                await self.unsubscribe(command)
            elif kind == "chat":
                await self.say(command)
            else:
                raise CommandError(f"unknown command type {kind!r}")
        except RateLimited as exc:
            return await self.refuse(exc.retry_after)
        except (CommandError, ChatError) as exc:
            await self.send(orjson.dumps({"type": "error", "error": str(exc)}))
        self.strikes = 0
        return True


async def handle_ws(request: web.Request) -> web.WebSocketResponse:
    """Upgrade, optionally subscribe from the query, then serve commands and frames."""
    count_request(request, "websocket")
    settings = request.app[SETTINGS_KEY]
    first_topic = query_topic(request).name if "topic" in request.query else None
    since = parse_since(request.query.get("since"))
    counters = request.app[STATS_KEY]["websocket"]
    live = request.app[LIVE_KEY]
    held = await hold_presence(request)  # an unknown ?token= is 401, before the upgrade

    # aiohttp's own limit (a bare 1009, no reason) only catches the absurd; ours explains.
    # permessage-deflate only with --ws-compress, and only if the client offers it.
    ws = ClosingWebSocket(heartbeat=settings.heartbeat, max_msg_size=16 * settings.max_ws_message,
                          compress=settings.ws_compress)
    ws.headers.update(NO_STORE)
    try:
        await ws.prepare(request)
    except ConnectionError:  # the client left during the handshake
        await release_presence(request, held)
        return ws
    except (web.HTTPException, ValueError):  # not a handshake (aiohttp refuses it in plain
        # text, or raises ValueError for a Sec-WebSocket-Key that is not ASCII)
        raise json_error(web.HTTPBadRequest, "expected a WebSocket handshake (GET with "
                         "Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Key and "
                         "Sec-WebSocket-Version: 13)") from None
    count_response(request, ws)
    ws.headers.clear()  # sent and counted: free them for the socket's life (~600 B each)
    hub, chat = request.app[HUB_KEY], request.app[CHAT_KEY]
    session = Session(request, ws, hub, chat, counters, settings.mailbox_size,
                      settings.ws_command_rate)
    live.open(request, "websocket", counters, session.mailbox)
    if first_topic is not None:
        session.start(first_topic, since)
    session.mailbox.go_live()
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                if len(msg.data) > settings.max_ws_message:
                    reason = f"message over {settings.max_ws_message} characters"
                    await ws.close(code=WSCloseCode.MESSAGE_TOO_BIG, message=reason.encode())
                    break
                if not await session.handle_text(msg.data):
                    break
            elif msg.type is WSMsgType.BINARY:
                await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"binary frames are not supported")
                break
    except ConnectionError:
        pass
    finally:
        if session.mailbox.closed_reason == SLOW_CONSUMER:
            counters.slow_consumers_dropped += 1
        try:
            await session.leave()
            await release_presence(request, held)
        except (ChatError, ConnectionError, TimeoutError) as exc:  # the room may be gone
            log.warning("chat leave failed: %s", exc)
        live.close(request, "websocket", counters, session.mailbox)
        await session.stop_pump()
    return ws
