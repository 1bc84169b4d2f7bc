"""Long polling: ``GET /api/longpoll?topic=prices&since=N[&timeout=S]``.

The request is held until a message with a seq above ``since`` exists or the
timeout passes (default 30 s, at most 120); the answer then carries every
buffered message after ``since`` (several, if they arrived together — the
batching RFC 6202 describes), so nothing buffered is ever skipped. A timeout
answers with an empty ``messages``. Without ``since`` the poll waits for the
next message after the current head.

Held polls are answered in one pass (:class:`HeldPolls`): the publish that
brings news writes the shared pre-built response (see
:mod:`lab.transports.answers`) to every waiting socket in one loop, then wakes
the handlers, which only return. Timeouts share one timer per (topic, timeout)
group instead of one per request. A :class:`Held` poll is either an aiohttp
handler's (:class:`HeldRequest`) or one the front door holds at the socket
(:class:`lab.front.HeldSocket`); the pass treats both alike.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from lab.hub import Backlog, Message, Topic
from lab.stats import TransportCounters
from lab.transports.answers import ANSWERS_KEY, Answer, PollAnswers, send
from lab.transports.common import (
    SETTINGS_KEY,
    STATS_KEY,
    count_request,
    parse_seconds,
    parse_since,
    query_topic,
)


class Held:
    """One waiting long poll; a subclass says how its answer is delivered."""

    __slots__ = ("deadline", "since", "timeout", "topic")

    def __init__(self, topic: Topic, since: int, timeout: float) -> None:
        self.topic = topic
        self.since = since
        self.timeout = timeout
        self.deadline = asyncio.get_running_loop().time() + timeout

    def deliver(self, answer: Answer) -> None:
        """Send ``answer`` (called once)."""
        raise NotImplementedError


class HeldRequest(Held):
    """A long poll held in an aiohttp handler, which awaits :attr:`future`."""

    __slots__ = ("counters", "future", "request")

    def __init__(self, request: web.Request, counters: TransportCounters, topic: Topic,
                 since: int, timeout: float) -> None:
        super().__init__(topic, since, timeout)
        self.request = request
        self.counters = counters
        self.future: asyncio.Future[web.StreamResponse] = (
            asyncio.get_running_loop().create_future())

    def deliver(self, answer: Answer) -> None:
        """Write the answer and let the handler return its response."""
        if not self.future.done():
            self.future.set_result(send(self.request, answer, self.counters))


class HeldPolls:
    """Every waiting long poll, per topic and per timeout (a group keeps arrival order).

    Arrival order within a group is deadline order, so one timer per group,
    set for its oldest member, finds every expired poll from the front.
    """

    def __init__(self, answers: PollAnswers) -> None:
        self._answers = answers
        self._groups: dict[str, dict[float, dict[Held, None]]] = {}
        self._timers: dict[tuple[str, float], asyncio.TimerHandle] = {}
        self._topics: dict[str, Topic] = {}
        self._closed = False

    def __len__(self) -> int:
        return sum(len(g) for groups in self._groups.values() for g in groups.values())

    def hold(self, held: Held) -> None:
        """Keep ``held`` until its topic has news after its ``since`` (or its timeout)."""
        topic = held.topic
        if self._closed:
            held.deliver(self._answers.build(Backlog([], 0, topic.head)))
            return
        if topic.name not in self._topics:
            self._topics[topic.name] = topic
            self._groups[topic.name] = {}
            topic.listeners.append(lambda message: self._release(topic, message))
        self._groups[topic.name].setdefault(held.timeout, {})[held] = None
        if (topic.name, held.timeout) not in self._timers:
            self._arm(topic, held.timeout, held.deadline)

    def drop(self, held: Held) -> None:
        """Forget ``held`` unanswered (its client went away); no matter if it was answered."""
        groups = self._groups.get(held.topic.name)
        if groups is not None and held.timeout in groups:
            groups[held.timeout].pop(held, None)

    def answer_now(self, held: Held) -> None:
        """Answer ``held`` at once with what its topic has after its ``since`` (maybe nothing)."""
        self.drop(held)
        held.deliver(self._answers.answer(held.topic, held.since))

    def _release(self, topic: Topic, _message: Message) -> None:
        """A message landed: answer every poll held on ``topic`` in one pass."""
        groups = self._groups[topic.name]
        if not any(groups.values()):
            return
        self._groups[topic.name] = {}
        last_since, answer = -1, None
        for group in groups.values():
            for held in group:
                if held.since != last_since or answer is None:
                    last_since, answer = held.since, self._answers.answer(topic, held.since)
                held.deliver(answer)

    def _arm(self, topic: Topic, timeout: float, when: float) -> None:
        loop = asyncio.get_running_loop()
        self._timers[topic.name, timeout] = loop.call_at(when, self._expire, topic, timeout)

    def _expire(self, topic: Topic, timeout: float) -> None:
        """Answer the group's polls whose deadline passed; set the timer for the next one."""
        del self._timers[topic.name, timeout]
        group = self._groups[topic.name].get(timeout)
        if not group:
            return
        now = asyncio.get_running_loop().time()
        expired = []
        for held in group:
            if held.deadline > now:
                break
            expired.append(held)
        if expired:
            answer = self._answers.build(Backlog([], 0, topic.head))
            for held in expired:
                del group[held]
                held.deliver(answer)
        if group:
            self._arm(topic, timeout, next(iter(group)).deadline)

    def close(self) -> None:
        """Answer every held poll now with an empty ``messages`` (the server is stopping)."""
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for name, groups in self._groups.items():
            self._groups[name] = {}
            answer = self._answers.build(Backlog([], 0, self._topics[name].head))
            for group in groups.values():
                for held in group:
                    held.deliver(answer)


HELD_POLLS_KEY = web.AppKey("held_polls", HeldPolls)


async def handle_longpoll(request: web.Request) -> web.StreamResponse:
    """Hold the request until there is news after ``since``, or time out."""
    count_request(request, "longpoll")
    app = request.app
    settings = app[SETTINGS_KEY]
    topic = query_topic(request)
    since = parse_since(request.query.get("since"))
    timeout = parse_seconds(
        request.query.get("timeout"), settings.longpoll_default, settings.longpoll_max, "timeout"
    )
    since = resume_point(topic, since)
    counters = app[STATS_KEY]["longpoll"]
    if topic.head > since:
        return send(request, app[ANSWERS_KEY].answer(topic, since), counters)
    held = HeldRequest(request, counters, topic, since, timeout)
    polls = app[HELD_POLLS_KEY]
    polls.hold(held)
    try:
        return await held.future
    finally:
        polls.drop(held)  # cancelled (the client went away): forget it


def resume_point(topic: Topic, since: int | None) -> int:
    """Where a long poll resumes: ``since``, or the head when absent or beyond it (say, a resume
    point from before a server restart): such a poll waits for the next message."""
    return topic.head if since is None else min(since, topic.head)
