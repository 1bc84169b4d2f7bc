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

COMPRESS_IS_WEBSOCKETS = "--compress is WebSocket's permessage-deflate: use it with websocket"

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
    compress: bool = False,
    context_takeover: bool = True,
) -> BaseClient:
    """A client for ``transport`` (one of :data:`TRANSPORTS`), to use as ``async with``.

    ``url`` may list several nodes of one lab (see :mod:`clients.base`). ``interval`` is used
    by short poll only. ``http2`` speaks HTTP/2 (over ``https:`` by ALPN, over ``http:`` as
    h2c); ``insecure`` accepts any TLS certificate; ``compress`` offers WebSocket's
    permessage-deflate (without ``context_takeover``: each message compressed alone). Raises
    ``ValueError`` for an unknown transport, a bad URL or a bad interval, for WebSocket over
    HTTP/2 and for ``compress`` on another transport; connecting happens on ``__aenter__``.
    """
    common: dict[str, Any] = {"topic": topic, "since": since, "connect_timeout": connect_timeout,
                              "insecure": insecure}
    if transport == "websocket":
        if http2:
            raise ValueError(WEBSOCKET_OVER_HTTP2)
        return WebSocketClient(url, compress=compress, context_takeover=context_takeover,
                               **common)
    if compress:
        raise ValueError(COMPRESS_IS_WEBSOCKETS)
    if transport == "poll":
        return PollClient(url, interval=interval, http2=http2, **common)
    try:
        cls = _CLASSES[transport]
    except KeyError:
        raise ValueError(
            f"unknown transport {transport!r}; choose one of {', '.join(TRANSPORTS)}"
        ) from None
    return cls(url, http2=http2, **common)
