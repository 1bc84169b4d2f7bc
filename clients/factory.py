"""Transport names and :func:`open_client`, the one way to build a client by name."""

from __future__ import annotations

from collections.abc import Sequence

from lab.contract import TRANSPORTS

from .base import BaseClient
from .longpoll import LongPollClient
from .poll import PollClient
from .sse import SseClient
from .stream import StreamClient
from .websocket import WebSocketClient

_CLASSES: dict[str, type[BaseClient]] = {
    "longpoll": LongPollClient,
    "stream": StreamClient,
    "sse": SseClient,
    "websocket": WebSocketClient,
}


def open_client(
    transport: str,
    url: str | Sequence[str],
    *,
    topic: str = "prices",
    interval: float = 1.0,
    since: int | None = None,
    connect_timeout: float = 5.0,
) -> BaseClient:
    """A client for ``transport`` (one of :data:`TRANSPORTS`), to use as ``async with``.

    ``url`` may list several nodes of one lab (see :mod:`clients.base`). ``interval`` is
    used by short poll only. Raises ``ValueError`` for an unknown transport,
    a bad URL or a bad interval; connecting happens on ``__aenter__``.
    """
    if transport == "poll":
        return PollClient(
            url, topic=topic, since=since, connect_timeout=connect_timeout, interval=interval
        )
    try:
        cls = _CLASSES[transport]
    except KeyError:
        raise ValueError(
            f"unknown transport {transport!r}; choose one of {', '.join(TRANSPORTS)}"
        ) from None
    return cls(url, topic=topic, since=since, connect_timeout=connect_timeout)
