"""Poll answers: one body per question, sent as a whole pre-built HTTP response.

Short and long polls asking the same question — same topic, same ``since``,
same head — get the same answer. :class:`PollAnswers` encodes it once (the
body from the messages' pre-encoded bytes) and, for HTTP/1.1 keep-alive GETs,
also the whole response: status line, headers (those aiohttp writes, in its
order, with the Date of the current second) and body, one ``bytes`` object
written straight to the socket by :func:`send`. The handler then returns a
:class:`SentResponse`, which only lets aiohttp finish the request. Building an
aiohttp ``Response`` per answer (headers, Date, serialisation, ``prepare``,
``write_eof``) was the largest part of a long-poll server's CPU at thousands of
clients. Other requests (HTTP/1.0, ``Connection: close``, HEAD) get an ordinary
response with the same headers. The front door (:mod:`lab.front`) writes the
same bytes, with :func:`write_answer`, for the polls it answers itself.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from email.utils import formatdate

from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11

from lab.hub import Backlog, Topic
from lab.stats import TransportCounters
from lab.transports.common import json_response, poll_body

HEAD = (
    b"HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nDate: %s\r\nServer: " + SERVER_SOFTWARE.encode() + b"\r\n\r\n"
)
"""The response head aiohttp writes for a poll answer (see ``json_response``)."""


class SentResponse(web.StreamResponse):
    """A response whose bytes are already on the socket: aiohttp only finishes the request.

    It is born prepared and ended, so aiohttp's ``prepare``/``write_eof`` write
    nothing, and keeps the connection alive (only keep-alive requests take
    this path). Nothing in aiohttp changes a response after ``write_eof``, so
    every request given the same answer shares one.
    """

    def __init__(self, body_length: int) -> None:
        super().__init__(status=200)
        self._keep_alive = True
        self._body_length = body_length
        self._eof_sent = True


@dataclass(frozen=True, slots=True)
class Answer:
    """One poll answer: its body, how many messages it holds, the whole response (and the size
    of its head), and the response object that stands in for it."""

    body: bytes
    count: int
    wire: bytes
    head_size: int
    sent: SentResponse


def sends_raw(request: web.BaseRequest) -> bool:
    """Whether ``request`` may be answered with a pre-built keep-alive HTTP/1.1 response."""
    return (request.method == "GET" and request.version == HttpVersion11
            and request.keep_alive and request.transport is not None)


class PollAnswers:
    """Answers keyed by (topic, since), valid while the topic's head (and the second) stays.

    When thousands of long polls are released by one publish, most share one
    ``since``; they then share one body and one response instead of building
    thousands. Short polls share it too (``since=None``: the latest message per
    symbol).
    """

    MAX_ENTRIES = 1024

    def __init__(self) -> None:
        self._heads: dict[str, int] = {}
        self._answers: dict[tuple[str, int], Answer] = {}
        self._second = 0
        self._date = b""

    def answer(self, topic: Topic, since: int | None) -> Answer:
        """The answer for ``since`` (None: the latest message per symbol), with its response."""
        self._date_now()
        if self._heads.get(topic.name) != topic.head:
            self._heads[topic.name] = topic.head
            self._answers = {k: v for k, v in self._answers.items() if k[0] != topic.name}
        key = (topic.name, -1 if since is None else min(since, topic.head))
        answer = self._answers.get(key)
        if answer is None:
            if len(self._answers) >= self.MAX_ENTRIES:  # odd resume points cannot grow it
                self._answers.clear()
            backlog = topic.since(since) if since is not None else Backlog(
                topic.latest(), 0, topic.head)
            answer = self.build(backlog)
            self._answers[key] = answer
        return answer

    def build(self, backlog: Backlog) -> Answer:
        """An answer built now from ``backlog`` (uncached: a long poll's timeout uses it)."""
        body = poll_body(backlog.messages, backlog.head, backlog.missed)
        head = HEAD % (len(body), self._date_now())
        return Answer(body, len(backlog.messages), head + body, len(head), SentResponse(len(body)))

    def _date_now(self) -> bytes:
        """The Date header's value; a new second also empties the cache."""
        second = int(time.time())
        if second != self._second:
            self._second, self._date = second, formatdate(second, usegmt=True).encode()
            self._answers.clear()
        return self._date


def send(request: web.Request, answer: Answer, counters: TransportCounters) -> web.StreamResponse:
    """Answer ``request``: the pre-built response straight to the socket when it may, else normally."""
    if not sends_raw(request):
        counters.messages_sent += answer.count
        return json_response(answer.body)
    write_answer(request.transport, answer, counters)
    return answer.sent


def write_answer(transport: asyncio.Transport | None, answer: Answer,
                 counters: TransportCounters) -> None:
    """Write the whole response of ``answer`` to ``transport``; count its messages and bytes."""
    counters.messages_sent += answer.count
    if transport is None or transport.is_closing():
        return
    transport.write(answer.wire)
    counters.response_header_bytes += answer.head_size
    counters.body_bytes += len(answer.body)


ANSWERS_KEY = web.AppKey("poll_answers", PollAnswers)
