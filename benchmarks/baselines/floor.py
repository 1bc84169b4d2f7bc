"""The floor: WebSocket fan-out with no framework, one ``socket.send()`` per client.

A single thread runs a ``selectors`` loop: it accepts connections, answers the
upgrade (``101`` with the RFC 6455 ``Sec-WebSocket-Accept``), and on each tick
builds one text frame and ``send()``s it to every open socket in a plain loop.
Open sockets are blocking, so a client whose buffer is full stalls the whole
loop, as a naive loop would; nothing is queued or dropped. Incoming frames are
read and ignored, except a close frame, which is echoed before closing.

Side channel: ``GET /stats`` on the same port answers (and closes) with JSON
``{"clients": n, "ticks": k, "short_sends": s, "fanouts": [[t_us, duration_us,
sockets], ...]}`` — one entry per tick (the last :data:`MAX_FANOUTS`), the
duration being the ``send()`` loop alone. The same object, without ``fanouts``
but with their p50/p99, is printed as one JSON line on stdout at exit.
``GET /healthz`` answers ``ok``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import selectors
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from benchmarks.baselines.common import HOST, PriceWalk, announce, parse_args
from lab.transports.websocket import encode_frame  # a pure function: the frame bytes, no framework

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_FANOUTS = 100_000
MAX_REQUEST = 8192
CLOSE_FRAME = b"\x88\x02\x03\xe8"  # close, status 1000


def accept_key(key: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key.strip() + WS_GUID).digest())


def http_response(status: str, body: bytes, content_type: str = "text/plain") -> bytes:
    """A complete ``Connection: close`` HTTP/1.1 response."""
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}"
            f"\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n").encode() + body


def upgrade_response(head: bytes) -> bytes | None:
    """The ``101`` answer to a WebSocket upgrade request head, or None if it is not one."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_key(value)
                    + b"\r\n\r\n")
    return None


class Floor:
    """The server's state: listener, half-open requests, open sockets and fan-out times."""

    def __init__(self, port: int, rate: float, seed: int) -> None:
        self.listener = socket.create_server((HOST, port), backlog=4096)
        self.listener.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.pending: dict[socket.socket, bytes] = {}
        self.clients: list[socket.socket] = []
        self.fanouts: deque[tuple[int, int, int]] = deque(maxlen=MAX_FANOUTS)
        self.short_sends = 0
        self.walk = PriceWalk(seed)
        self.period = 1.0 / rate
        self.running = True

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self.listener.getsockname()[1])

    def stats(self, with_fanouts: bool = True) -> dict[str, Any]:
        """The side channel's answer."""
        data: dict[str, Any] = {"clients": len(self.clients), "ticks": self.walk.seq,
                                "short_sends": self.short_sends}
        if with_fanouts:
            data["fanouts"] = [list(f) for f in self.fanouts]
        else:
            durations = sorted(f[1] for f in self.fanouts)
            if durations:
                data["fanout_us_p50"] = durations[len(durations) // 2]
                data["fanout_us_p99"] = durations[min(len(durations) - 1,
                                                      int(len(durations) * 0.99))]
        return data

    def run(self) -> None:
        """Serve until :attr:`running` is cleared (by SIGTERM/SIGINT)."""
        due = time.monotonic() + self.period
        while self.running:
            timeout = max(0.0, min(due - time.monotonic(), 0.1))
            for key, _ in self.selector.select(timeout):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                if sock is self.listener:
                    self._accept()
                elif sock in self.pending:
                    self._read_request(sock)
                else:
                    self._read_client(sock)
            if time.monotonic() >= due:
                self._tick()
                due = max(due + self.period, time.monotonic() - self.period)

    def _tick(self) -> None:
        price = self.walk.next()
        frame = encode_frame(price.text.encode())
        dead = []
        started = time.perf_counter_ns()
        for sock in self.clients:
            try:
                sent = sock.send(frame)
                if sent < len(frame):  # interrupted mid-write: finish it, and say so
                    self.short_sends += 1
                    sock.sendall(frame[sent:])
            except OSError:
                dead.append(sock)
        elapsed_us = (time.perf_counter_ns() - started) // 1000
        self.fanouts.append((price.t_us, elapsed_us, len(self.clients)))
        for sock in dead:
            self._close(sock)

    def _accept(self) -> None:
        for _ in range(256):
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            self.pending[sock] = b""
            self.selector.register(sock, selectors.EVENT_READ)

    def _read_request(self, sock: socket.socket) -> None:
        try:
            data = self.pending[sock] + sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        end = data.find(b"\r\n\r\n")
        if end < 0 and 0 < len(data) < MAX_REQUEST:
            self.pending[sock] = data
            return
        del self.pending[sock]
        head = data[:end]
        path = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b""
        answer = upgrade_response(head) if path.split(b"?")[0] == b"/ws" else None
        if answer is not None:
            sock.setblocking(True)
            sock.sendall(answer)
            self.clients.append(sock)
            return
        if path == b"/stats":
            reply = http_response("200 OK", json.dumps(self.stats()).encode(), "application/json")
        elif path == b"/healthz":
            reply = http_response("200 OK", b"ok")
        else:
            reply = http_response("404 Not Found", b"not found")
        self._close(sock, reply)

    def _read_client(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._close(sock)
        elif data[0] & 0x0F == 0x8:  # a close frame (assumed first in its read): echo it, close
            self._close(sock, CLOSE_FRAME)

    def _close(self, sock: socket.socket, last_words: bytes = b"") -> None:
        if sock in self.clients:
            self.clients.remove(sock)
        try:
            self.selector.unregister(sock)
            if last_words:
                sock.setblocking(True)
                sock.sendall(last_words)
        except (OSError, KeyError, ValueError):
            pass
        sock.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: serve until SIGTERM or Ctrl-C, then print the summary line."""
    args = parse_args("python -m benchmarks.baselines.floor", __doc__.splitlines()[0], argv)
    try:
        floor = Floor(args.port, args.rate, args.seed)
    except OSError as exc:
        print(f"error: cannot listen on {HOST}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1

    def stop(_signum: int, _frame: object) -> None:
        floor.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    announce(floor.port)
    floor.run()
    print(json.dumps(floor.stats(with_fanouts=False)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
