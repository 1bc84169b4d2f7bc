"""One route and one transport with N clients: wire costs and latency over a window.

The clients are the lab's own (``clients``), so every byte is counted on their sockets and
classified (HPACK header blocks over HTTP/2, TLS apart). Each client's first request (made on
entering) is measured apart from the window's, so the first request's headers and the steady
state's show separately: on HTTP/2 the second request on a connection sends most header
fields as one-octet references to HPACK's dynamic table.
"""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AsyncExitStack
from typing import Any

from clients import WireStats, open_client
from clients.base import BaseClient
from clients.metrics import percentile

POLL_INTERVAL_S = 1.0
"""The short poll's period, as in the trader scenarios."""


def _per(total: float, count: float) -> float | None:
    return round(total / count, 1) if count else None


def figures(first: list[WireStats], last: list[WireStats], latencies_us: list[int],
            seconds: float) -> dict[str, Any]:
    """The case's figures from each client's stats after its first request and at the end."""
    def total(stats: list[WireStats], key: str) -> int:
        return sum(getattr(s, key) for s in stats)

    def window(key: str) -> int:
        return total(last, key) - total(first, key)

    moved = window("bytes_sent") + window("bytes_received")
    ms = sorted(us / 1000 for us in latencies_us)
    return {
        "first_request_header_bytes": _per(total(first, "request_header_bytes"),
                                           total(first, "requests")),
        "first_response_header_bytes": _per(total(first, "response_header_bytes"),
                                            total(first, "requests")),
        "steady_request_header_bytes": _per(window("request_header_bytes"), window("requests")),
        "steady_response_header_bytes": _per(window("response_header_bytes"), window("requests")),
        "bytes_per_update": _per(moved, window("messages")),
        "tls_bytes_per_update": _per(window("tls_sent_bytes") + window("tls_received_bytes"),
                                     window("messages")),
        "requests_per_minute": round(window("requests") / seconds * 60 / len(last), 1),
        "messages": window("messages"),
        "gaps": total(last, "gaps"),
        "reconnects": total(last, "reconnects"),
        "latency_ms_p50": round(percentile(ms, 50), 3) if ms else None,
        "latency_ms_p99": round(percentile(ms, 99), 3) if ms else None,
    }


async def measure(url: str, transport: str, http2: bool, clients: int, seconds: float,
                  topic: str = "prices") -> dict[str, Any]:
    """Run ``clients`` clients of ``transport`` at ``url`` for ``seconds``; their figures."""
    async with AsyncExitStack() as stack:
        opened: list[BaseClient] = []
        for _ in range(clients):
            client = open_client(transport, url, topic=topic, interval=POLL_INTERVAL_S,
                                 http2=http2, insecure=True)
            opened.append(await stack.enter_async_context(client))
        first = [c.stats() for c in opened]
        latencies: list[int] = []

        async def drain(client: BaseClient) -> None:
            async for received in client:
                if not received.snapshot:
                    latencies.append(received.latency_us)

        tasks = [asyncio.create_task(drain(c)) for c in opened]
        await asyncio.wait(tasks, timeout=seconds)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task  # a client error ends the case with it
        return figures(first, [c.stats() for c in opened], latencies, seconds)
