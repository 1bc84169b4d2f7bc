"""The failover case: the feed's node is killed mid-run; how long until the next price, and
whether anything was lost.

Two ``--broker`` nodes on one ``redis-server``: the first runs the feed
(``--feed always``), the second waits for the lock (``--feed auto``) and holds a
WebSocket subscriber of the lab's own client (:mod:`clients`). After
``before_s`` seconds the feed's node gets SIGKILL — no goodbye, its lock left
to expire — and the other node takes the feed over. Measured: the seconds
between the last price before the kill and the first after it (what a trader
watching that node sees), and the client's gaps and duplicates, which must be 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path
from typing import Any

from benchmarks.broker.run import LAB, RedisProcess, free_port
from benchmarks.suite.children import Child
from clients.factory import open_client

AFTER_S = 10.0
"""How long the subscriber keeps reading after the kill (the lock's TTL is 5 s)."""


async def run_failover(rate: float, seed: int, log_dir: Path, before_s: float = 5.0,
                       ) -> dict[str, Any]:
    """Run the failover case; its figures as one JSON-ready dict."""
    async with contextlib.AsyncExitStack() as stack:
        redis = RedisProcess(free_port())
        stack.callback(redis.stop)
        await redis.ready()
        nodes = []
        for index, feed in enumerate(("always", "auto")):
            child = Child(f"node {index}", log_dir / f"broker-failover.node{index}.log")
            await child.start(*LAB, "--rate", f"{rate:g}", "--seed", str(seed), "--feed", feed,
                              "--broker", redis.url, "--port", "0")
            stack.push_async_callback(child.stop)
            nodes.append((child, await child.wait_serving(30.0)))
        (feeder, _), (_, port) = nodes
        arrivals: list[tuple[float, int]] = []
        killed_at = 0.0
        async with (open_client("websocket", f"http://127.0.0.1:{port}") as client,
                    asyncio.timeout(before_s + AFTER_S + 30.0)):
            deadline = time.monotonic() + before_s + AFTER_S
            async for received in client:
                arrivals.append((time.monotonic(), received.seq))
                now = time.monotonic()
                if not killed_at and now > deadline - AFTER_S and feeder.proc is not None:
                    feeder.proc.send_signal(signal.SIGKILL)
                    killed_at = now
                if now > deadline:
                    break
            stats = client.stats()
    before = [t for t, _ in arrivals if t <= killed_at]
    after = [t for t, _ in arrivals if t > killed_at]
    return {
        "name": "broker-failover", "group": "broker", "status": "ok",
        "params": {"rate": rate, "before_s": before_s, "after_s": AFTER_S},
        "seconds_to_next_price": round(after[0] - before[-1], 3) if before and after else None,
        "seqs": [arrivals[0][1], arrivals[-1][1]] if arrivals else None,
        "gaps": stats.gaps, "duplicates": stats.duplicates, "messages": stats.messages,
    }
