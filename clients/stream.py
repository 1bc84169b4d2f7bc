"""Chunked-stream client: ``GET /api/stream?topic=T[&since=N]``, one JSON message per line.

Twin of ``lab/transports/stream.py``. The answer is one HTTP/1.1 response that never ends,
sent with the chunked transfer coding of RFC 9112 §7.1 (decoded in ``clients.http11``); its
payload is newline-delimited JSON (``application/x-ndjson``): one JSON text per line, ended by
LF (a CR before it is tolerated), and blank lines as heartbeats. :class:`NdjsonParser` splits
lines on the newline wherever it falls, never on chunk boundaries: a chunk may end in the
middle of a message, or hold several. If the connection drops or the server ends the response
(e.g. a slow consumer was cut off), the client reconnects with backoff and asks for
``since=<last seq>``.

Deliberately not done: JSON texts spread over several lines (not NDJSON), and content codings
(the client sends no ``Accept-Encoding``).

Byte counting: chunk-size lines, chunk CRLFs and the last chunk are framing
(``clients.http11``); each line's JSON is body and its line end framing, as are heartbeat lines.
"""

from __future__ import annotations

from lab.contract import PATHS

from .httpbase import PayloadParser, StreamingClient, take_lines


class NdjsonParser(PayloadParser):
    """Splits a chunked stream's payload into lines; blank lines are heartbeats."""

    def feed(self, data: bytes) -> list[bytes]:
        """Consume payload bytes; return the complete non-blank lines, without line ends."""
        self._buffer += data
        out = []
        for line in take_lines(self._buffer):
            text = line.rstrip(b"\r\n")
            self.framing_bytes += len(line) - len(text)
            if text:
                self.body_bytes += len(text)
                out.append(text)
        return out


class StreamClient(StreamingClient):
    """Reads an NDJSON chunked stream; see the module docstring."""

    name = "stream"
    accept = "application/x-ndjson"
    payload_parser_class = NdjsonParser
    _payload_parser: NdjsonParser

    def _request(self) -> tuple[str, list[tuple[str, str]]]:
        return self._target(PATHS["stream"], since=self._last_seq), []

    def _feed_payload(self, data: bytes) -> None:
        for line in self._payload_parser.feed(data):
            self._accept_json(line)
