"""Transport names and :func:`open_client`, the one way to build a client by name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lab.contract import TRANSPORTS

from .base import BaseClient
from .httpbase import HttpClient
from .longpoll import LongPollClient
from .poll import PollClient
from .sse import SseClient
from .stream import StreamClient
from .websocket import WebSocketClient

_CLASSES: dict[str, type[HttpClient]] = {
    "longpoll": LongPollClient,
    "stream": StreamClient,
    "sse": SseClient,
}

WEBSOCKET_OVER_HTTP2 = (
    "WebSocket over HTTP/2 (RFC 8441) is not offered by nginx, so the WebSocket client speaks "
    "HTTP/1.1 (through a proxy too): leave out --http2"
)


def open_client(
    transport: str,
    url: str | Sequence[str],
    *,
    topic: str = "prices",
    interval: float = 1.0,
    since: int | None = None,
    connect_timeout: float = 5.0,
    http2: bool = False,
    insecure: bool = False,
) -> BaseClient:
    """A client for ``transport`` (one of :data:`TRANSPORTS`), to use as ``async with``.

    ``url`` may list several nodes of one lab (see :mod:`clients.base`). ``interval`` is used
    by short poll only. ``http2`` speaks HTTP/2 (over ``https:`` by ALPN, over ``http:`` as
    h2c); ``insecure`` accepts any TLS certificate. Raises ``ValueError`` for an unknown
    transport, a bad URL or a bad interval, and for WebSocket over HTTP/2; connecting happens
    on ``__aenter__``.
    """
    common: dict[str, Any] = {"topic": topic, "since": since, "connect_timeout": connect_timeout,
                              "insecure": insecure}
    if transport == "websocket":
        if http2:
            raise ValueError(WEBSOCKET_OVER_HTTP2)
        return WebSocketClient(url, **common)
    if transport == "poll":
        return PollClient(url, interval=interval, http2=http2, **common)
    try:
        cls = _CLASSES[transport]
    except KeyError:
        raise ValueError(
            f"unknown transport {transport!r}; choose one of {', '.join(TRANSPORTS)}"
        ) from None
    return cls(url, http2=http2, **common)
