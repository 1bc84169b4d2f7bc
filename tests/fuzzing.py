"""What the fuzz tests share: their budgets, and raw-socket HTTP and WebSocket with exact bytes.

Each property runs twice: a quick budget in the default ``pytest`` run, and a
deep one under ``pytest -m fuzz`` (``LAB_FUZZ_EXAMPLES`` inputs per property and
serving mode, 2,500 unless set). The clients here send whatever bytes they are
given, malformed or not, and parse only as much of the answer as a verdict needs.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.liveserver import LiveLab, Watcher

QUICK_EXAMPLES = 60
"""Inputs per property and serving mode in the default run."""

DEEP_EXAMPLES = int(os.environ.get("LAB_FUZZ_EXAMPLES", "2500"))
"""Inputs per property and serving mode under ``pytest -m fuzz``."""

BUDGETS = [
    pytest.param(QUICK_EXAMPLES, id="quick"),
    pytest.param(DEEP_EXAMPLES, id="deep", marks=[pytest.mark.fuzz, pytest.mark.timeout(3600)]),
]

ANSWER_S = 15.0
"""Seconds an answer may take before the server counts as hung (a liveness bound, not a speed
target: the server answers these in milliseconds)."""

HOLD_S = 2.0
"""Seconds after which an unanswered long poll counts as held (it legitimately waits)."""

PARSER_REFUSALS = {400, 413, 431}
"""Statuses aiohttp's HTTP parser answers with itself, in plain text, before any route."""

examples_run: dict[str, int] = {}
"""Inputs each property ran, by test id (the fuzz run's count)."""


def run_property(name: str, strategy: st.SearchStrategy, check: Callable[[object], None],
                 budget: int) -> None:
    """Run ``check`` on ``budget`` inputs drawn from ``strategy`` and count them in
    :data:`examples_run`. No deadline: the machine may be busy. The quick budget draws the
    same inputs every run (a default run's verdict does not change by chance); the deep one
    new ones each time."""

    @settings(max_examples=budget, deadline=None, database=None,
              derandomize=budget <= QUICK_EXAMPLES,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(strategy)
    def prop(value: object) -> None:
        examples_run[name] = examples_run.get(name, 0) + 1
        check(value)

    prop()


def assert_clean(lab: LiveLab, what: object) -> None:
    """The server logged no fault of its own for ``what``."""
    faults = lab.new_faults()
    assert not faults, f"server logged a fault for {repr(what)[:300]}:\n" + "\n".join(faults)


def finish(lab: LiveLab, watcher: Watcher) -> None:
    """After a property: the server is healthy, its log clean, the watcher undisturbed."""
    assert lab.get("/healthz")[0] == 200
    assert_clean(lab, "the run")
    watcher.assert_undisturbed()


# ---- HTTP ----------------------------------------------------------------------------------

STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


@dataclass
class Answer:
    """The head of one HTTP response, and as much body as arrived with it."""

    status: int
    headers: dict[str, str]
    body: bytes


def exchange(lab: LiveLab, request: bytes, hold: bool) -> Answer | None:
    """Send ``request`` on a fresh connection; the first response, or None when the server
    closed without one, or (``hold``: a long poll) has not answered within :data:`HOLD_S`."""
    with socket.create_connection((lab.host, lab.port), timeout=ANSWER_S) as sock:
        sock.sendall(request)
        sock.settimeout(HOLD_S if hold else ANSWER_S)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            if hold:
                return None
            raise AssertionError(f"no answer within {ANSWER_S} s to {request[:200]!r}") from None
        except ConnectionResetError:
            pass
    if not data:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    match = STATUS_LINE.match(head)
    assert match, f"not an HTTP answer: {data[:200]!r}"
    lines = head.decode("latin-1").split("\r\n")[1:]
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return Answer(int(match.group(1)), headers, body)


def statuses_in(data: bytes) -> list[int]:
    """Every status of the responses in ``data`` (pipelined answers included)."""
    return [int(m.group(1)) for m in STATUS_LINE.finditer(data)]


SENTINEL = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
"""A request sent after raw bytes: once the server has answered (or refused) what came before,
it answers this one and closes."""

IDLE_S = 1.0
"""Seconds of silence after which raw bytes are taken to hold an unfinished request (a body
still owed): the client then hangs up. It bounds how long an input is watched, not a verdict."""


def send_raw(lab: LiveLab, data: bytes) -> bytes:
    """Send ``data`` as it is and then :data:`SENTINEL`; read until the server closes (hanging
    up first if it waits for more, see :data:`IDLE_S`)."""
    with socket.create_connection((lab.host, lab.port), timeout=IDLE_S) as sock:
        sock.sendall(data + SENTINEL)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
            return answer
        except ConnectionResetError:
            return answer
        except TimeoutError:
            pass
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(ANSWER_S)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        except TimeoutError:
            raise AssertionError(f"server kept the connection open after {data[:200]!r}") from None
        return answer


# ---- WebSocket -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """One client frame, every bit chosen: it may break RFC 6455 on purpose."""

    opcode: int
    payload: bytes
    fin: bool = True
    rsv: int = 0
    masked: bool = True
    long_length: bool = False  # a 16- or 64-bit length where 7 bits would do

    def encode(self, mask: bytes = b"\x1f\x2e\x3d\x4c") -> bytes:
        """The frame's bytes (RFC 6455 §5.2)."""
        first = (0x80 if self.fin else 0) | (self.rsv << 4) | self.opcode
        size, bit = len(self.payload), 0x80 if self.masked else 0
        if size < 126 and not self.long_length:
            header = struct.pack("!BB", first, bit | size)
        elif size < 65536 and not (self.long_length and size >= 126):
            header = struct.pack("!BBH", first, bit | 126, size)
        else:
            header = struct.pack("!BBQ", first, bit | 127, size)
        if not self.masked:
            return header + self.payload
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(self.payload))
        return header + mask + body


def text(payload: str | bytes) -> Frame:
    """A well-formed text frame."""
    return Frame(1, payload.encode() if isinstance(payload, str) else payload)


PROBE = text('{"type": "probe"}')
"""A command every open socket answers with an error: proof it still reads."""


@dataclass
class Reply:
    """What the server sent back after a client's frames: its text frames, and its close."""

    texts: list[bytes]
    close_code: int | None = None
    close_reason: bytes = b""
    dropped: bool = False  # the connection ended without a close frame


class RawSocket:
    """A WebSocket client on a raw socket: a real handshake, then any bytes at all."""

    def __init__(self, lab: LiveLab, query: str = "") -> None:
        self.sock = socket.create_connection((lab.host, lab.port), timeout=ANSWER_S)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws{query} HTTP/1.1\r\nHost: {lab.host}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "server closed during the handshake"
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head

    def _take(self, count: int) -> bytes | None:
        while len(self.buffer) < count:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            except TimeoutError:
                raise AssertionError(f"no frame within {ANSWER_S} s") from None
            if not chunk:
                return None
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def read_frame(self) -> tuple[int, bytes] | None:
        """The server's next frame (opcode, payload), or None when the connection ended."""
        head = self._take(2)
        if head is None:
            return None
        assert head[0] & 0x70 == 0 and head[1] & 0x80 == 0, f"bad server frame head {head!r}"
        size = head[1] & 0x7F
        if size >= 126:
            extended = self._take(2 if size == 126 else 8)
            if extended is None:
                return None
            size = int.from_bytes(extended, "big")
        payload = self._take(size)
        return None if payload is None else (head[0] & 0x0F, payload)

    def converse(self, frames: list[bytes], until: Callable[[bytes], bool]) -> Reply:
        """Send ``frames`` and then :data:`PROBE`; read until a text frame ``until`` accepts,
        a close frame, or the end of the connection."""
        reply = Reply([])
        try:
            self.sock.sendall(b"".join(frames) + PROBE.encode())
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed already: what it sent before still counts
        while True:
            frame = self.read_frame()
            if frame is None:
                reply.dropped = True
                return reply
            opcode, payload = frame
            if opcode == 8:
                reply.close_code = int.from_bytes(payload[:2], "big") if payload else 1005
                reply.close_reason = payload[2:]
                return reply
            if opcode == 1:
                reply.texts.append(payload)
                if until(payload):
                    return reply
            assert opcode in (1, 9, 10), f"server sent opcode {opcode}"

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()
