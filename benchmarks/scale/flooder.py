"""``python -m benchmarks.scale.flooder``: one client posting chat as fast as it can.

The adversary of the flood cases (:func:`benchmarks.scale.flood.flood_plan`):
``--connections`` keep-alive HTTP connections from one address, each joined
as a chat identity of its own, each posting ``POST /api/chat`` again the
moment the previous answer arrives — a student's runaway script. The lab
answers the first few posts (the burst of its post limit) and then, for as
long as the flood lasts, ``429``: the question the case asks is what those
refusals cost the readers beside it.

Line protocol on stdout (as every child of :mod:`benchmarks.suite.children`):
``{"event": "ready"}`` once every identity joined, then it floods until stdin
closes, a line arrives on stdin, or ``--max-duration`` passes, and reports
``{"event": "report", "posted", "limited", "other", "seconds", "cpu_s"}``:
the answers it got by kind, over how long, and its own CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter

import aiohttp
import orjson


def emit(event: str, **fields: object) -> None:
    """One JSON line on stdout."""
    sys.stdout.write(orjson.dumps({"event": event, **fields}).decode() + "\n")
    sys.stdout.flush()


async def flood(session: aiohttp.ClientSession, url: str, token: str, answers: Counter[str],
                stop: asyncio.Event) -> None:
    """Post on one connection, one post after another, until ``stop``."""
    headers = {"Authorization": f"Bearer {token}"}
    body = orjson.dumps({"text": "flood " * 8})
    while not stop.is_set():
        async with session.post(f"{url}/api/chat", data=body, headers=headers) as response:
            await response.read()
            kind = {201: "posted", 429: "limited"}.get(response.status, "other")
            answers[kind] += 1


async def stdin_closed() -> None:
    """Return once stdin has a line or ends."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.readline()


async def run(url: str, connections: int, max_duration: float) -> None:
    """Join, say ready, flood until told to stop, report."""
    answers: Counter[str] = Counter()
    stop = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        tokens = []
        for i in range(connections):
            async with session.post(f"{url}/api/chat/join", json={"user": f"flooder{i}"}) as r:
                r.raise_for_status()
                tokens.append((await r.json())["token"])
        emit("ready", connections=connections)
        started, cpu = time.monotonic(), time.process_time()
        tasks = [asyncio.create_task(flood(session, url, token, answers, stop))
                 for token in tokens]
        try:
            await asyncio.wait_for(stdin_closed(), max_duration)
        except TimeoutError:
            pass
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        emit("report", **{k: answers[k] for k in ("posted", "limited", "other")},
             seconds=round(time.monotonic() - started, 3),
             cpu_s=round(time.process_time() - cpu, 3))


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale.flooder",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the lab, http://host:port")
    parser.add_argument("--connections", type=int, default=4, help="connections (identities)")
    parser.add_argument("--max-duration", type=float, default=600.0, help="seconds at most")
    args = parser.parse_args(argv)
    if not 1 <= args.connections <= 64 or args.max_duration <= 0:
        print("error: --connections 1..64, --max-duration > 0", file=sys.stderr)
        return 2
    asyncio.run(run(args.url.rstrip("/"), args.connections, args.max_duration))
    return 0


if __name__ == "__main__":
    sys.exit(main())
