"""The clients' own small error tree; every low-level failure is mapped into it at the boundary.

```
ClientError                  base: anything a caller of ``clients`` may catch
├── ServerUnavailable        the first connection failed (refused, unreachable, timed out,
│                            or closed before any answer): the server is probably down
├── HandshakeRefused         the server or a proxy answered the opening request with a status
│                            other than the one the transport needs (e.g. 403 to a WebSocket
│                            upgrade, 404 for an unknown topic); ``.status`` holds it
├── RemoteProtocolError      the peer sent bytes that break HTTP/1.1, SSE, NDJSON, JSON or
│                            WebSocket framing: the remote side's fault
└── NoTransportAvailable     ``clients.connect`` tried every preferred transport and none worked
```

Socket errors (``OSError``), timeouts and end-of-file *after* the first connection are not
errors for the caller: they are drops, and the client reconnects (see ``clients.base``).
This module deliberately holds no logic.
"""

from __future__ import annotations


class ClientError(Exception):
    """Base class of every error raised by the ``clients`` package."""


class ServerUnavailable(ClientError):
    """The first connection to the server failed: nothing answered."""


class HandshakeRefused(ClientError):
    """The opening request got an unexpected status (e.g. an upgrade refused by a proxy)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RemoteProtocolError(ClientError):
    """The peer sent bytes that do not follow the protocol in use."""


class NoTransportAvailable(ClientError):
    """Fallback tried every preferred transport and none of them worked."""
