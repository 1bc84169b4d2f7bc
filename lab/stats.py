"""Server-side counters per transport, served at ``/api/stats``.

Header sizes are reconstructed from what aiohttp parsed and is about to send
(request line + ``Name: value`` lines + blank line; status line + headers +
blank line). That equals the bytes on the wire for the canonical formatting
aiohttp itself writes and that ordinary clients send; the clients' own
counters, checked byte-for-byte against the relay, are the ground truth for
the benchmarks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from lab.contract import TRANSPORTS

if TYPE_CHECKING:
    from lab.message import Message



@dataclass(slots=True)
class TransportCounters:
    """Running totals for one transport (mutated in place by its handlers)."""

    open_connections: int = 0
    requests: int = 0
    request_header_bytes: int = 0
    response_header_bytes: int = 0
    body_bytes: int = 0
    framing_bytes: int = 0
    messages_sent: int = 0
    slow_consumers_dropped: int = 0

    def snapshot(self) -> dict[str, int]:
        """A plain copy for JSON."""
        return asdict(self)

    def add_sent(self, message: Message, unit: bytes, count: int) -> None:
        """``count`` subscribers took ``unit``, the wire form of ``message``."""
        payload = len(message.json)
        self.messages_sent += count
        self.body_bytes += count * payload
        self.framing_bytes += count * (len(unit) - payload)


class ServerStats:
    """Counters for every transport, plus ``other`` for chat, stats and pages."""

    def __init__(self) -> None:
        self.by_transport: dict[str, TransportCounters] = {
            name: TransportCounters() for name in (*TRANSPORTS, "other")
        }

    def __getitem__(self, transport: str) -> TransportCounters:
        return self.by_transport[transport]

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Every transport's counters as plain dicts."""
        return {name: counters.snapshot() for name, counters in self.by_transport.items()}


def _header_lines_size(headers: Iterable[tuple[bytes, bytes]] | Iterable[tuple[str, str]]) -> int:
    # Header names and values aiohttp sends are ASCII, so characters count as bytes.
    total = 0
    for name, value in headers:
        total += len(name) + 2 + len(value) + 2
    return total


def request_header_size(request: web.BaseRequest) -> int:
    """Bytes of the request line, header lines and the blank line, as received."""
    path = request.raw_path
    # "METHOD SP target SP HTTP/x.y CRLF": 12 bytes besides the method and the target.
    line = len(request.method) + (len(path) if path.isascii() else len(path.encode())) + 12
    return line + _header_lines_size(request.raw_headers) + 2


def response_header_size(response: web.StreamResponse) -> int:
    """Bytes of the status line, header lines and the blank line, as sent.

    Call once the response is prepared (aiohttp adds Date, Server and the
    transfer headers while preparing).
    """
    status = len(f"HTTP/1.1 {response.status} {response.reason}\r\n".encode())
    return status + _header_lines_size(response.headers.items()) + 2


def chunk_framing(size: int) -> int:
    """Framing bytes HTTP/1.1 chunked encoding adds around a ``size``-byte chunk."""
    return len(f"{size:x}") + 4

