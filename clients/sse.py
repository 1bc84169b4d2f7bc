"""Server-Sent Events client: ``GET /api/events?topic=T``, the way a browser's EventSource does.

Twin of ``lab/transports/sse.py``. Follows the WHATWG HTML Standard, section "Server-sent
events" (§9.2, https://html.spec.whatwg.org/multipage/server-sent-events.html). The answer is
one ``text/event-stream`` response that never ends (chunked, as in ``clients.stream``), and
:class:`SseParser` applies the spec's parsing rules, "Parsing an event stream" (§9.2.5) and
"Interpreting an event stream" (§9.2.6):

- the stream is UTF-8; a byte order mark at its very start is skipped;
- a line that starts with ``:`` is a comment (the lab's heartbeats);
- any other line is ``field:value``, with one space after the colon removed; a line with no
  colon is a field name with an empty value;
- ``data`` appends its value to the event's data (lines joined by LF); ``event`` sets the
  event's type (default ``message``); ``id`` sets the last event ID, unless the value holds a
  NUL; other fields are ignored;
- a blank line dispatches the event. The last event ID is kept even when no data came (then
  nothing is dispatched), and it is what a browser sends back as ``Last-Event-ID``.

Resuming as the spec's processing model does (§9.2.3, §9.2.4): the server puts ``id: <seq>``
on every event, and every reconnection sends ``Last-Event-ID: <last seq>``; a first connection
may carry ``?since=N`` instead. So nothing buffered is lost.

Deliberately not done: bare-CR line ends (the lab server, like most, ends lines with LF or
CRLF); obeying the server's ``retry:`` advice (the client uses the shared backoff, so every
transport reconnects alike); dispatching on event type (the server sends only data events, each
a message of the contract); CORS and credentials, which concern browsers only.

Byte counting: ``data`` values are body; field names, the space after the colon, ``id:`` lines,
line ends, blank lines and comments are framing, on top of the chunk framing of
``clients.http11``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.contract import PATHS

from .httpbase import PayloadParser, StreamingClient, take_lines
from .lifecycle import State

BOM = b"\xef\xbb\xbf"
"""The UTF-8 byte order mark, skipped at the start of a stream (§9.2.5)."""


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event: the last event ID (if any), its type and its joined ``data``."""

    id: str | None
    event: str
    data: bytes


class SseParser(PayloadParser):
    """The event-stream parser of the HTML spec (LF and CRLF line ends), counting every byte.

    ``last_event_id`` is what a browser would send back as ``Last-Event-ID``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._data: list[bytes] = []
        self._event = ""
        self._id: str | None = None
        self._started = False
        self.last_event_id: str | None = None

    def feed(self, data: bytes) -> list[SseEvent]:
        """Consume payload bytes; return the events completed by a blank line."""
        if not self._started and data:
            self._started = True
            if data.startswith(BOM):
                self.framing_bytes += len(BOM)
                data = data[len(BOM) :]
        self._buffer += data
        events = []
        for line in take_lines(self._buffer):
            text = line.rstrip(b"\r\n")
            if not text:
                self.framing_bytes += len(line)
                event = self._dispatch()
                if event is not None:
                    events.append(event)
                continue
            name, colon, value = text.partition(b":")
            if colon and value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                self._data.append(value)
                self.body_bytes += len(value)
                self.framing_bytes += len(line) - len(value)
                continue
            self.framing_bytes += len(line)  # a comment (empty name), id, event, retry, other
            if name == b"id" and b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
            elif name == b"event":
                self._event = value.decode("utf-8", "replace")
        return events

    def _dispatch(self) -> SseEvent | None:
        """The blank line: update the last event ID, then the event if it has data (§9.2.6)."""
        if self._id is not None:
            self.last_event_id = self._id
        event = None
        if self._data:
            event = SseEvent(self.last_event_id, self._event or "message", b"\n".join(self._data))
        self._data = []
        self._event = ""
        self._id = None
        return event


class SseClient(StreamingClient):
    """Reads a text/event-stream; see the module docstring."""

    name = "sse"
    accept = "text/event-stream"
    payload_parser_class = SseParser
    _payload_parser: SseParser

    def _request(self) -> tuple[str, list[tuple[str, str]]]:
        if self._state is State.CONNECTING or self._last_seq is None:
            return self._target(PATHS["sse"], since=self._last_seq), []
        return self._target(PATHS["sse"]), [("Last-Event-ID", str(self._last_seq))]

    def _feed_payload(self, data: bytes) -> None:
        for event in self._payload_parser.feed(data):
            self._accept_json(event.data)
