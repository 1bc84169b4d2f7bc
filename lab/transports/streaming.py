"""The one loop behind both HTTP streams (chunked NDJSON and SSE).

A stream handler attaches a mailbox to the topic and writes the resume
backlog. From then on a published message is written straight to the socket
as a pre-built chunk shared by every subscriber (the topic's direct fan-out,
or the mailbox's fast path), while the socket accepts it; when the socket's
send buffer is full, messages queue in the mailbox and this loop writes them,
several per chunk, as the client catches up. A heartbeat goes out when the
stream was quiet for ``heartbeat`` seconds. The stream ends when the client
goes away, when the mailbox overflows (slow consumer: see :mod:`lab.hub`) or
at shutdown; a client that stopped reading cannot hold the loop, because the
overflow aborts the blocked write. The loop ends only once the mailbox is
closed, and so detached from its topic: no chunk can follow the last one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from lab.hub import SLOW_CONSUMER, Mailbox, Message
from lab.stats import TransportCounters, chunk_framing
from lab.transports.common import (
    LIVE_KEY,
    SETTINGS_KEY,
    STATS_KEY,
    count_response,
    direct_wire,
    missed_notice,
    query_topic,
    resume,
)

STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
"""The contract's headers on every stream: never cached, never held back by a proxy."""

END_TIMEOUT = 1.0
"""Seconds a stream may take to send its final chunk before the connection is aborted."""


@dataclass(frozen=True, slots=True)
class Framing:
    """How one stream transport frames messages, notices and heartbeats."""

    transport: str
    content_type: str
    message: Callable[[Message], bytes]
    frame: str
    """The field of :class:`lab.hub.Frames` holding a message's pre-built chunk."""
    notice: Callable[[bytes], bytes]
    heartbeat: bytes


class StreamMailbox(Mailbox):
    """A stream's mailbox: writes pre-built chunks straight to its socket."""

    __slots__ = ("counters", "framing", "protocol", "writing")

    def __init__(
        self, maxsize: int, request: web.Request, framing: Framing, counters: TransportCounters
    ) -> None:
        super().__init__(maxsize)
        wire = direct_wire(request.app, framing.transport, framing.frame)
        self.link_socket(wire, request.transport)  # type: ignore[arg-type]
        self.protocol = request.protocol
        self.framing = framing
        self.counters = counters
        self.writing = False  # the handler is inside a (possibly blocked) write

    def write_now(self, message: Message) -> bool:
        """The shared pre-built chunk, straight to the socket while it keeps up."""
        transport = self.transport
        if transport is None or transport.is_closing() or self.protocol.writing_paused:
            return False
        data = getattr(message.frames, self.framing.frame)
        transport.write(data)
        self.counters.add_sent(message, data, 1)
        return True

    def closed(self, reason: str) -> None:
        """A write the client is not reading would block forever: abort it."""
        if self.writing and self.transport is not None:
            self.transport.abort()


async def serve_stream(request: web.Request, framing: Framing, since: int | None) -> web.StreamResponse:
    """Stream ``framing``-encoded messages of the requested topic until the end."""
    topic = query_topic(request)
    settings = request.app[SETTINGS_KEY]
    counters = request.app[STATS_KEY][framing.transport]
    live = request.app[LIVE_KEY]

    response = web.StreamResponse(headers={"Content-Type": framing.content_type, **STREAM_HEADERS})
    try:
        await response.prepare(request)
    except ConnectionError:  # the client left before the headers went out
        return response
    count_response(request, response)
    mailbox = StreamMailbox(settings.mailbox_size, request, framing, counters)
    backlog = resume(topic, since, mailbox)
    live.open(request, framing.transport, counters, mailbox)

    async def write(payload_bytes: int, data: bytes) -> None:
        mailbox.writing = True
        try:
            await response.write(data)
        finally:
            mailbox.writing = False
        counters.body_bytes += payload_bytes
        counters.framing_bytes += len(data) - payload_bytes + chunk_framing(len(data))

    async def write_batch(batch: list[Message]) -> None:
        await write(sum(len(m.json) for m in batch), b"".join(map(framing.message, batch)))
        counters.messages_sent += len(batch)

    try:
        if backlog.missed:
            notice = missed_notice(topic.name, backlog.missed)
            await write(len(notice), framing.notice(notice))
        if backlog.messages:
            await write_batch(backlog.messages)
        mailbox.fast = True  # only now: nothing may overtake the backlog
        seen = topic.head  # a new head means this stream was sent something
        while True:
            batch = await mailbox.get_batch(settings.heartbeat)
            if mailbox.is_closed:
                break
            if batch:
                await write_batch(batch)
            elif topic.head == seen:
                await write(0, framing.heartbeat)
            seen = topic.head
        # A client that stopped reading cannot take the end either: give it a second.
        await asyncio.wait_for(response.write_eof(), END_TIMEOUT)
    except TimeoutError:
        if mailbox.transport is not None:
            mailbox.transport.abort()
    except ConnectionError:
        pass
    finally:
        if mailbox.closed_reason == SLOW_CONSUMER:
            counters.slow_consumers_dropped += 1
        live.close(request, framing.transport, counters, mailbox)
    return response
