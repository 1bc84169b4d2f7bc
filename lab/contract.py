"""The wire contract's shared names and clock, for the server, the clients and the benchmarks.

One place for what every side must agree on: the transports' names (in the
contract's order), the path each is served at, the topics, and the clock that
stamps ``t_us``. It holds no behaviour and does no I/O; the contract itself is
written down in ``docs/contract.md``.
"""

from __future__ import annotations

import time

TRANSPORTS: tuple[str, ...] = ("poll", "longpoll", "stream", "sse", "websocket")
"""Transport names, in the order the contract lists them."""

PUSH_TRANSPORTS: tuple[str, ...] = ("longpoll", "stream", "sse", "websocket")
"""The transports that deliver a message when it is published (all but short poll)."""

PATHS: dict[str, str] = {
    "poll": "/api/poll",
    "longpoll": "/api/longpoll",
    "stream": "/api/stream",
    "sse": "/api/events",
    "websocket": "/ws",
}
"""The path each transport is served at."""

TOPICS: tuple[str, ...] = ("prices", "chat")
"""The topics the lab publishes; each has its own ``seq``."""


def now_us() -> int:
    """Wall-clock time in integer microseconds since the Unix epoch: the contract's ``t_us``."""
    return time.time_ns() // 1_000
