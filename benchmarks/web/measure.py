"""One route and one transport with N clients: wire costs, latency and server CPU over a window.

The clients are the lab's own (``clients``), so every byte is counted on their sockets and
classified (HPACK header blocks over HTTP/2, TLS apart). Each client's first request (made on
entering) is measured apart from the window's, so the first request's headers and the steady
state's show separately: on HTTP/2 the second request on a connection sends most header
fields as one-octet references to HPACK's dynamic table.

Over the window the lab's CPU seconds are read from /proc (by its PID, so what the lab thinks
of itself plays no part), and every :data:`STALENESS_EVERY_S` the age of the newest price each
client holds is sampled: what HTTP/2 does not change shows in these two as well as in latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from contextlib import AsyncExitStack
from typing import Any

from benchmarks.suite.procstats import cpu_seconds
from clients import WireStats, open_client
from clients.base import BaseClient
from clients.metrics import percentile
from lab.contract import now_us

POLL_INTERVAL_S = 1.0
"""The short poll's period, as in the trader scenarios."""

STALENESS_EVERY_S = 0.02
"""How often the age of each client's newest price is sampled over the window."""


def _per(total: float, count: float) -> float | None:
    return round(total / count, 1) if count else None


def figures(first: list[WireStats], last: list[WireStats], latencies_us: list[int],
            seconds: float, staleness_us: list[int] | None = None,
            server_cpu_s: float | None = None) -> dict[str, Any]:
    """The case's figures from each client's stats after its first request and at the end,
    the window's latencies and staleness samples, and the lab's CPU seconds over the window."""
    def total(stats: list[WireStats], key: str) -> int:
        return sum(getattr(s, key) for s in stats)

    def window(key: str) -> int:
        return total(last, key) - total(first, key)

    def cpu_us_per(count: int) -> float | None:
        return None if server_cpu_s is None or not count else round(server_cpu_s * 1e6 / count, 1)

    moved = window("bytes_sent") + window("bytes_received")
    ms = sorted(us / 1000 for us in latencies_us)
    stale = staleness_us or []
    return {
        "first_request_header_bytes": _per(total(first, "request_header_bytes"),
                                           total(first, "requests")),
        "first_response_header_bytes": _per(total(first, "response_header_bytes"),
                                            total(first, "requests")),
        "steady_request_header_bytes": _per(window("request_header_bytes"), window("requests")),
        "steady_response_header_bytes": _per(window("response_header_bytes"), window("requests")),
        "bytes_per_update": _per(moved, window("messages")),
        "body_bytes_per_update": _per(window("body_bytes"), window("messages")),
        "framing_bytes_per_update": _per(window("framing_bytes"), window("messages")),
        "tls_bytes_per_update": _per(window("tls_sent_bytes") + window("tls_received_bytes"),
                                     window("messages")),
        "requests_per_minute": round(window("requests") / seconds * 60 / len(last), 1),
        "messages": window("messages"),
        "window_requests": window("requests"),
        "gaps": total(last, "gaps"),
        "reconnects": total(last, "reconnects"),
        "latency_ms_p50": round(percentile(ms, 50), 3) if ms else None,
        "latency_ms_p99": round(percentile(ms, 99), 3) if ms else None,
        "staleness_ms_mean": round(sum(stale) / len(stale) / 1000, 1) if stale else None,
        "server_cpu_s": None if server_cpu_s is None else round(server_cpu_s, 4),
        "server_cpu_us_per_request": cpu_us_per(window("requests")),
        "server_cpu_us_per_update": cpu_us_per(window("messages")),
    }


Sample = tuple[int, int, int, int]
"""One message received in the window: client, seq, published and received (µs)."""


async def measure(url: str, transport: str, http2: bool, clients: int, seconds: float,
                  topic: str = "prices", server_pid: int | None = None,
                  compress: bool = False, context_takeover: bool = True,
                  ) -> tuple[dict[str, Any], list[Sample]]:
    """Run ``clients`` clients of ``transport`` at ``url`` for ``seconds``; their figures
    (with the CPU the process ``server_pid`` spent over the window, when given) and every
    message the window's latencies come from. ``compress`` and ``context_takeover`` are the
    WebSocket client's permessage-deflate offer."""
    async with AsyncExitStack() as stack:
        opened: list[BaseClient] = []
        for _ in range(clients):
            client = open_client(transport, url, topic=topic, interval=POLL_INTERVAL_S,
                                 http2=http2, insecure=True, compress=compress,
                                 context_takeover=context_takeover)
            opened.append(await stack.enter_async_context(client))
        first = [c.stats() for c in opened]
        samples: list[Sample] = []
        newest_t_us = [0] * len(opened)

        async def drain(index: int, client: BaseClient) -> None:
            async for received in client:
                newest_t_us[index] = max(newest_t_us[index], received.t_us)
                if not received.snapshot:
                    samples.append((index, received.seq, received.t_us, received.recv_us))

        cpu_before = None if server_pid is None else cpu_seconds(server_pid)
        tasks = [asyncio.create_task(drain(i, c)) for i, c in enumerate(opened)]
        staleness = await _sample_staleness(newest_t_us, tasks, seconds)
        cpu = None if server_pid is None or cpu_before is None else (
            cpu_seconds(server_pid) - cpu_before)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task  # a client error ends the case with it
        latencies = [recv - t for _, _, t, recv in samples]
        last = [c.stats() for c in opened]
        return figures(first, last, latencies, seconds, staleness, cpu), samples


async def _sample_staleness(newest_t_us: list[int], tasks: list[asyncio.Task[None]],
                            seconds: float) -> list[int]:
    """Sample every client's newest price's age until ``seconds`` pass or a client ends."""
    samples: list[int] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        done, _ = await asyncio.wait(tasks, timeout=min(STALENESS_EVERY_S, left))
        if done:
            break
        now = now_us()
        samples.extend(now - t for t in newest_t_us if t)
    return samples
