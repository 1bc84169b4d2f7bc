"""A real ``python -m lab`` process for the fuzz tests: its log read back, and a trader beside it.

:class:`LiveLab` starts the server on a free port with its stderr in a file, so
a test can fail on any fault the server logged (a traceback, aiohttp's "Error
handling request", an exception nobody retrieved). :class:`Watcher` is a
well-behaved WebSocket reader of ``prices`` that runs in a thread beside the
fuzzing and records every ``seq`` it sees, so a test can show that nothing the
fuzzer sent disturbed an honest client: no gap, no close.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

FAULTS = re.compile(r"Traceback|Error handling request|exception was never retrieved|"
                    r"Unhandled exception|Exception in callback")
"""What the server's log must never hold: its own fault, not the client's."""

HEARTBEAT_S = 3600
"""The server's heartbeat: none during a test, so the watcher never answers a ping."""

READY_S = 20
"""Seconds a starting server (on a busy machine) may take to say where it listens."""


class LiveLab:
    """One ``python -m lab`` process on a free port, its stderr kept in ``log_path``."""

    def __init__(self, serving: str, log_path: Path, *flags: str) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        plain = ["--plain"] if serving == "plain" else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lab", "--port", "0", "--rate", "50", "--heartbeat",
             str(HEARTBEAT_S), *plain, *flags],
            stdout=subprocess.PIPE, stderr=self._log, text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = re.search(r"serving on http://([\d.]+):(\d+)/", line)
        assert match, f"the lab did not start: {line!r}"
        self.host, self.port = match.group(1), int(match.group(2))
        self._read_to = 0

    @property
    def base(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    def new_faults(self) -> list[str]:
        """The log from the first fault line (see :data:`FAULTS`) logged since the last call
        (up to 40 lines), or nothing."""
        with self.log_path.open("rb") as log:
            log.seek(self._read_to)
            text = log.read()
        self._read_to += len(text)
        lines = text.decode("utf-8", "replace").splitlines()
        first = next((i for i, line in enumerate(lines) if FAULTS.search(line)), None)
        return [] if first is None else [line[:300] for line in lines[first:first + 40]]

    def get(self, path: str) -> tuple[int, bytes]:
        """One well-formed GET on a fresh connection: status and body."""
        return self.call("GET", path)

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """One well-formed POST of a JSON body on a fresh connection: status and body."""
        return self.call("POST", path, body)

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """One well-formed request on a fresh connection: status and body."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=READY_S)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def head(self) -> int:
        """The prices topic's current seq."""
        return int(json.loads(self.get("/api/poll?topic=prices")[1])["head"])

    def stop(self) -> None:
        """Terminate the process (by its PID) and close its log."""
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self._log.close()


class Watcher:
    """A WebSocket reader of ``prices`` in a thread: every seq it got, and how it ended."""

    def __init__(self, lab: LiveLab) -> None:
        self.lab = lab
        self.seqs: list[int] = []
        self.ended: str | None = None
        self._stop = threading.Event()
        self._seen = threading.Condition()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._read, name="watcher", daemon=True)
        self._thread.start()
        assert self._connected.wait(READY_S) and self.ended is None, self.ended

    def _read(self) -> None:
        try:
            # No pings either way (see LiveLab): answering or sending one draws on the random
            # module, which Hypothesis, drawing inputs in the test's thread, takes for a fault.
            url = f"ws://{self.lab.host}:{self.lab.port}/ws?topic=prices"
            with ws_connect(url, ping_interval=None) as socket:
                self._connected.set()
                while not self._stop.is_set():
                    try:
                        frame = socket.recv(timeout=0.5)
                    except TimeoutError:
                        continue
                    message = json.loads(frame)
                    with self._seen:
                        self.seqs.append(message["seq"])
                        self._seen.notify_all()
        except ConnectionClosed as closed:
            self.ended = f"closed: {closed}"
        except Exception as exc:  # noqa: BLE001 (anything else is a disturbance to report)
            self.ended = f"{type(exc).__name__}: {exc}"
        finally:
            self._connected.set()
            with self._seen:
                self._seen.notify_all()

    def reached(self, seq: int, timeout: float = READY_S) -> bool:
        """Wait until the watcher has seen ``seq`` (or ended); whether it has."""
        with self._seen:
            self._seen.wait_for(lambda: (self.seqs and self.seqs[-1] >= seq)
                                or self.ended is not None, timeout)
            return bool(self.seqs) and self.seqs[-1] >= seq

    def gaps(self) -> list[tuple[int, int]]:
        """Every pair of neighbouring seqs that are not one apart."""
        return [(a, b) for a, b in zip(self.seqs, self.seqs[1:]) if b != a + 1]

    def assert_undisturbed(self) -> None:
        """The watcher is still reading, caught up with the feed, and missed nothing."""
        head = self.lab.head()
        assert self.reached(head), f"watcher stopped at {self.seqs[-1:]} of {head}: {self.ended}"
        assert self.ended is None, self.ended
        assert self.gaps() == []

    def close(self) -> None:
        """Stop reading and close the socket."""
        self._stop.set()
        self._thread.join(READY_S)
