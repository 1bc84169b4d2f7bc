"""``python -m benchmarks.storm.churn``: one process of a soak's clients, arriving and leaving.

Each of ``--clients`` seats uses the project's own clients (:func:`clients.open_client`), on
the five transports in turn (seat ``i`` on ``TRANSPORTS[i % 5]``). The first ``--stayers``
seats connect once and stay for the whole ``--duration``: their gaps must be 0. Every other
seat connects, reads for a lifetime drawn from an exponential distribution of mean
``--stay`` seconds, closes, and connects again at once, so the server always holds about
``--clients`` connections while they keep changing. ``--posters`` chat identities post one
message a second each, the rate limit of the chat: each joins with ``POST /api/chat/join``
and, when the answer carries a ``token``, posts with ``Authorization: Bearer <token>`` (a
server without tokens takes the ``user`` in the body); a ``429`` is waited out for its
``Retry-After``. At the end it prints one JSON line, ``{"event": "report", ...}``
(:func:`run`). It measures nothing about the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import aiohttp

from benchmarks.scale.swarm import emit
from clients import TRANSPORTS, ClientError, open_client
from clients.backoff import parse_retry_after

POLL_INTERVAL_S = 1.0
"""A short-poll seat's interval."""
MIN_STAY_S = 0.5
"""The shortest lifetime of a churning seat (an exponential draw can be tiny)."""


class Tally:
    """What the seats and posters of this process counted."""

    def __init__(self) -> None:
        self.sessions = 0
        self.failures: Counter[str] = Counter()
        self.stayers_gaps = 0
        self.stayers_messages = 0
        self.stayers_reconnects = 0
        self.churn_gaps = 0
        self.churn_messages = 0
        self.posts: Counter[int] = Counter()


async def session(transport: str, url: str, until: float, tally: Tally, stayer: bool) -> None:
    """One client from connect to close (at monotonic ``until``); its counts go to ``tally``."""
    tally.sessions += 1
    client = open_client(transport, url, interval=POLL_INTERVAL_S)
    try:
        async with client:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, until - time.monotonic())):
                    async for _ in client:
                        pass
    except ClientError as exc:
        tally.failures[type(exc).__name__] += 1
        await asyncio.sleep(1.0)  # a refused seat tries again, no faster than once a second
        return
    stats = client.stats()
    if stayer:
        tally.stayers_gaps += stats.gaps
        tally.stayers_messages += stats.messages
        tally.stayers_reconnects += stats.reconnects
    else:
        tally.churn_gaps += stats.gaps
        tally.churn_messages += stats.messages


async def seat(index: int, args: argparse.Namespace, end: float, tally: Tally,
               rng: random.Random) -> None:
    """One seat: a stayer's single session, or sessions one after another until ``end``."""
    transport = TRANSPORTS[index % len(TRANSPORTS)]
    if index < args.stayers:
        await session(transport, args.url, end, tally, stayer=True)
        return
    lifetime = max(MIN_STAY_S, rng.uniform(0, args.stay))  # spread the first departures
    while time.monotonic() < end:
        await session(transport, args.url, min(end, time.monotonic() + lifetime), tally, False)
        lifetime = max(MIN_STAY_S, rng.expovariate(1 / args.stay))


async def poster(index: int, args: argparse.Namespace, end: float, tally: Tally,
                 http: aiohttp.ClientSession) -> None:
    """One chat identity posting a message a second until ``end``; ``tally.posts`` counts the
    answers' statuses (0 for no answer)."""
    user = f"soak-{args.seed}-{index}"
    headers: dict[str, str] = {}
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with http.post(f"{args.url}/api/chat/join", json={"user": user}) as answer:
            joined = await answer.json(content_type=None) if answer.status == 201 else {}
            if isinstance(joined, dict) and isinstance(joined.get("token"), str):
                headers["Authorization"] = f"Bearer {joined['token']}"
    sent = 0
    while time.monotonic() < end:
        wait = 1.0
        try:
            async with http.post(f"{args.url}/api/chat", headers=headers,
                                 json={"user": user, "text": f"tick {sent}"}) as answer:
                tally.posts[answer.status] += 1
                if answer.status in (429, 503):
                    wait = max(wait, parse_retry_after(answer.headers.get("Retry-After")) or 1.0)
        except (aiohttp.ClientError, TimeoutError):
            tally.posts[0] += 1
        sent += 1
        await asyncio.sleep(min(wait, max(0.0, end - time.monotonic())))
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with http.post(f"{args.url}/api/chat/leave", headers=headers,
                             json={"user": user}):
            pass


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the seats and posters for ``--duration`` seconds; return the report."""
    tally = Tally()
    end = time.monotonic() + args.duration
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        tasks = [seat(i, args, end, tally, random.Random(args.seed * 7919 + i))
                 for i in range(args.clients)]
        tasks += [poster(i, args, end, tally, http) for i in range(args.posters)]
        await asyncio.gather(*tasks)
    return {
        "clients": args.clients, "stayers": min(args.stayers, args.clients),
        "sessions": tally.sessions, "failures": dict(tally.failures),
        "stayers_gaps": tally.stayers_gaps, "stayers_messages": tally.stayers_messages,
        "stayers_reconnects": tally.stayers_reconnects, "churn_gaps": tally.churn_gaps,
        "churn_messages": tally.churn_messages,
        "posts": {str(status): n for status, n in sorted(tally.posts.items())},
    }


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.storm.churn",
                                     description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8080")
    add("--clients", type=int, required=True, help="seats (1..5000)")
    add("--stayers", type=int, default=0, help="seats that stay the whole run")
    add("--stay", type=float, default=20.0, help="mean lifetime of a churning seat, seconds")
    add("--posters", type=int, default=0, help="chat identities, one post a second each")
    add("--duration", type=float, required=True, help="seconds to run")
    add("--seed", type=int, default=1, help="seed of the lifetimes")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 with a report, 1 on bad arguments, 130 on Ctrl-C."""
    args = build_parser().parse_args(argv)
    if not (1 <= args.clients <= 5000 and args.duration > 0 and args.stay > 0
            and args.stayers >= 0 and args.posters >= 0 and args.url.startswith("http://")):
        print("error: --clients 1..5000, --duration > 0, --stay > 0, --url http://HOST:PORT",
              file=sys.stderr)
        return 1
    try:
        result = asyncio.run(asyncio.wait_for(run(args), args.duration + 120))
    except TimeoutError:
        print("error: the seats did not finish in time", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    emit("report", **result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
