"""Lean client protocols for :mod:`benchmarks.scale.swarm`: one small class per transport.

Thousands of these live in one process, so each parses only what the swarm
needs: the status line, the end of the response head, and every message's
``seq`` and ``t_us``, found by a byte regex rather than by decoding JSON. What
they deliberately do not do: follow redirects, decode chunked framing (NDJSON
and SSE messages never span the server's chunks, and each ends in a newline, so
complete lines are scanned as they are), reconnect, or count bytes.

Each message goes to :meth:`~benchmarks.scale.swarm_recorder.Recorder.record`,
which keeps exact per-connection counts (gaps, duplicates) and a uniform
reservoir of latency samples, each with two receive times: when the kernel
queued the bytes on the client's socket and when this process read them (see
:mod:`benchmarks.scale.swarm_socket`). Counting is not done here, nor is
deciding when a connection is read (:mod:`benchmarks.scale.swarm_connections`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import socket
import time

from benchmarks.scale.swarm_recorder import Counts, Recorder
from benchmarks.scale.swarm_socket import TimestampedSocket
from lab.contract import PATHS, TRANSPORTS

MESSAGE = re.compile(rb'"seq": ?(\d+), ?"t_us": ?(\d+)')
HEAD = re.compile(rb'"head": ?(\d+)')
MISSED = re.compile(rb'"missed": ?([1-9]\d*)')
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

REQUEST_PATHS = {t: f"{PATHS[t]}?topic=prices" for t in TRANSPORTS}
"""Each transport's request path: the contract's, on the prices topic."""


_SHARED = memoryview(bytearray(256 * 1024))
"""One receive buffer for every connection of the process: a read is handled before the next."""


class Conn(Counts):
    """Common state of one client connection; subclasses speak one transport."""

    transport_name = ""

    def __init__(self, idx: int, host: str, recorder: Recorder[Conn]) -> None:
        super().__init__(idx)
        self.host = host
        self.rec = recorder
        self.transport: TimestampedSocket | None = None
        self.head_done = False
        self.buf = b""
        self.seq_at_timed_read = 0  # last_seq after the swarm's previous scheduled read
        self.missed = 0
        self.requests = 0
        self.failed = False
        self.error: str | None = None

    def attach(self, sock: socket.socket) -> None:
        """Take over a connected socket and send the request that opens the stream."""
        self.transport = TimestampedSocket(sock, self, _SHARED)
        self.transport.write(self.opening_request())

    def opening_request(self) -> bytes:
        """The first request's bytes."""
        return self.request(REQUEST_PATHS[self.transport_name])

    def request(self, path: str, extra: str = "") -> bytes:
        """A keep-alive HTTP/1.1 GET."""
        self.requests += 1
        return f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{extra}\r\n".encode()

    def received(self, buffer: memoryview, nbytes: int, arrival_us: int) -> None:
        """Copy out what was read and handle it."""
        self.arrival_us = arrival_us
        self.data_received(buffer[:nbytes].tobytes())

    def data_received(self, data: bytes) -> None:
        """Split off the response head once, then hand the rest to :meth:`body`."""
        if self.head_done:
            self.body(data)
            return
        data = self.buf + data
        end = data.find(b"\r\n\r\n")
        if end < 0:
            self.buf = data
            return
        self.buf = b""
        head, rest = data[:end], data[end + 4:]
        if not self.accept_head(head):
            self.fail(f"bad response: {head[:40].decode('latin-1')!r}")
            return
        self.head_done = True
        if rest:
            self.body(rest)

    def accept_head(self, head: bytes) -> bool:
        """Whether the response head is the one this transport expects."""
        return head.startswith(b"HTTP/1.1 200")

    def body(self, data: bytes) -> None:
        """Bytes after the response head."""
        raise NotImplementedError

    def scan(self, data: bytes, recv_us: int, end: int | None = None) -> None:
        """Record every message in ``data[:end]`` (complete messages only)."""
        end = len(data) if end is None else end
        found = MESSAGE.findall(data, 0, end)
        if found and not self.timed:
            self.rec.record_run(self, found, recv_us)
        else:
            record = self.rec.record
            for seq, t_us in found:
                record(self, int(seq), int(t_us), recv_us)
        if data.find(b'"missed"', 0, end) >= 0:
            self.missed += sum(int(m[1]) for m in MISSED.finditer(data, 0, end))

    def fail(self, reason: str) -> None:
        """Note a failure once and close."""
        if not self.failed and not self.finished:
            self.failed = True
            self.error = reason
            self.rec.mark_failed()
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        """A close before this connection finished is a failure."""
        if not self.finished:
            self.fail(type(exc).__name__ if exc else "closed by server")


class LineStream(Conn):
    """SSE and chunked NDJSON: scan complete lines as they arrive."""

    def body(self, data: bytes) -> None:
        """Scan up to the last newline, keep the rest."""
        if self.buf:
            data = self.buf + data
        cut = data.rfind(b"\n") + 1
        self.buf = data[cut:]
        if cut:
            self.scan(data[:cut] if cut < len(data) else data, time.time_ns() // 1000)


class SSE(LineStream):
    """``GET /api/events``."""

    transport_name = "sse"

    def opening_request(self) -> bytes:
        """Ask for an event stream."""
        return self.request(REQUEST_PATHS["sse"], "Accept: text/event-stream\r\n")


class NDJSON(LineStream):
    """``GET /api/stream``."""

    transport_name = "stream"


class WebSocket(Conn):
    """``GET /ws``: a minimal RFC 6455 client (masked pongs and close, unmasked frames in)."""

    transport_name = "websocket"

    def opening_request(self) -> bytes:
        """The upgrade request with a fresh key."""
        key = base64.b64encode(os.urandom(16))
        self.accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        return self.request(REQUEST_PATHS["websocket"],
                            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                            f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n")

    def accept_head(self, head: bytes) -> bool:
        """A 101 carrying the right ``Sec-WebSocket-Accept``."""
        return head.startswith(b"HTTP/1.1 101") and self.accept in head

    def body(self, data: bytes) -> None:
        """Parse whole frames; keep a partial one for the next read."""
        if self.buf:
            data = self.buf + data
        recv_us = time.time_ns() // 1000
        if not self.timed:
            whole = short_text_frames_end(data)
            if whole >= 0:
                self.scan(data, recv_us, whole)
                self.buf = data[whole:]
                return
        pos, size = 0, len(data)
        while size - pos >= 2:
            b0, b1 = data[pos], data[pos + 1]
            n, start = b1 & 0x7F, pos + 2
            if n == 126:
                if size - pos < 4:
                    break
                n, start = int.from_bytes(data[pos + 2:pos + 4], "big"), pos + 4
            elif n == 127:
                if size - pos < 10:
                    break
                n, start = int.from_bytes(data[pos + 2:pos + 10], "big"), pos + 10
            if b1 & 0x80:
                start += 4  # a masked server frame breaks RFC 6455, but is still parseable
            end = start + n
            if end > size:
                break
            opcode = b0 & 0x0F
            if opcode == 0x1:
                match = MESSAGE.search(data, start, end)
                if match is not None:
                    self.rec.record(self, int(match[1]), int(match[2]), recv_us)
                elif MISSED.search(data, start, end):
                    self.scan(data[start:end], recv_us)
            elif opcode == 0x9 and self.transport is not None:
                self.transport.write(masked_frame(0xA, data[start:end]))
            elif opcode == 0x8:
                self.fail("close frame from server")
                return
            pos = end
        self.buf = data[pos:]


class Poll(Conn):
    """Long and short polls: one keep-alive request after another, bodies by Content-Length."""

    pushed = False

    def __init__(self, idx: int, host: str, recorder: Recorder[Conn], *, long: bool,
                 interval_s: float = 0.0) -> None:
        super().__init__(idx, host, recorder)
        self.long = long
        self.transport_name = "longpoll" if long else "poll"
        self.interval_s = interval_s
        self.need = -1
        self.since: int | None = None

    def data_received(self, data: bytes) -> None:
        """Each response has its own head; parse head and body in turn."""
        data = self.buf + data if self.buf else data
        while True:
            if self.need < 0:
                end = data.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = data[:end]
                if not head.startswith(b"HTTP/1.1 200"):
                    self.fail(f"bad response: {head[:40].decode('latin-1')!r}")
                    return
                length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                if length is None:
                    self.fail("response without Content-Length")
                    return
                self.need = int(length[1])
                data = data[end + 4:]
            if len(data) < self.need:
                break
            self.answer(data[:self.need])
            data, self.need = data[self.need:], -1
        self.buf = data

    def answer(self, body: bytes) -> None:
        """Record the messages of one response, then ask again."""
        now_us = time.time_ns() // 1000
        self.scan(body, now_us)
        self.rec.poll_times.append(now_us)
        if not self.long:
            if self.requests == 1:
                self.gaps = 0  # the first poll holds the latest price per symbol, not a run
            if now_us >= self.rec.end_us and not self.finished:
                self.finished = True
                self.rec.mark_finished()
        head = HEAD.search(body)
        if self.last_seq:
            self.since = self.last_seq
        elif head is not None:
            self.since = int(head[1])
        if self.finished or self.transport is None or self.transport.is_closing():
            return
        if self.interval_s > 0:
            asyncio.get_running_loop().call_later(self.interval_s, self.ask)
        else:
            self.ask()

    def opening_request(self) -> bytes:
        """The first poll carries no ``since``."""
        return self.request(REQUEST_PATHS[self.transport_name])

    def ask(self) -> None:
        """Send the next request after the newest seq held."""
        if self.transport is None or self.transport.is_closing():
            return
        since = f"&since={self.since}" if self.since is not None else ""
        self.transport.write(self.request(REQUEST_PATHS[self.transport_name] + since))


def short_text_frames_end(data: bytes) -> int:
    """Where the last whole frame in ``data`` ends, if every frame is a short unmasked text frame
    (what an untimed socket usually holds: one regex pass reads them all); else -1."""
    pos, size = 0, len(data)
    while size - pos >= 2:
        if data[pos] != 0x81 or data[pos + 1] > 125:
            return -1
        end = pos + 2 + data[pos + 1]
        if end > size:
            break
        pos = end
    return pos


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A final client → server frame (payload < 126 bytes), masked as RFC 6455 requires."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked


def make_conn(transport: str, idx: int, host: str, recorder: Recorder[Conn],
              interval_s: float = 0.0) -> Conn:
    """A protocol instance for ``transport``."""
    if transport == "websocket":
        return WebSocket(idx, host, recorder)
    if transport == "sse":
        return SSE(idx, host, recorder)
    if transport == "stream":
        return NDJSON(idx, host, recorder)
    if transport in ("longpoll", "poll"):
        return Poll(idx, host, recorder, long=transport == "longpoll", interval_s=interval_s)
    raise ValueError(f"unknown transport {transport!r} (choose from {', '.join(TRANSPORTS)})")
