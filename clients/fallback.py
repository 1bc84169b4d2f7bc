"""Transport fallback, as Socket.IO and SockJS do: try the preferred transports in order.

:func:`connect` opens the first transport that works and says why it was chosen:

- an upgrade or request refused (e.g. a proxy's ``403`` to ``Upgrade: websocket``), a
  protocol error, or nothing reachable: try the next transport in ``prefer``;
- a streaming transport (websocket, sse, stream) that opens but yields no first message within
  ``first_message_timeout``: a buffering proxy is probably holding the stream back, and every
  other stream would be held too, so go straight to ``longpoll`` (whose answers end, and so
  get through), even if it is not in ``prefer``;
- polls are accepted once their first answer arrives (a quiet topic is not a failure).

Limits, written down: on a quiet topic (``chat``) a streaming transport looks like a buffered one
and falls back to long poll. ``stats()`` covers only the chosen transport, not the failed
attempts (their reasons are in ``attempts``). If every attempt found nothing to talk to,
``ServerUnavailable`` is raised, otherwise ``NoTransportAvailable``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Self

from lab.contract import PUSH_TRANSPORTS, TRANSPORTS

from .base import BaseClient
from .errors import (
    HandshakeRefused,
    NoTransportAvailable,
    RemoteProtocolError,
    ServerUnavailable,
)
from .factory import open_client
from .records import Received, WireStats

DEFAULT_PREFER: tuple[str, ...] = ("websocket", "sse", "stream", "longpoll")
STREAMING: tuple[str, ...] = tuple(name for name in PUSH_TRANSPORTS if name != "longpoll")
"""Push transports that hold one response or socket open (all but long poll, whose answers end)."""


def connect(
    url: str | Sequence[str],
    prefer: Sequence[str] = DEFAULT_PREFER,
    *,
    topic: str = "prices",
    first_message_timeout: float = 2.0,
    since: int | None = None,
    interval: float = 1.0,
    insecure: bool = False,
) -> FallbackClient:
    """An async context manager that opens the first working transport of ``prefer``
    (over ``https:``, ``insecure`` accepts any certificate)."""
    unknown = [name for name in prefer if name not in TRANSPORTS]
    if unknown or not prefer:
        raise ValueError(f"prefer must list transports from {', '.join(TRANSPORTS)}")
    return FallbackClient(url, list(prefer), topic, first_message_timeout, since, interval,
                          insecure)


class FallbackClient:
    """The chosen client, with ``.transport``, ``.choice_reason`` and ``.attempts``."""

    def __init__(
        self,
        url: str | Sequence[str],
        prefer: list[str],
        topic: str,
        first_message_timeout: float,
        since: int | None,
        interval: float,
        insecure: bool = False,
    ) -> None:
        self.url = url
        self.insecure = insecure
        self.prefer = prefer
        self.topic = topic
        self.first_message_timeout = first_message_timeout
        self.since = since
        self.interval = interval
        self.attempts: list[str] = []
        self.choice_reason = ""
        self._client: BaseClient | None = None
        self._first: Received | None = None

    @property
    def transport(self) -> str | None:
        """The chosen transport's name (None before entering)."""
        return self._client.name if self._client else None

    @property
    def client(self) -> BaseClient:
        """The chosen client itself."""
        if self._client is None:
            raise RuntimeError("no transport chosen yet: use `async with connect(...)`")
        return self._client

    def stats(self) -> WireStats:
        """The chosen client's wire counters."""
        return self.client.stats()

    async def __aenter__(self) -> Self:
        queue = list(self.prefer)
        unavailable = 0
        while queue:
            name = queue.pop(0)
            client = open_client(
                name, self.url, topic=self.topic, since=self.since, interval=self.interval,
                insecure=self.insecure,
            )
            try:
                self._first = await self._try(client)
            except TimeoutError:
                await client.aclose()
                self.attempts.append(
                    f"no message on {name} within {self.first_message_timeout:g} s"
                    " (a buffering proxy?)"
                )
                queue = [] if name == "longpoll" else ["longpoll"]
                continue
            except (HandshakeRefused, RemoteProtocolError, ServerUnavailable) as exc:
                await client.aclose()
                unavailable += isinstance(exc, ServerUnavailable)
                self.attempts.append(str(exc))
                continue
            self._client = client
            self.choice_reason = self._reason(name)
            return self
        summary = "; ".join(self.attempts)
        if unavailable == len(self.attempts):
            where = self.url if isinstance(self.url, str) else " or ".join(self.url)
            raise ServerUnavailable(f"no transport could reach {where}: {summary}")
        raise NoTransportAvailable(f"no transport worked: {summary}")

    async def _try(self, client: BaseClient) -> Received | None:
        """Open ``client``; for a streaming transport also wait for its first message."""
        async with asyncio.timeout(self.first_message_timeout):
            await client.__aenter__()
            if client.name in STREAMING:
                return await anext(client)
        return None

    def _reason(self, name: str) -> str:
        if not self.attempts:
            return f"{name}: first preference, worked"
        return f"{'; '.join(self.attempts)}; fell back to {name}"

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the chosen client."""
        if self._client is not None:
            await self._client.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Received:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return await anext(self.client)
