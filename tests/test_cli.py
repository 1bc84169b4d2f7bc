"""``python -m lab`` as a user runs it: real process, real sockets, signals."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

FLAGS = ("--host", "--port", "--rate", "--symbols", "--seed", "--volatility", "--replay",
         "--speed", "--history", "--heartbeat", "--log-level")


async def run(*args: str, timeout: float = 20) -> tuple[int, str, str]:
    """Run ``python -m lab ARGS`` to completion; exit status, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lab", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, out.decode(), err.decode()


class Running:
    """A lab server process and its base URL."""

    def __init__(self, process: asyncio.subprocess.Process, base: str) -> None:
        self.process = process
        self.base = base


async def start(*args: str) -> Running:
    """Start ``python -m lab --port 0 ARGS`` and wait for its 'serving on' line."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lab", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
    match = re.search(r"serving on (http://\S+?)/", line)
    assert match, line
    return Running(process, match.group(1))


@pytest.fixture
async def server() -> AsyncIterator[Running]:
    """A live server on a free port, stopped after the test."""
    running = await start("--rate", "50", "--heartbeat", "0.5")
    yield running
    if running.process.returncode is None:
        running.process.kill()
        await running.process.wait()


async def test_help_explains_every_flag_with_its_default() -> None:
    """--help lists every flag of the issue and shows defaults."""
    status, out, _ = await run("--help")
    assert status == 0
    for flag in FLAGS:
        assert flag in out
    assert "default: 127.0.0.1" in out and "default: 8080" in out


async def test_port_in_use_is_one_line() -> None:
    """A busy port gets a one-line error and exit status 1, not a traceback."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        status, _, err = await run("--port", str(busy.getsockname()[1]))
    assert status == 1
    assert err.strip().count("\n") == 0 and "cannot listen" in err and "Traceback" not in err


async def test_bad_replay_does_not_start(tmp_path: Path) -> None:
    """A broken replay file stops the server before it listens, naming the line."""
    csv = tmp_path / "bad.csv"
    csv.write_text("timestamp,symbol,price\n1,A,1\n2,A,oops\n")
    status, out, err = await run("--replay", str(csv), "--port", "0")
    assert status == 1 and "bad.csv:3" in err and "serving" not in out and "Traceback" not in err


async def test_bad_flag_value_is_one_line() -> None:
    """A nonsensical setting is refused with a one-line reason."""
    status, _, err = await run("--rate", "-3", "--port", "0")
    assert status == 1 and err.startswith("error: rate must be positive") and "Traceback" not in err


async def test_replay_feed_is_served(tmp_path: Path) -> None:
    """Prices from a replay file come out of the poll endpoint."""
    csv = tmp_path / "tape.csv"
    csv.write_text("timestamp,symbol,price\n0,ZZZ,42.5\n0.01,ZZZ,42.75\n")
    running = await start("--replay", str(csv), "--speed", "10")
    try:
        async with (aiohttp.ClientSession() as session, asyncio.timeout(10),
                    session.get(f"{running.base}/api/longpoll?since=1") as response):
            body = await response.json()
        assert body["messages"][0]["data"]["symbol"] == "ZZZ"
        assert body["messages"][0]["data"]["price"] in (42.5, 42.75)
    finally:
        running.process.kill()
        await running.process.wait()


async def test_ctrl_c_closes_sockets_with_1001_and_ends_streams(server: Running) -> None:
    """SIGINT: WebSocket clients get 1001, streams end, the process exits without waiting out
    its open connections (aiohttp's default would be a minute; the test's 15 s bound fails it),
    quietly."""
    async with aiohttp.ClientSession() as session, asyncio.timeout(15):
        ws = await session.ws_connect(f"{server.base}/ws?topic=prices")
        await ws.receive_json()
        stream = await session.get(f"{server.base}/api/stream?topic=prices")
        await stream.content.readline()
        server.process.send_signal(signal.SIGINT)
        while True:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1001
        await stream.content.read()  # returns once the stream has ended
        status = await server.process.wait()
        stream.close()
        await ws.close()
    assert status == 0
    assert server.process.stderr is not None
    err = (await server.process.stderr.read()).decode()
    assert "Traceback" not in err
    assert "open  websocket" in err and "close websocket" in err
