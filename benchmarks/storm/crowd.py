"""``python -m benchmarks.storm.crowd``: one process of a reconnect storm's clients.

Up to :data:`MAX_CLIENTS` lean WebSocket or SSE clients, each a task that connects, reads
messages, and on any drop waits on the clients' own schedule (:class:`clients.backoff.Backoff`,
full jitter; ``--no-jitter`` only to show what jitter buys) and reconnects, resuming from its
last seq (``?since=`` on a WebSocket, ``Last-Event-ID`` on SSE); a ``429`` or ``503`` answer's
``Retry-After`` is honoured as the clients do. Each records every connection attempt's time,
every successful open's, and for each reconnect the resume point and the first seq after it;
messages are found by the scale swarm's byte patterns (:mod:`benchmarks.scale.swarm_protocols`),
not decoded. The clients are spread over several loopback source addresses (``--sources``).

Line protocol (JSON lines): ``{"event": "ready", ...}`` once every client got a first message
(or ``--ready-timeout`` passed); then, for each ``{"status": true}`` on stdin, ``{"event":
"status", "opens": [...]}`` (every client's latest open, µs); on ``{"report": true}`` the report
(:func:`report`), and the process exits. End of stdin or ``--max-duration`` stops it. It
measures nothing about the server.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson

from benchmarks.scale.swarm import emit, read_command, stdin_reader
from benchmarks.scale.swarm_protocols import MESSAGE, MISSED, masked_frame
from clients.backoff import Backoff, parse_retry_after

MAX_CLIENTS = 9000
"""Clients per process (two descriptors' worth of headroom under a 20,000 file limit)."""
TRANSPORTS = ("websocket", "sse")
DROPS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError)
"""What ends a connection: the client reconnects."""
HEAD_TIMEOUT_S = 30.0
"""Seconds to wait for a response head before counting the attempt as failed."""


class Busy(Exception):
    """The server answered 429 or 503; ``retry_after`` from its header (None if absent)."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__("busy")
        self.retry_after = retry_after


class Refused(Exception):
    """The server answered with a status no retry can fix (e.g. 404)."""


def now_us() -> int:
    """Wall-clock microseconds (the server's clock too)."""
    return time.time_ns() // 1000


class Client:
    """One storm client's state and record."""

    def __init__(self, idx: int, backoff: Backoff) -> None:
        self.idx = idx
        self.backoff = backoff
        self.last_seq: int | None = None
        self.resumed_from: int | None = None
        self.awaiting_first = False
        self.ready = asyncio.Event()
        self.attempts: list[int] = []
        self.opens: list[int] = []
        self.resumes: list[tuple[int | None, int, int]] = []  # (resume point, first seq, t_us)
        self.gaps = 0
        self.duplicates = 0
        self.missed = 0
        self.messages = 0

    def seen(self, seq: int) -> None:
        """One message: the first after a reconnect records its resume point and first seq
        (not counted as a gap or duplicate here); the others are checked for seq order."""
        if self.awaiting_first:
            self.awaiting_first = False
            if len(self.opens) > 1:
                # The jump from the resume point is judged by the storm, which knows whether
                # the server restarted in between (a new sequence) or not (then it is a gap).
                self.resumes.append((self.resumed_from, seq, now_us()))
                self.last_seq = None
            self.ready.set()
        last = self.last_seq
        if last is not None and seq <= last:
            self.duplicates += 1
            return
        if last is not None:
            self.gaps += seq - last - 1
        self.last_seq = seq
        self.messages += 1

    def opened(self) -> None:
        """A good answer: note the open, reset the schedule, and wait for the first message."""
        self.opens.append(now_us())
        self.backoff.reset()
        self.resumed_from = self.last_seq
        self.awaiting_first = True

    def scan(self, data: bytes) -> None:
        """Every message (and missed notice) in ``data``."""
        for seq, _t_us in MESSAGE.findall(data):
            self.seen(int(seq))
        if b'"missed"' in data:
            self.missed += sum(int(m[1]) for m in MISSED.finditer(data))


async def read_head(reader: asyncio.StreamReader, expected: bytes) -> None:
    """Read a response head; return if its status line starts ``expected``, else raise."""
    async with asyncio.timeout(HEAD_TIMEOUT_S):
        head = await reader.readuntil(b"\r\n\r\n")
    status = head[9:12]
    if head.startswith(expected):
        return
    if status in (b"429", b"503"):
        retry_after = None
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"retry-after":
                retry_after = parse_retry_after(value.decode("latin-1"))
        raise Busy(retry_after)
    if status.startswith(b"5"):
        raise ConnectionResetError(f"HTTP {status.decode('latin-1')}")
    raise Refused(head.split(b"\r\n", 1)[0].decode("latin-1"))


async def websocket_session(client: Client, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter, host: str) -> None:
    """Upgrade with ``?since=``, then read frames (answering pings) until the connection ends."""
    key = base64.b64encode(os.urandom(16))
    since = "" if client.last_seq is None else f"&since={client.last_seq}"
    writer.write(f"GET /ws?topic=prices{since} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    await read_head(reader, b"HTTP/1.1 101")
    client.opened()
    while True:
        b0, b1 = await reader.readexactly(2)
        size = b1 & 0x7F
        if size == 126:
            size = int.from_bytes(await reader.readexactly(2), "big")
        elif size == 127:
            size = int.from_bytes(await reader.readexactly(8), "big")
        payload = await reader.readexactly(size)
        opcode = b0 & 0x0F
        if opcode == 0x1:
            client.scan(payload)
        elif opcode == 0x9:
            writer.write(masked_frame(0xA, payload))
        elif opcode == 0x8:
            return


async def sse_session(client: Client, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter, host: str) -> None:
    """``GET /api/events`` with ``Last-Event-ID``, then scan lines until the stream ends."""
    resume = "" if client.last_seq is None else f"Last-Event-ID: {client.last_seq}\r\n"
    writer.write(f"GET /api/events?topic=prices HTTP/1.1\r\nHost: {host}\r\n"
                 f"Accept: text/event-stream\r\n{resume}\r\n".encode())
    await read_head(reader, b"HTTP/1.1 200")
    client.opened()
    while line := await reader.readline():
        if line.startswith(b"data:") or b'"missed"' in line:
            client.scan(line)


async def connect(address: tuple[str, int], source: str
                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection from ``source`` to ``address``."""
    return await asyncio.open_connection(*address, local_addr=(source, 0), limit=1 << 20)


async def run_client(client: Client, transport: str, address: tuple[str, int], source: str,
                     gate: asyncio.Semaphore, errors: Counter[str]) -> None:
    """Connect, read, and reconnect forever (until cancelled)."""
    session = websocket_session if transport == "websocket" else sse_session
    host = f"{address[0]}:{address[1]}"
    while True:
        retry_after = None
        client.attempts.append(now_us())
        writer = None
        try:
            if client.opens:  # a reconnect: the schedule alone spreads them, as in a class
                reader, writer = await connect(address, source)
            else:  # the first connect, gated so bring-up does not overflow the listen queue
                async with gate:
                    reader, writer = await connect(address, source)
            await session(client, reader, writer, host)
            errors["closed by server"] += 1
        except Busy as exc:
            retry_after = exc.retry_after
            errors["busy"] += 1
        except Refused as exc:
            errors[str(exc)] += 1
        except DROPS as exc:
            errors[type(exc).__name__] += 1
        finally:
            if writer is not None:
                writer.close()
        await asyncio.sleep(client.backoff.next(retry_after))


def report(clients: list[Client], args: argparse.Namespace, errors: Counter[str]) -> dict[str, Any]:
    """What this process saw: per-client attempts, opens and resumes, and summed counts."""
    return {
        "transport": args.transport, "clients": len(clients), "jitter": not args.no_jitter,
        "attempts_us": [t for c in clients for t in c.attempts],
        "opens_us": [c.opens for c in clients],
        "resumes": [list(r) for c in clients for r in c.resumes],
        "gaps": sum(c.gaps for c in clients), "duplicates": sum(c.duplicates for c in clients),
        "missed": sum(c.missed for c in clients), "messages": sum(c.messages for c in clients),
        "errors": dict(errors),
    }


async def run(args: argparse.Namespace) -> dict[str, Any] | None:
    """Start the clients, answer status requests, and return the report when asked."""
    host, _, port = args.url.removeprefix("http://").rstrip("/").partition(":")
    sources = [s for s in args.sources.split(",") if s]
    gate = asyncio.Semaphore(args.connect_concurrency)
    errors: Counter[str] = Counter()
    clients = [Client(i, Backoff(rng=random.Random(args.seed * 1_000_003 + i),
                                 jitter=not args.no_jitter)) for i in range(args.clients)]
    tasks = [asyncio.ensure_future(run_client(c, args.transport, (host, int(port)),
                                              sources[i % len(sources)], gate, errors))
             for i, c in enumerate(clients)]
    reader = await stdin_reader()
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(args.ready_timeout):
                await asyncio.gather(*(c.ready.wait() for c in clients))
        emit("ready", clients=len(clients), ready=sum(c.ready.is_set() for c in clients))
        while (command := await read_command(reader)) is not None:
            if command.get("status"):
                emit("status", opens=[c.opens[-1] if c.opens else 0 for c in clients])
            elif command.get("report"):
                return report(clients, args, errors)
        return None
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.storm.crowd",
                                     description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8080")
    add("--transport", required=True, choices=TRANSPORTS)
    add("--clients", type=int, required=True, help=f"clients (1..{MAX_CLIENTS})")
    add("--sources", default="127.0.0.1", help="comma-separated local addresses to bind")
    add("--seed", type=int, default=1, help="seed of the clients' jitter")
    add("--no-jitter", action="store_true", help="retry on the ceilings alone (comparison only)")
    add("--connect-concurrency", type=int, default=64, help="first connects in flight at once")
    add("--ready-timeout", type=float, default=60.0, help="seconds to connect everyone")
    add("--max-duration", type=float, default=900.0, help="hard limit on the whole run")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 with a report, 1 on bad arguments or no report, 130 on Ctrl-C."""
    args = build_parser().parse_args(argv)
    if not 1 <= args.clients <= MAX_CLIENTS or not args.url.startswith("http://"):
        print(f"error: --clients must be 1..{MAX_CLIENTS} and --url http://HOST:PORT",
              file=sys.stderr)
        return 1

    async def bounded() -> dict[str, Any] | None:
        return await asyncio.wait_for(run(args), args.max_duration)

    try:
        result = asyncio.run(bounded())
    except TimeoutError:
        print(f"error: gave up after --max-duration {args.max_duration:g} s", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if result is None:
        return 1
    sys.stdout.buffer.write(orjson.dumps({"event": "report", **result}) + b"\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
