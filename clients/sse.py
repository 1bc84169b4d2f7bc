"""Server-Sent Events client: ``GET /api/events?topic=T``, the way a browser's EventSource does.

Twin of ``lab/transports/sse.py``. A first connection may carry ``?since=N``; every
reconnection sends ``Last-Event-ID: <last seq>`` instead (the server puts ``id: <seq>`` on every
event), so nothing buffered is lost. Comment lines are heartbeats. The server's ``retry:``
advice is ignored in favour of the shared backoff, so every transport reconnects alike.

Byte counting: ``data:`` values are body; field names, the space after the colon, ``id:``
lines, line ends, blank lines and comments are framing (``clients.formats``), on top of the
chunk framing of ``clients.http11``; totals come from the counted socket (``clients.connection``).
"""

from __future__ import annotations

from lab.contract import PATHS

from .base import State
from .formats import SseParser
from .httpbase import StreamingClient


class SseClient(StreamingClient):
    """Reads a text/event-stream; see the module docstring."""

    name = "sse"
    accept = "text/event-stream"
    _payload_parser: SseParser

    def _new_payload_parser(self) -> SseParser:
        return SseParser()

    def _request(self) -> tuple[str, list[tuple[str, str]]]:
        if self._state is State.CONNECTING or self._last_seq is None:
            return self._target(PATHS["sse"], since=self._last_seq), []
        return self._target(PATHS["sse"]), [("Last-Event-ID", str(self._last_seq))]

    def _feed_payload(self, data: bytes) -> None:
        for event in self._payload_parser.feed(data):
            self._accept_json(event.data)
