"""Fixtures for the broker tests: a real ``redis-server`` and real ``python -m lab`` nodes.

Imported by the broker test modules only (not a conftest pytest loads by
itself). Redis runs without persistence (``--save '' --appendonly no``) on a
free port and is stopped by its PID; with no ``redis-server`` on the PATH the
tests skip and say how to get one. Nodes run as ``python -m lab --broker …``
in their own process groups, each stopped by its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

REDIS = shutil.which("redis-server")
START_TIMEOUT_S = 15.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(predicate: Callable[[], Awaitable[bool]], timeout: float = 15.0,
                     every: float = 0.05) -> None:
    """Wait until ``predicate()`` is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s: {predicate.__doc__ or predicate}")
        await asyncio.sleep(every)


@dataclass
class RedisServer:
    """A ``redis-server`` child process on a free port, without persistence."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The broker URL nodes are given."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        assert REDIS is not None
        self.process = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop it by its PID (its data is gone: nothing was persisted)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a paused server could not stop
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def pause(self) -> None:
        """SIGSTOP: Redis stops answering but keeps its connections."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


@pytest.fixture(name="redis_server")
def redis_server_fixture() -> Iterator[RedisServer]:
    """A fresh redis-server for one test (skips when none is installed)."""
    if REDIS is None:
        pytest.skip("redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)")
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@dataclass
class Node:
    """A running ``python -m lab --broker …``."""

    process: asyncio.subprocess.Process
    base: str
    log: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        """The node's PID."""
        return self.process.pid

    async def get(self, session: aiohttp.ClientSession, path: str) -> Any:
        """GET ``path`` from this node as JSON."""
        async with session.get(self.base + path) as response:
            return await response.json()


NodeFactory = Callable[..., Awaitable[Node]]


async def run_lab(*flags: str) -> tuple[int, str]:
    """Run ``python -m lab`` with ``flags`` to its end (it should fail at start): status, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lab", "--port", "0", *flags,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(process.communicate(), START_TIMEOUT_S)
    assert process.returncode is not None
    return process.returncode, err.decode()


@pytest.fixture(name="make_node")
async def make_node_fixture(redis_server: RedisServer) -> AsyncIterator[NodeFactory]:
    """Start lab nodes on ``redis_server``; every one still running is stopped at the end."""
    nodes: list[Node] = []

    async def make(*flags: str, broker: str | None = None) -> Node:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "lab", "--port", "0", "--broker", broker or redis_server.url,
            "--log-level", "WARNING", *flags,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert process.stdout is not None and process.stderr is not None
        line = (await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_S)).decode()
        match = re.search(r"serving on (http://\S+?)/", line)
        assert match, line + (await process.stderr.read()).decode()
        nodes.append(Node(process, match.group(1)))
        return nodes[-1]

    yield make
    for node in nodes:
        if node.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # a test killed it: it is gone
                os.kill(node.pid, signal.SIGINT)
    for node in nodes:
        await asyncio.wait_for(node.process.wait(), 15)
        assert node.process.stderr is not None
        err = (await node.process.stderr.read()).decode()
        assert "Traceback" not in err, err
