"""Short polling: ``GET /api/poll?topic=prices[&since=N]`` answers at once.

The oldest way to follow a price: ask, get an answer, ask again. The server
never waits. Without ``since`` the body holds the latest message of each
symbol; with it, every newer message still buffered, and ``missed`` counts the
newer ones the buffer no longer holds (loss is never silent). The body::

    {"messages": [<message>, ...], "head": <latest seq>, "missed": <k>}

is assembled from the messages' pre-encoded JSON (:func:`encode_body`), the
same for long polls. It goes out as an ordinary HTTP/1.1 response (RFC 9110
§15.3.1 200 OK, RFC 9112 §6 a ``Content-Length`` body), with
``Cache-Control: no-store`` (RFC 9111 §5.2.2.5) so no cache answers for us.
A poll that carries a chat identity's ``?token=`` counts as that user being
seen (:func:`lab.chat.http.hold_presence`).
"""

from __future__ import annotations

from aiohttp import web

from lab.chat.http import hold_presence, release_presence
from lab.hub import Backlog, Message, Topic
from lab.transports.common import STATS_KEY, count_request, json_response, parse_since, query_topic


def encode_body(messages: list[Message], head: int, missed: int) -> bytes:
    """The poll (and long-poll) body, assembled from the messages' pre-encoded bytes."""
    return b'{"messages":[%s],"head":%d,"missed":%d}' % (
        b",".join(m.json for m in messages), head, missed,
    )


def poll_backlog(topic: Topic, since: int | None) -> Backlog:
    """What a short poll answers: every message after ``since``, or without it the latest
    message of each symbol."""
    if since is None:
        return Backlog(topic.latest(), 0, topic.head)
    return topic.since(since)


async def handle_poll(request: web.Request) -> web.Response:
    """Answer a short poll from the topic's buffer."""
    count_request(request, "poll")
    topic = query_topic(request)
    since = parse_since(request.query.get("since"))
    await release_presence(request, await hold_presence(request))
    backlog = poll_backlog(topic, since)
    request.app[STATS_KEY]["poll"].messages_sent += len(backlog.messages)
    return json_response(encode_body(backlog.messages, backlog.head, backlog.missed))
