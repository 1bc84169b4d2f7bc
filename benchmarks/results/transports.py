"""The transports as results.json names them, for everything that reads or writes results.

A scenario records its transport by the name :mod:`lab.contract` gives it; this
module passes the contract's names and paths on, so that the report, which reads
only :mod:`benchmarks.results`, uses the same names as the server and the
clients rather than a copy of them. What it adds is one grouping the benchmarks
need and the contract does not name: :data:`STREAMED`. It holds no behaviour.
"""

from __future__ import annotations

from lab.contract import PATHS, TRANSPORTS

__all__ = ["PATHS", "STREAMED", "TRANSPORTS"]

STREAMED: tuple[str, ...] = ("websocket", "sse", "stream")
"""The push transports that hold one response (or socket) open and write each message down it
as it is published: every push transport but long poll, which answers a request per batch.
In this order the scale suite searches their breaking points and the report lists them."""
