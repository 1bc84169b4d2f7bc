"""WebSocket's permessage-deflate, measured: bytes and lab CPU per update, memory per socket.

A lab started with ``--ws-compress`` serves three kinds of WebSocket client, one after the
other, each for the group's window: one that does not offer the extension (``off``: the
frames as without compression), one that offers it (``deflate``: each socket's compressor
keeps its context from price to price), and one that asks the server to compress every
message alone (``deflate-no-takeover``); what context takeover buys is the difference between
the last two. Then, in a fresh lab each time (freed memory is not given back to the system, so
one measurement would flatter the next), :data:`RSS_SOCKETS` sockets with and without
compression are opened and fed for :data:`RSS_HOLD_S`: the lab's resident memory grows by a
compression context per socket (aiohttp makes it at a socket's first compressed message).
"""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AsyncExitStack
from typing import Any

from benchmarks.suite.procstats import memory
from clients import open_client
from clients.base import BaseClient

from .cases import COMPRESSION_RSS_HOLD_S, WebSize
from .measure import measure
from .serving import start_lab, stop_lab

CASES: tuple[tuple[str, bool, bool], ...] = (
    ("off", False, True),
    ("deflate", True, True),
    ("deflate-no-takeover", True, False),
)
"""Name, whether the client offers permessage-deflate, whether it lets the server keep its
context."""

RSS_SOCKETS = 200
"""Sockets opened to measure the memory one of them costs."""

RSS_HOLD_S = COMPRESSION_RSS_HOLD_S
"""How long those sockets receive prices before the lab's memory is read."""


async def _drain(client: BaseClient) -> None:
    async for _ in client:
        pass


async def rss_per_socket(rate: float, plain: bool, compress: bool) -> float:
    """The lab's resident memory growth per open, fed WebSocket, in bytes (a fresh lab)."""
    lab, port = await start_lab(rate, plain, ws_compress=True)
    try:
        before, _ = memory(lab.pid)
        async with AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(open_client(
                "websocket", f"http://127.0.0.1:{port}", compress=compress))
                for _ in range(RSS_SOCKETS)]
            tasks = [asyncio.create_task(_drain(c)) for c in clients]
            await asyncio.sleep(RSS_HOLD_S)
            after, _ = memory(lab.pid)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return round((after - before) / RSS_SOCKETS, 0)
    finally:
        await stop_lab(lab)


async def compression(size: WebSize) -> dict[str, Any]:
    """Every case's figures, and the memory per socket without and with compression."""
    lab, port = await start_lab(size.rate, size.plain, ws_compress=True)
    cases: dict[str, dict[str, Any]] = {}
    try:
        for name, compress, takeover in CASES:
            cases[name], _ = await measure(
                f"http://127.0.0.1:{port}", "websocket", False, size.clients, size.seconds,
                server_pid=lab.pid, compress=compress, context_takeover=takeover)
    finally:
        await stop_lab(lab)
    rss = {name: await rss_per_socket(size.rate, size.plain, compress)
           for name, compress in (("off", False), ("deflate", True))}
    return {"clients": size.clients, "seconds": size.seconds, "cases": cases,
            "sockets": RSS_SOCKETS, "hold_s": RSS_HOLD_S, "rss_per_socket_bytes": rss}
