"""Short-poll client: ``GET /api/poll?topic=T[&since=N]`` every ``interval`` seconds.

Twin of ``lab/transports/poll.py``. The first request has no ``since`` (unless one was given),
so the server answers with the latest message of each symbol: a snapshot whose seq jumps are
not gaps. Every later request asks for everything after the last seq seen, on one keep-alive
connection; a message that fell out of the server's buffer in between is reported in
``missed`` and counted as a gap. Polls run on a fixed clock (``start + k * interval``); a poll
that is late (slow server, reconnect) is sent at once, and missed ticks are skipped, not
bunched. After a drop the client reconnects with backoff and polls at once from the last seq.

Byte counting: see ``clients.httpbase`` (request bytes as written; head, envelope and message
bytes from the hand-written parser; totals from the counted socket in ``clients.connection``).
"""

from __future__ import annotations

import asyncio

from lab.contract import PATHS

from .httpbase import HttpClient

POLL_TIMEOUT = 10.0
"""Seconds to wait for a poll response before treating the connection as dropped."""


class PollClient(HttpClient):
    """Polls on a fixed clock; see the module docstring."""

    name = "poll"

    def __init__(self, *args: object, interval: float = 1.0, **kwargs: object) -> None:
        if not interval > 0:
            raise ValueError(f"poll interval must be positive, got {interval}")
        super().__init__(*args, **kwargs)
        self.interval = interval
        self._next_poll = 0.0

    async def _open(self) -> None:
        await self._poll()

    async def _receive(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self._next_poll - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await self._poll()

    async def _poll(self) -> None:
        now = asyncio.get_running_loop().time()
        self._next_poll += self.interval
        if self._next_poll <= now:
            self._next_poll = now + self.interval
        snapshot = self._last_seq is None
        target = self._target(PATHS["poll"], since=self._last_seq)
        self._accept_poll_body(await self._exchange(target, POLL_TIMEOUT), snapshot)
