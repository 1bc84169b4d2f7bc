"""What a bare reverse proxy does to each transport: works, fails or degrades, and how.

Each probe runs one client per transport through an nginx of the ``default`` profile (on its
cleartext HTTP/1.1 port: what the proxy does is the same under TLS) and reads the verdict off
what the client saw:

- an error (the WebSocket handshake whose ``Upgrade`` nginx dropped) **fails**; for WebSocket
  the fallback client (``clients.fallback.connect``) then shows which transport a real client
  would end up on;
- reconnects **degrade**: the proxy cut a quiet request or stream at its read timeout and the
  client resumed (nothing lost, but a request and its headers more each time);
- a push transport whose median latency is above :data:`~benchmarks.web.cases.BUFFERED_P50_MS`
  **degrades**: the proxy holds its bytes back until its buffer fills;
- otherwise it **works**.
"""

from __future__ import annotations

from typing import Any

from clients import ClientError, connect
from lab.contract import PUSH_TRANSPORTS

from .cases import BUFFERED_P50_MS, Probe
from .measure import measure


async def verdict(url: str, probe: Probe, transport: str, seconds: float) -> dict[str, Any]:
    """One transport through ``probe``'s proxy at ``url``: verdict, how, and the figures."""
    try:
        found, _ = await measure(url, transport, False, 1, seconds, topic=probe.topic)
    except ClientError as exc:
        how = str(exc)
        if transport == "websocket":
            async with connect(url, first_message_timeout=2.0) as client:
                how += f"; the fallback client then uses {client.transport} ({client.choice_reason})"
        return {"verdict": "fails", "how": how}
    p50 = found["latency_ms_p50"]
    if found["reconnects"]:
        how = (f"cut {found['reconnects']} times in {seconds:g} s by the proxy's read timeout; "
               "the client reconnected and resumed")
        return {"verdict": "degrades", "how": how, **found}
    if transport in PUSH_TRANSPORTS and p50 is not None and p50 > BUFFERED_P50_MS:
        how = f"buffered by the proxy: median latency {p50:.0f} ms"
        return {"verdict": "degrades", "how": how, **found}
    how = f"median latency {p50:.1f} ms" if p50 is not None else f"held {seconds:g} s, no cut"
    return {"verdict": "works", "how": how, **found}
