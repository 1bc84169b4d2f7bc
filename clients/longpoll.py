"""Long-poll client: ``GET /api/longpoll?topic=T&since=N``, re-sent as soon as each answer lands.

Twin of ``lab/transports/longpoll.py``. HTTP long polling as RFC 6202 §2 defines it: the
server holds each request until it has something newer than ``since`` (or its timeout passes),
answers, and the client asks again at once. The requests and answers are those of the short
poll (``clients.poll``: the same body, parser and request/response loop); only the waiting
differs.

Each connection starts with one immediate ``GET /api/poll`` (with ``since`` if known): it
proves the server is there, and without a resume point it fetches the latest price per symbol
and the ``head`` to wait beyond. Then the client holds one long poll at a time on the
keep-alive connection; an empty answer (the server's timeout, 30 s by default) is simply
re-sent. A message published while an answer is on its way back waits for the next request to
arrive: the "three network transits" of RFC 6202 §2.2 (maximal latency), which the latency
figures show. After a drop the client reconnects with backoff and resumes from the last seq,
so nothing buffered is skipped; ``missed`` in a body counts as gaps.

Deliberately not done: more than one long poll in flight at a time, and asking the server
for another hold time (``timeout=``); its default is what the figures measure.

Byte counting: as for the short poll (``clients.poll``).
"""

from __future__ import annotations

from lab.contract import PATHS

from .poll import POLL_TIMEOUT, PollingClient

HOLD_TIMEOUT = 40.0
"""Seconds to wait for a long-poll answer: the server's 30 s default plus a margin."""


class LongPollClient(PollingClient):
    """Holds one long poll at a time; see the module docstring."""

    name = "longpoll"

    async def _open(self) -> None:
        snapshot = self._last_seq is None
        target = self._target(PATHS["poll"], since=self._last_seq)
        self._accept_poll_body(await self._exchange(target, POLL_TIMEOUT), snapshot)

    async def _receive(self) -> None:
        if self._conn is None or self._conn.closed:
            # The server closed the idle keep-alive connection: a new connection starts with
            # a poll, as the first one did (it proves the server is there before holding).
            await self._open()
            return
        target = self._target(PATHS["longpoll"], since=self._last_seq)
        self._accept_poll_body(await self._exchange(target, HOLD_TIMEOUT), False)
