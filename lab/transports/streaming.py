"""The one loop behind both HTTP streams (chunked NDJSON and SSE).

A stream handler attaches a mailbox to the topic, writes the resume backlog,
then writes whatever the mailbox holds — several queued messages in one chunk
— and a heartbeat whenever the connection was quiet for ``heartbeat`` seconds.
It ends when the client goes away, when the mailbox overflows (slow consumer:
see :mod:`lab.hub`) or at shutdown. If the client stops reading, the write
blocks; the overflow then aborts the connection instead of waiting forever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from lab.hub import SLOW_CONSUMER, Mailbox, Message
from lab.stats import chunk_framing
from lab.transports.common import (
    LIVE_KEY,
    SETTINGS_KEY,
    STATS_KEY,
    missed_notice,
    query_topic,
    resume,
)


@dataclass(frozen=True, slots=True)
class Framing:
    """How one stream transport frames messages, notices and heartbeats."""

    transport: str
    content_type: str
    message: Callable[[Message], bytes]
    notice: Callable[[bytes], bytes]
    heartbeat: bytes


async def serve_stream(request: web.Request, framing: Framing, since: int | None) -> web.StreamResponse:
    """Stream ``framing``-encoded messages of the requested topic until the end."""
    topic = query_topic(request)
    settings = request.app[SETTINGS_KEY]
    counters = request.app[STATS_KEY][framing.transport]
    live = request.app[LIVE_KEY]

    response = web.StreamResponse(headers={"Content-Type": framing.content_type})
    await response.prepare(request)

    mailbox = Mailbox(settings.mailbox_size)
    backlog = resume(topic, since, mailbox)
    live.open(request, framing.transport, counters, mailbox)
    writing = False

    def abort_if_stuck(reason: str) -> None:
        if writing and request.transport is not None:
            request.transport.abort()

    mailbox.on_close = abort_if_stuck

    async def write(payload_bytes: int, data: bytes) -> None:
        nonlocal writing
        writing = True
        try:
            await response.write(data)
        finally:
            writing = False
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
        while True:
            batch = await mailbox.get_batch(settings.heartbeat)
            if mailbox.closed:
                break
            if batch:
                await write_batch(batch)
            else:
                await write(0, framing.heartbeat)
        await response.write_eof()
    except ConnectionError:
        pass
    finally:
        if mailbox.closed_reason == SLOW_CONSUMER:
            counters.slow_consumers_dropped += 1
        live.close(request, framing.transport, counters, mailbox)
    return response
