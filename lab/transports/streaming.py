"""The one loop behind both HTTP streams (chunked NDJSON and SSE).

A stream is one HTTP/1.1 response that never ends: its body goes out in
chunks (RFC 9112 §7.1), each written when there is something to say. The
handler prepares the response, attaches a mailbox to the topic, writes the
``missed`` notice and the resume backlog, then loops: wait for queued
messages, write them (several share one chunk when they queued together),
and when the stream was quiet for ``heartbeat`` seconds, write a heartbeat so
proxies and clients know it is alive. What a message, a notice and a
heartbeat look like is each transport's :class:`StreamFormat`. Each stream
frames its own messages — the JSON inside was encoded once, in the hub; only
the few bytes around it are built per connection — which is the textbook's
cost: the engineered path (:mod:`lab.fast`) frames each message once for all.

A stream that carries a chat identity's ``?token=`` keeps it present while
open (:func:`lab.chat.http.hold_presence`).

The stream ends when the client goes away, when the mailbox overflows (slow
consumer: see :mod:`lab.mailbox`) or at shutdown; a client that stopped
reading cannot hold the loop, because the overflow aborts the blocked write.
The loop ends only once the mailbox is closed, and so detached from its
topic: no chunk can follow the last one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from lab.chat.http import hold_presence, release_presence
from lab.delivery import DELIVERY_KEY
from lab.hub import Message
from lab.mailbox import SLOW_CONSUMER
from lab.stats import chunk_framing
from lab.transports.common import (
    LIVE_KEY,
    SETTINGS_KEY,
    STATS_KEY,
    count_response,
    missed_notice,
    query_topic,
    resume,
)

STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
"""The contract's headers on every stream: never cached, never held back by a proxy."""

END_TIMEOUT = 1.0
"""Seconds a stream may take to send its final chunk before the connection is aborted."""


def http_chunk(data: bytes) -> bytes:
    """``data`` as one HTTP/1.1 chunk (RFC 9112 §7.1): its size in hex, CRLF, the data, CRLF.

    aiohttp writes exactly this for each ``response.write(data)`` on a stream."""
    return b"%x\r\n%s\r\n" % (len(data), data)


@dataclass(frozen=True, slots=True)
class StreamFormat:
    """How one stream transport writes messages, notices and heartbeats."""

    transport: str
    content_type: str
    encode: Callable[[Message], bytes]
    notice: Callable[[bytes], bytes]
    heartbeat: bytes

    def unit(self, message: Message) -> bytes:
        """What one message alone becomes on the socket: its encoding in one chunk."""
        return http_chunk(self.encode(message))


class StreamConnection:
    """The owner of a stream's mailbox: knows whether the handler is inside a write."""

    __slots__ = ("transport", "writing")

    def __init__(self, request: web.Request) -> None:
        self.transport = request.transport
        self.writing = False

    def queued(self) -> None:
        """Nothing to do: the handler's loop waits in ``get_batch`` or is about to."""

    def closed(self, reason: str) -> None:
        """A write the client is not reading would block forever: abort it."""
        if self.writing and self.transport is not None:
            self.transport.abort()


async def serve_stream(request: web.Request, fmt: StreamFormat, since: int | None
                       ) -> web.StreamResponse:
    """Stream ``fmt``-encoded messages of the requested topic until the end."""
    topic = query_topic(request)
    settings = request.app[SETTINGS_KEY]
    counters = request.app[STATS_KEY][fmt.transport]
    live = request.app[LIVE_KEY]
    held = await hold_presence(request)

    response = web.StreamResponse(headers={"Content-Type": fmt.content_type, **STREAM_HEADERS})
    try:
        await response.prepare(request)
    except ConnectionError:  # the client left before the headers went out
        await release_presence(request, held)
        return response
    count_response(request, response)
    connection = StreamConnection(request)
    mailbox = request.app[DELIVERY_KEY].mailbox(
        request, fmt.transport, fmt.unit, connection, settings.mailbox_size)
    backlog = resume(topic, since, mailbox)
    live.open(request, fmt.transport, counters, mailbox)

    async def write(payload_bytes: int, data: bytes) -> None:
        connection.writing = True
        try:
            await response.write(data)
        finally:
            connection.writing = False
        counters.body_bytes += payload_bytes
        counters.framing_bytes += len(data) - payload_bytes + chunk_framing(len(data))

    async def write_batch(batch: list[Message]) -> None:
        await write(sum(len(m.json) for m in batch), b"".join(map(fmt.encode, batch)))
        counters.messages_sent += len(batch)

    try:
        if backlog.missed:
            notice = missed_notice(topic.name, backlog.missed)
            await write(len(notice), fmt.notice(notice))
        if backlog.messages:
            await write_batch(backlog.messages)
        mailbox.go_live()  # only now: nothing may overtake the backlog
        seen = topic.head  # a new head means this stream was sent something
        while True:
            batch = await mailbox.get_batch(settings.heartbeat)
            if mailbox.is_closed:
                break
            if batch:
                await write_batch(batch)
            elif topic.head == seen:
                await write(0, fmt.heartbeat)
            seen = topic.head
        # A client that stopped reading cannot take the end either: give it a second.
        await asyncio.wait_for(response.write_eof(), END_TIMEOUT)
    except TimeoutError:
        if connection.transport is not None:
            connection.transport.abort()
    except ConnectionError:
        pass
    finally:
        if mailbox.closed_reason == SLOW_CONSUMER:
            counters.slow_consumers_dropped += 1
        live.close(request, fmt.transport, counters, mailbox)
        await release_presence(request, held)
    return response
