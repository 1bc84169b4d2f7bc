"""Poll answers: one body per question, and one whole pre-built HTTP response for it.

Short and long polls asking the same question — same topic, same ``since``,
same head — get the same answer. :class:`PollAnswers` encodes it once, with
the textbook poll's :func:`~lab.transports.poll.encode_body`, and builds the
whole response: status line, headers (those aiohttp writes for the textbook
handler's ``json_response``, in its order, with the Date of the current
second) and body, one ``bytes`` object that the front door writes straight to
the socket (:func:`write_answer`). Building an aiohttp response per answer
(headers, Date, serialisation, ``prepare``, ``write_eof``) was the largest part
of a long-poll server's CPU at thousands of clients.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from email.utils import formatdate

from aiohttp.http import SERVER_SOFTWARE

from lab.hub import Backlog, Topic
from lab.stats import TransportCounters
from lab.transports.poll import encode_body, poll_backlog

HEAD = (
    b"HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nDate: %s\r\nServer: " + SERVER_SOFTWARE.encode() + b"\r\n\r\n"
)
"""The response head aiohttp writes for a textbook poll answer (see ``json_response``)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One poll answer: its body, how many messages it holds, the whole response and the size
    of its head."""

    body: bytes
    count: int
    response: bytes
    head_size: int


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
        """The answer for ``since`` (None: the latest message per symbol)."""
        self._date_now()
        if self._heads.get(topic.name) != topic.head:
            self._heads[topic.name] = topic.head
            self._answers = {k: v for k, v in self._answers.items() if k[0] != topic.name}
        key = (topic.name, -1 if since is None else min(since, topic.head))
        answer = self._answers.get(key)
        if answer is None:
            if len(self._answers) >= self.MAX_ENTRIES:  # odd resume points cannot grow it
                self._answers.clear()
            answer = self._answers[key] = self.build(poll_backlog(topic, since))
        return answer

    def build(self, backlog: Backlog) -> Answer:
        """An answer built now from ``backlog`` (uncached: a long poll's timeout uses it)."""
        body = encode_body(backlog.messages, backlog.head, backlog.missed)
        head = HEAD % (len(body), self._date_now())
        return Answer(body, len(backlog.messages), head + body, len(head))

    def _date_now(self) -> bytes:
        """The Date header's value; a new second also empties the cache."""
        second = int(time.time())
        if second != self._second:
            self._second, self._date = second, formatdate(second, usegmt=True).encode()
            self._answers.clear()
        return self._date


def write_answer(transport: asyncio.Transport | None, answer: Answer,
                 counters: TransportCounters) -> None:
    """Write the whole response of ``answer`` to ``transport``; count its messages and bytes."""
    counters.messages_sent += answer.count
    if transport is None or transport.is_closing():
        return
    transport.write(answer.response)
    counters.response_header_bytes += answer.head_size
    counters.body_bytes += len(answer.body)
