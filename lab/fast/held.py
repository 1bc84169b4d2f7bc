"""Held long polls, answered in one pass when their topic has news.

The front door (:mod:`lab.fast.front`) holds a long poll at the socket when
there is nothing newer than its ``since`` yet. :class:`HeldPolls` keeps them
per topic and per timeout; the publish that brings news writes the shared
pre-built answer (:mod:`lab.fast.answers`) to every waiting socket in one loop.
Timeouts share one timer per (topic, timeout) group instead of one per
request. The textbook long poll (:mod:`lab.transports.longpoll`) waits in a
mailbox of its own instead, one task per request.
"""

from __future__ import annotations

import asyncio

from lab.fast.answers import Answer, PollAnswers
from lab.hub import Backlog, Message, Topic


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
