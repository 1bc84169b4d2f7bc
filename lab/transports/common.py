"""What every transport handler shares: query parsing, errors, poll bodies, live connections.

Nothing here decides how a message is framed; that is each transport's module.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import orjson
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from lab.admission import is_loopback
from lab.contract import PATHS
from lab.hub import Backlog, Hub, Mailbox, Topic
from lab.origins import OriginPolicy
from lab.settings import Settings
from lab.stats import (
    ServerStats,
    TransportCounters,
    request_header_size,
    response_header_size,
)

log = logging.getLogger("lab.connections")

SETTINGS_KEY = web.AppKey("settings", Settings)
HUB_KEY = web.AppKey("hub", Hub)
STATS_KEY = web.AppKey("stats", ServerStats)
ORIGINS_KEY = web.AppKey("origins", OriginPolicy)
LIVE_KEY: web.AppKey[LiveConnections] = web.AppKey("live")

SHUTDOWN = "server shutting down"


def count_request(request: web.Request, transport: str) -> None:
    """Count one arriving request and its header bytes for ``transport``; then refuse it if a
    page of a foreign origin sent it (:func:`refuse_foreign`)."""
    tally_request(request, transport)
    refuse_foreign(request)


def tally_request(request: web.Request, transport: str) -> None:
    """Count one arriving request and its header bytes for ``transport`` (nothing else)."""
    counters = request.app[STATS_KEY][transport]
    counters.requests += 1
    counters.request_header_bytes += request_header_size(request)


def client_address(request: web.Request) -> str | None:
    """The address of the client behind ``request``: the peer, or, when the lab forwards to
    itself (its class link, or its own nginx) and the peer is on loopback, the address that
    forwarder appended last to ``X-Forwarded-For`` (earlier entries are whatever the client
    claimed, so never trusted). A LAN peer's header is never read."""
    peer = request.remote
    if not request.app[SETTINGS_KEY].behind_proxy or peer is None or not is_loopback(peer):
        return peer
    forwarded = request.headers.get("X-Forwarded-For", "")
    return forwarded.rsplit(",", 1)[-1].strip() or peer


def refuse_foreign(request: web.Request) -> None:
    """403 with a JSON reason when the request's ``Origin`` is not one the lab allows (see
    :mod:`lab.origins`); for a WebSocket this happens before the upgrade."""
    origin = request.headers.get("Origin")
    if not request.app[ORIGINS_KEY].allows(origin):
        raise json_error(web.HTTPForbidden, f"origin {origin!r} is not allowed; start the lab "
                         "with --allow-origin URL to let a page of that origin in")


TRANSPORT_BY_PATH = {path: transport for transport, path in PATHS.items()}
"""Which transport's counters a path belongs to (anything else counts as ``other``)."""

NO_STORE = {"Cache-Control": "no-store"}


def count_response(request: web.Request, response: web.StreamResponse) -> None:
    """Count a prepared response's header (and body) bytes; ``other`` requests count here too.

    Responses count themselves (see :class:`Counted`) rather than through an
    ``on_response_prepare`` signal, which cost every response a coroutine:
    13–15 % of a long-poll server's CPU in a profile at 5,000 clients.
    """
    transport = TRANSPORT_BY_PATH.get(request.path, "other")
    if transport == "other":
        tally_request(request, "other")
    counters = request.app[STATS_KEY][transport]
    counters.response_header_bytes += response_header_size(response)
    if isinstance(response, web.Response) and isinstance(response.body, bytes):
        counters.body_bytes += len(response.body)


class Counted(web.StreamResponse):
    """Mixin for a response class: counts its own bytes once its headers are sent."""

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        """Send the headers as usual, then count them (once)."""
        first = not self.prepared
        writer = await super().prepare(request)
        if first:
            assert isinstance(request, web.Request)
            count_response(request, self)
        return writer


class JsonResponse(Counted, web.Response):
    """A counted JSON response with the contract's ``Cache-Control: no-store``."""


class PageResponse(Counted, web.FileResponse):
    """A counted static page with the contract's ``Cache-Control: no-store``."""


@functools.cache
def _counted(status: type[web.HTTPException]) -> type[web.HTTPException]:
    return type(status.__name__, (Counted, status), {"__doc__": status.__doc__})


def json_error(status: type[web.HTTPException], reason: str, *,
               headers: dict[str, str] | None = None, fields: dict[str, Any] | None = None,
               **extra: Any) -> web.HTTPException:
    """An HTTP error (counted, no-store) whose body is ``{"error": reason}`` (and ``fields``).

    ``extra`` goes to the exception's constructor (413 wants ``max_size``, ``actual_size``).
    """
    body = orjson.dumps({"error": reason, **(fields or {})}).decode()
    return _counted(status)(text=body, content_type="application/json",
                            headers={**NO_STORE, **(headers or {})}, **extra)


def query_topic(request: web.Request) -> Topic:
    """The topic named by ``?topic=`` (default ``prices``); 404 if unknown."""
    name = request.query.get("topic", "prices")
    hub = request.app[HUB_KEY]
    if name not in hub:
        raise json_error(web.HTTPNotFound, f"unknown topic {name!r}; topics: {', '.join(hub.topics)}")
    return hub[name]


def is_seq(text: str | bytes) -> bool:
    """Whether ``text`` spells a seq the server takes: ASCII digits, at most 18 of them."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def parse_since(text: str | None, field: str = "since") -> int | None:
    """A resume point: a non-negative integer seq, or None when absent."""
    if text is None or text == "":
        return None
    if not is_seq(text):
        raise json_error(web.HTTPBadRequest, f"{field} must be a non-negative integer seq, got {text!r}")
    return int(text)


def parse_seconds(text: str | None, default: float, maximum: float, field: str) -> float:
    """A positive number of seconds, at most ``maximum``; ``default`` when absent."""
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise json_error(web.HTTPBadRequest, f"{field} must be a number of seconds, got {text!r}") from None
    if not 0 < value <= maximum:
        raise json_error(web.HTTPBadRequest, f"{field} must be > 0 and at most {maximum:g} seconds")
    return value


def missed_notice(topic: str, missed: int) -> bytes:
    """The contract's ``{"topic": ..., "missed": k}`` notice for streams and sockets."""
    return orjson.dumps({"topic": topic, "missed": missed})


def json_response(
    body: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> JsonResponse:
    """A counted, no-store JSON response from ready-made bytes."""
    return JsonResponse(
        body=body, status=status, content_type="application/json",
        headers={**NO_STORE, **(headers or {})},
    )


class LiveConnections:
    """Long-lived connections (streams, SSE, WebSocket): logged, counted, closed at shutdown.

    Each connection registers its mailbox; at shutdown every mailbox is closed
    with :data:`SHUTDOWN`, which ends streams and makes sockets send close 1001.
    """

    def __init__(self) -> None:
        self._open: set[Mailbox] = set()

    def __len__(self) -> int:
        return len(self._open)

    def open(
        self, request: web.Request, transport: str, counters: TransportCounters, mailbox: Mailbox
    ) -> None:
        """Register a connection and log it."""
        counters.open_connections += 1
        self._open.add(mailbox)
        if log.isEnabledFor(logging.INFO):  # request.remote and path_qs cost memory per socket
            log.info("open  %-9s %s %s", transport, request.remote, request.path_qs)

    def close(
        self, request: web.Request, transport: str, counters: TransportCounters, mailbox: Mailbox
    ) -> None:
        """Unregister a connection, detach its mailbox and log why it ended."""
        counters.open_connections -= 1
        self._open.discard(mailbox)
        reason = mailbox.closed_reason or "client went away"
        mailbox.close(reason)
        if log.isEnabledFor(logging.INFO):
            log.info("close %-9s %s (%s)", transport, request.remote, reason)

    def shutdown(self) -> None:
        """Close every registered mailbox so its handler ends."""
        for mailbox in list(self._open):
            mailbox.close(SHUTDOWN)


def resume(topic: Topic, since: int | None, mailbox: Mailbox) -> Backlog:
    """Attach ``mailbox`` to ``topic`` and return what to send first.

    Both happen in one synchronous step, so no message can slip between the
    backlog and the live feed.
    """
    backlog = topic.since(since) if since is not None else Backlog([], 0, topic.head)
    topic.attach(mailbox)
    return backlog
