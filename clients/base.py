"""What every client shares: the lifecycle table, reconnect with backoff, seq bookkeeping, stats.

A transport module subclasses :class:`BaseClient` and supplies three things: ``_open()`` (make a
connection and get the server's first good answer, then call ``_opened()``), ``_receive()``
(wait for more bytes or the next poll and deliver what they complete through ``_accept``), and
``_classified()`` (how the current connection's received bytes split into header, body and
framing so far). Everything else lives here once.

Lifecycle, as a table of state -> event -> next state (:data:`clients.lifecycle.TRANSITIONS`),
in the manner of h11: ``CONNECTING`` until the first good answer (``OPEN``) or failure (``CLOSED``, raising
``ServerUnavailable``); any drop while open moves to ``RECONNECTING``, where the client retries
with :class:`~clients.backoff.Backoff` (full jitter under a ceiling of 50 ms doubling to 1 s,
plus the server's ``Retry-After`` when a ``429`` or ``503`` carried one; forever, until the
caller closes it) and resumes from the last ``seq`` it delivered; ``close`` from any state ends
in ``CLOSED``.

Pull model, deliberately: a client does I/O only while its caller awaits the next message (as an
async generator does), so there are no background tasks to leak. A short poll is sent when it
is due *and* the caller is waiting; pushed bytes wait in the kernel meanwhile and are stamped
when read. A caller that stops iterating for long (longer than half the server's heartbeat, for
WebSocket pings) will see its latency grow or its connection dropped and resumed.

More than one URL (the nodes of one lab behind a broker, which share one seq order): a
connection that fails moves the client to the next URL in turn, and it resumes there from its
last seq, so a node that dies costs a reconnect, not a gap.

Delivery policy: messages come out in seq order as received; a seq at or below the last one
delivered is a *duplicate* (counted, not delivered again); a jump over seqs, or a
``{"topic": ..., "missed": k}`` notice, adds to *gaps*. Nothing is dropped silently.

A server that restarted without its history starts its seqs again at 1 and takes a resume
point beyond its head as its head. A message at or below the last seq delivered that was
published *after* the last one delivered (a larger ``t_us``) can only come from such a new
sequence: the client counts the messages of it before this one as gaps and delivers from there
on (one published earlier is a duplicate, as from a worker whose copy of the feed lags). It
cannot tell when the new sequence has already passed its resume point by the time it returns:
then the messages up to that point are lost unseen. Nor can a poll, which only ever asks for
seqs beyond its resume point.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from typing import Any, ClassVar, Self
from urllib.parse import quote, urlsplit

import orjson

from lab.contract import now_us

from .backoff import Backoff
from .connection import Connection, ConnectionDropped, ServerBusy
from .errors import ClientError, RemoteProtocolError, ServerUnavailable
from .lifecycle import TRANSITIONS, Event, State
from .records import Received, Tally, WireStats
from .tls import TlsConnection, client_context

DROPS = (ConnectionDropped, OSError, TimeoutError)
"""Failures that mean "the connection is gone": reconnect (or, at first, server unavailable)."""

HEADER_TIMEOUT = 30.0
"""Seconds to wait for the head of a stream's or handshake's response (a buffering proxy may
hold it back)."""

CLOSE_TIMEOUT = 1.0
"""Seconds a client may spend saying goodbye before it closes its socket anyway."""


def split_url(url: str) -> tuple[str, int, str]:
    """``http[s]://host:port/prefix`` -> (host, port, prefix without trailing slash)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected a URL like http://127.0.0.1:8080, got {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValueError(f"bad port in URL {url!r}") from None
    return parts.hostname, port, parts.path.rstrip("/")


def _reason(exc: BaseException) -> str:
    """A short human reason for a connection failure."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


class BaseClient(ABC):
    """One transport's client: an async context manager and an async iterator of Received."""

    name: ClassVar[str]

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        topic: str = "prices",
        since: int | None = None,
        connect_timeout: float = 5.0,
        insecure: bool = False,
    ) -> None:
        self.urls = [url] if isinstance(url, str) else list(url)
        if not self.urls:
            raise ValueError("at least one server URL is needed")
        for each in self.urls:
            split_url(each)  # a bad one fails now
        self.topic = topic
        self.connect_timeout = connect_timeout
        self._insecure = insecure
        self._use(0)
        self._last_seq = since
        self._tally = Tally()
        self._state = State.CONNECTING
        self._ready: deque[Received] = deque()
        self._conn: Connection | None = None
        self._dropped = False
        self._backoff = Backoff()
        self._retry_after: float | None = None
        self._last_t_us = 0
        self._recv_us = 0
        self._closing = False

    # -- public interface -------------------------------------------------------------

    @property
    def transport(self) -> str:
        """The transport in use (this client's name)."""
        return self.name

    @property
    def state(self) -> State:
        """The current lifecycle state."""
        return self._state

    @property
    def last_seq(self) -> int | None:
        """The newest seq delivered (the resume point), or None before the first."""
        return self._last_seq

    def stats(self) -> WireStats:
        """A snapshot of the wire counters; the byte classes always add up to the totals."""
        return self._tally.freeze(*self._current_split())

    async def __aenter__(self) -> Self:
        for attempt in range(len(self.urls)):
            try:
                await self._open()
            except DROPS as exc:
                if self._state is State.OPEN:  # a good first answer, then the connection ended
                    self._dropped = True
                    self._retry_after = None
                    return self
                if attempt + 1 < len(self.urls):
                    self._close_connection()
                    self._use(self._url_index + 1)
                    continue
                self._fail()
                tried = " or ".join(self.urls)
                raise ServerUnavailable(
                    f"cannot reach the server at {tried} ({self.name}): {_reason(exc)}"
                ) from exc
            except BaseException:
                self._fail()
                raise
            break
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Received:
        while not self._ready:
            if self._state is State.CLOSED:
                raise StopAsyncIteration
            if self._dropped:
                await self._reconnect()
                continue  # the first answer may have brought messages already
            try:
                await self._receive()
            except DROPS as exc:
                self._dropped = True
                self._retry_after = exc.retry_after if isinstance(exc, ServerBusy) else None
        return self._ready.popleft()

    async def aclose(self) -> None:
        """Close cleanly (idempotent); counters stay readable afterwards."""
        if self._state is not State.CLOSED and self._conn is not None and not self._dropped:
            self._closing = True
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await self._goodbye()
            except DROPS:
                pass
        self._fire(Event.CLOSE)
        self._close_connection()

    # -- for transport modules -----------------------------------------------------------

    @abstractmethod
    async def _open(self) -> None:
        """Connect and get a good first answer (then call ``_opened``); DROPS on failure."""

    @abstractmethod
    async def _receive(self) -> None:
        """Wait for more data (or the next poll) and ``_accept`` what it completes."""

    @abstractmethod
    def _classified(self) -> tuple[int, int, int]:
        """(header, body, framing) bytes classified so far on the current connection."""

    def _alpn(self) -> list[str]:
        """The protocols offered by ALPN over TLS (HTTP/1.1 unless a client speaks another)."""
        return ["http/1.1"]

    def _pending_is_header(self) -> bool:
        """Whether unclassified bytes on the current connection belong to a response head."""
        return False

    async def _goodbye(self) -> None:
        """Say goodbye on the open connection and read what is still in flight.

        Runs under ``CLOSE_TIMEOUT``; messages completed meanwhile are counted as bytes but
        not delivered. The default does nothing (a poll between requests has nothing in flight).
        """

    def _target(self, path: str, **params: object) -> str:
        """``prefix + path`` with ``topic`` and the given non-None params, URL-encoded."""
        query = [f"topic={quote(self.topic, safe='')}"]
        query += [f"{k}={quote(str(v), safe='')}" for k, v in params.items() if v is not None]
        return f"{self._prefix}{path}?{'&'.join(query)}"

    async def _connect(self) -> Connection:
        """Settle any previous connection and open a new counted one (TLS for ``https:``)."""
        self._close_connection()
        if self._tls is None:
            self._conn = await Connection.open(
                self._host, self._port, self._tally, self.connect_timeout
            )
        else:
            self._conn = await TlsConnection.open_tls(
                self._host, self._port, self._tally, self.connect_timeout, self._tls
            )
        return self._conn

    def _write_request(self, request: bytes) -> None:
        """Write one HTTP request (or WebSocket handshake) on the connection, counting it."""
        assert self._conn is not None
        self._conn.write(request)
        self._tally.requests += 1
        self._tally.request_header_bytes += len(request)

    def _opened(self) -> None:
        """The server answered well: now OPEN (a reconnect, if we were reconnecting)."""
        if self._state is State.RECONNECTING:
            self._tally.reconnects += 1
        self._backoff.reset()
        self._fire(Event.CONNECTED)

    def _stamp(self) -> None:
        """Record the receive time for the messages the bytes just read complete."""
        self._recv_us = now_us()

    def _accept_json(self, text: bytes) -> None:
        """Decode one JSON payload (a message or a missed-notice) and ``_accept`` it."""
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise RemoteProtocolError(f"{self.name}: bad JSON payload: {exc}") from None
        if not isinstance(obj, dict):
            raise RemoteProtocolError(f"{self.name}: payload is not a JSON object")
        self._accept(obj)

    def _accept(self, obj: dict[str, Any], snapshot: bool = False) -> None:
        """Apply the delivery policy (module docstring) to one decoded object.

        ``snapshot``: part of a latest-per-symbol answer, whose seq jumps are not gaps.
        """
        if "seq" not in obj:
            missed = obj.get("missed")
            if not isinstance(missed, int):
                raise RemoteProtocolError(f"{self.name}: object with neither seq nor missed")
            self._tally.gaps += missed
            if self._last_seq is not None:
                self._last_seq += missed
            return
        seq, t_us = obj.get("seq"), obj.get("t_us")
        if not isinstance(seq, int) or not isinstance(t_us, int):
            raise RemoteProtocolError(f"{self.name}: seq and t_us must be integers")
        last = self._last_seq
        if last is not None and seq <= last and t_us > self._last_t_us and not snapshot:
            self._restarted(seq)
            last = self._last_seq
        if last is not None and seq <= last:
            self._tally.duplicates += 1
            return
        if last is not None and not snapshot:
            self._tally.gaps += seq - last - 1
        self._last_seq = seq
        self._last_t_us = t_us
        self._tally.messages += 1
        if not self._closing:
            self._ready.append(Received(seq, t_us, self._recv_us, obj, snapshot))

    def _restarted(self, seq: int) -> None:
        """A message newer than the last one delivered with a seq at or below it: the server
        restarted without its history and began again at 1. The ``seq - 1`` messages of the
        new sequence before it were never seen: count them as gaps and go on from there."""
        self._tally.gaps += seq - 1
        self._last_seq = seq - 1

    # -- internals -------------------------------------------------------------------------

    def _use(self, index: int) -> None:
        """Talk to ``urls[index]`` (modulo their number) from the next connection on."""
        self._url_index = index % len(self.urls)
        self.url = self.urls[self._url_index]
        self._host, self._port, self._prefix = split_url(self.url)
        self._hostport = f"{self._host}:{self._port}"
        https = self.url.startswith("https:")
        self._tls = client_context(self._alpn(), self._insecure) if https else None

    def _fire(self, event: Event) -> None:
        try:
            self._state = TRANSITIONS[self._state][event]
        except KeyError:
            raise RuntimeError(f"bug: {event.name} is not allowed in {self._state.name}") from None

    def _fail(self) -> None:
        self._fire(Event.FAILED)
        self._close_connection()

    async def _reconnect(self) -> None:
        self._fire(Event.DROPPED)
        self._close_connection()
        while True:
            await asyncio.sleep(self._backoff.next(self._retry_after))
            try:
                await self._open()
            except DROPS as exc:
                self._retry_after = exc.retry_after if isinstance(exc, ServerBusy) else None
                if self._state is State.OPEN:  # a good answer, then the end: deliver what came
                    return
                self._close_connection()
                self._use(self._url_index + 1)  # the next node, if there are several
                continue
            except ClientError:
                self._fail()
                raise
            self._dropped = False
            return

    def _current_split(self) -> tuple[int, int, int]:
        if self._conn is None:
            return 0, 0, 0
        header, body, framing = self._classified()
        rest = self._conn.received - header - body - framing
        if self._pending_is_header():
            return header + rest, body, framing
        return header, body, framing + rest

    def _close_connection(self) -> None:
        """Close the current connection and file its byte classes into the tally."""
        if self._conn is None:
            return
        self._conn.close()
        header, body, framing = self._current_split()
        self._tally.response_header_bytes += header
        self._tally.body_bytes += body
        self._tally.framing_bytes += framing
        self._conn = None
