"""Clients for the five ways the lab moves a price over HTTP, all behind one interface.

``open_client(transport, url, topic=..., interval=..., since=...)`` gives an async context
manager that is also an async iterator of :class:`Received` messages; ``stats()`` returns the
exact wire counters (:class:`WireStats`). ``connect(url, prefer=[...])`` picks a transport with
fallback. Every byte is counted on the client's own socket (``clients.connection``) and
classified by hand-written parsers (``clients.http11``, ``clients.formats``, ``clients.wsproto``),
so there is no aiohttp client here. Errors: ``clients.errors``. Terminal trader: ``python -m clients``.
"""

from lab.contract import TRANSPORTS

from .base import State
from .errors import (
    ClientError,
    HandshakeRefused,
    NoTransportAvailable,
    RemoteProtocolError,
    ServerUnavailable,
)
from .factory import open_client
from .fallback import DEFAULT_PREFER, FallbackClient, connect
from .records import WIRE_KEYS, Received, WireStats

__all__ = [
    "DEFAULT_PREFER",
    "TRANSPORTS",
    "WIRE_KEYS",
    "ClientError",
    "FallbackClient",
    "HandshakeRefused",
    "NoTransportAvailable",
    "Received",
    "RemoteProtocolError",
    "ServerUnavailable",
    "State",
    "WireStats",
    "connect",
    "open_client",
]
