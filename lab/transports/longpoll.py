"""Long polling: ``GET /api/longpoll?topic=prices&since=N[&timeout=S]``.

A poll the server holds until it has news (RFC 6202 §2.1): the request waits
until a message with a seq above ``since`` exists or the timeout passes
(default 30 s, at most 120). The answer then carries every buffered message
after ``since`` — several, if they arrived together, the batching RFC 6202
§2.2 describes — so nothing buffered is ever skipped; its body is the short
poll's (:func:`lab.transports.poll.encode_body`). A timeout answers with an
empty ``messages``. Without ``since`` (or with one from before a server
restart, beyond the head) the poll waits for the next message.

The client then asks again at once with the last seq it saw: one request per
answer, so a message published while an answer is in flight waits for the
next request — the "three transits" of RFC 6202 §2.2's worst case.

How it waits: a held request is a subscriber for one message. It attaches a
mailbox to the topic and awaits it; the first message (or the timeout, or the
server's shutdown, which closes every mailbox) wakes it, and it answers from
the topic's buffer. A long poll that carries a chat identity's ``?token=``
holds it present while it waits (:func:`lab.chat.http.hold_presence`).
"""

from __future__ import annotations

from aiohttp import web

from lab.chat.http import hold_presence, release_presence
from lab.hub import Mailbox, Topic
from lab.transports.common import (
    SETTINGS_KEY,
    STATS_KEY,
    count_request,
    json_response,
    parse_seconds,
    parse_since,
    query_topic,
)
from lab.transports.poll import encode_body


def resume_point(topic: Topic, since: int | None) -> int:
    """Where a long poll resumes: ``since``, or the head when absent or beyond it (say, a resume
    point from before a server restart): such a poll waits for the next message."""
    return topic.head if since is None else min(since, topic.head)


async def handle_longpoll(request: web.Request) -> web.Response:
    """Hold the request until there is news after ``since``, or time out."""
    count_request(request, "longpoll")
    settings = request.app[SETTINGS_KEY]
    topic = query_topic(request)
    since = parse_since(request.query.get("since"))
    timeout = parse_seconds(
        request.query.get("timeout"), settings.longpoll_default, settings.longpoll_max, "timeout"
    )
    since = resume_point(topic, since)
    held = await hold_presence(request)
    if topic.head == since:
        mailbox = Mailbox(settings.mailbox_size)
        topic.attach(mailbox)
        mailbox.go_live()
        try:
            await mailbox.get_batch(timeout)  # the next message, the timeout, or shutdown
        finally:
            mailbox.close("answered")
            await release_presence(request, held)
    else:
        await release_presence(request, held)
    backlog = topic.since(since)
    request.app[STATS_KEY]["longpoll"].messages_sent += len(backlog.messages)
    return json_response(encode_body(backlog.messages, backlog.head, backlog.missed))
