"""Chunked-stream client: ``GET /api/stream?topic=T[&since=N]``, one JSON message per line.

Twin of ``lab/transports/stream.py``. The response is ``Transfer-Encoding: chunked``
NDJSON; lines are split on newlines wherever they fall, never on chunk boundaries, and blank
lines are heartbeats. If the connection drops or the server ends the response (e.g. a slow
consumer was cut off), the client reconnects with backoff and asks for ``since=<last seq>``.

Byte counting: chunk-size lines, chunk CRLFs and the last chunk are framing (``clients.http11``);
each line's JSON is body and its newline framing, as are heartbeat lines (``clients.formats``);
totals come from the counted socket (``clients.connection``).
"""

from __future__ import annotations

from lab.contract import PATHS

from .formats import NdjsonParser
from .httpbase import StreamingClient


class StreamClient(StreamingClient):
    """Reads an NDJSON chunked stream; see the module docstring."""

    name = "stream"
    accept = "application/x-ndjson"
    _payload_parser: NdjsonParser

    def _new_payload_parser(self) -> NdjsonParser:
        return NdjsonParser()

    def _request(self) -> tuple[str, list[tuple[str, str]]]:
        return self._target(PATHS["stream"], since=self._last_seq), []

    def _feed_payload(self, data: bytes) -> None:
        for line in self._payload_parser.feed(data):
            self._accept_json(line)
