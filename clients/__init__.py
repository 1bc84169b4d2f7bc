"""Clients for the five ways the lab moves a price over HTTP, all behind one interface.

``open_client(transport, url, topic=..., interval=..., since=...)`` gives an async context
manager that is also an async iterator of :class:`Received` messages; ``stats()`` returns the
exact wire counters (:class:`WireStats`). ``connect(url, prefer=[...])`` picks a transport with
fallback. Errors: ``clients.errors``. Terminal trader: ``python -m clients``.

Every byte is counted on the client's own socket and classified by hand-written parsers, so
there is no aiohttp client here. Where to read what:

- one module per transport, each next to its twin in ``lab/transports/``, each holding the
  parser of its own format: ``poll`` (the poll body), ``longpoll``, ``stream`` (NDJSON lines),
  ``sse`` (the event-stream parser), ``websocket`` (handshake and frames);
- what they share: ``base`` (lifecycle, reconnect, seq bookkeeping), ``httpbase`` (HTTP
  requests on a connection), ``http11`` (HTTP/1.1 messages and chunked coding, no sockets),
  ``http2`` (HTTP/2 on ``h2``, counting HPACK and frames, no sockets), ``connection`` (the
  counted TCP connection), ``tls`` (TLS over it, counting what encryption adds), ``records``
  (``Received``, ``WireStats``);
- around them: ``factory`` (``open_client``), ``fallback`` (``connect``), ``metrics``
  (latency and staleness), ``cli`` (the terminal trader).
"""

from lab.contract import TRANSPORTS

from .errors import (
    ClientError,
    HandshakeRefused,
    NoTransportAvailable,
    RemoteProtocolError,
    ServerUnavailable,
)
from .factory import open_client
from .fallback import DEFAULT_PREFER, FallbackClient, connect
from .lifecycle import State
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
