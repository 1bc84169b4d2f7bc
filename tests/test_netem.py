"""The network relay: exact byte counts, delay, bandwidth, cuts, buffering, no-upgrade, CLI."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Self

import pytest

from lab.netem import NetemConfig, Relay, parse_duration, parse_rate, parse_size
from lab.netem.http import REFUSAL, HttpScanner, ResponseBuffer, UpgradeGate
from lab.netem.link import LinkSchedule

LIMIT = 5.0  # seconds any single wait in these tests may take


async def until(condition: Callable[[], bool]) -> None:
    """Wait (bounded) until `condition()` holds, checking on every loop turn."""
    async with asyncio.timeout(LIMIT):
        while not condition():
            await asyncio.sleep(0.001)


class Upstream:
    """A tiny server on port 0: echo, or a scripted HTTP/1.1 server; records what it read."""

    def __init__(self, handler: Callable[[Upstream, asyncio.StreamReader, asyncio.StreamWriter],
                                         Awaitable[None]]) -> None:
        self.handler = handler
        self.received = bytearray()
        self.chunks: asyncio.Queue[bytes | None] = asyncio.Queue()  # body of /stream
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Self:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self.handler(self, reader, writer)
        except ConnectionError:
            pass
        finally:
            writer.close()


async def echo(up: Upstream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo every byte; half-close after the client's EOF."""
    while data := await reader.read(65536):
        up.received += data
        writer.write(data)
        await writer.drain()
    writer.write_eof()


async def http(up: Upstream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Keep-alive HTTP: ``/small`` answers ``hello``; ``/stream`` sends `up.chunks` chunked."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return
        up.received += head
        if head.startswith(b"GET /small "):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            continue
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while (chunk := await up.chunks.get()) is not None:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        writer.write(b"0\r\n\r\n")


@pytest.fixture
async def echo_up() -> AsyncIterator[Upstream]:
    """An echo server on port 0."""
    async with Upstream(echo) as up:
        yield up


@pytest.fixture
async def http_up() -> AsyncIterator[Upstream]:
    """A scripted HTTP/1.1 server on port 0."""
    async with Upstream(http) as up:
        yield up


async def connect(relay: Relay) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a client connection to the relay."""
    return await asyncio.open_connection("127.0.0.1", relay.port)


async def read_all(reader: asyncio.StreamReader) -> bytes:
    """Read to EOF, bounded in time."""
    async with asyncio.timeout(LIMIT):
        return await reader.read()


async def test_counts_bytes_exactly_in_both_directions(echo_up: Upstream) -> None:
    """Totals, per-connection counters and captures match what the clients sent and got."""
    payloads = [random.Random(n).randbytes(n * 40_000 + 7) for n in (1, 2)]
    config = NetemConfig(capture_bytes=16)
    async with Relay(("127.0.0.1", echo_up.port), config) as relay:
        for payload in payloads:
            reader, writer = await connect(relay)
            writer.write(payload)
            writer.write_eof()
            assert await read_all(reader) == payload
            writer.close()
            await writer.wait_closed()
        await relay.wait_idle()
        total = sum(map(len, payloads))
        assert (relay.bytes_upstream, relay.bytes_downstream) == (total, total)
        assert len(echo_up.received) == total
        assert relay.connections == 2 and relay.cuts == 0
        for stats, payload in zip(relay.per_connection, payloads, strict=True):
            assert stats.upstream == stats.to_server == stats.from_server == stats.downstream
            assert stats.upstream == len(payload) and not stats.open
        assert relay.captures == [(p[:16], p[:16]) for p in payloads]


async def test_delay_is_per_chunk_and_keeps_order(echo_up: Upstream) -> None:
    """Each byte arrives at least 2 × delay after it left; order holds; delays do not add up."""
    delay, jitter = 0.05, 0.02
    config = NetemConfig(delay_s=delay, jitter_s=jitter, seed=7)
    loop = asyncio.get_running_loop()
    async with Relay(("127.0.0.1", echo_up.port), config) as relay:
        reader, writer = await connect(relay)
        sent = b""
        start = loop.time()
        for n in range(20):
            line = b"message %d\n" % n
            writer.write(line)
            await writer.drain()
            sent += line
        first = await reader.readline()
        first_at = loop.time() - start
        rest = await reader.readexactly(len(sent) - len(first))
        last_at = loop.time() - start
        writer.close()
        await writer.wait_closed()
        await relay.wait_idle()
    assert first + rest == sent
    assert first_at >= 2 * delay
    # Serialised, the 20 chunks' round trips would add up to at least 20 × 2 × delay; a busy
    # machine may stretch the overlapping ones, but not to that.
    assert last_at < 20 * 2 * delay, "delays were serialised"


def test_link_schedule_delays_each_chunk_not_the_queue() -> None:
    """Chunks read 10 ms apart arrive 10 ms apart, `delay` later; jitter never reorders."""
    link = LinkSchedule(0.05, 0.0, None, random.Random(0))
    assert [link.schedule(10, t)[0][0] for t in (0.0, 0.01, 0.02)] == pytest.approx(
        [0.05, 0.06, 0.07])
    jittery = LinkSchedule(0.05, 0.04, None, random.Random(1))
    dues = [jittery.schedule(10, t / 1000)[0][0] for t in range(200)]
    assert dues == sorted(dues) and min(dues) >= 0.05 and dues[-1] <= 0.199 + 0.09
    capped = LinkSchedule(0.0, 0.0, 10_000.0, random.Random(0))
    slices = capped.schedule(1000, 0.0)
    assert sum(n for _, n in slices) == 1000 and slices[-1][0] == pytest.approx(0.1)
    assert capped.end(0.0) == pytest.approx(0.1)


async def test_bandwidth_cap_paces_bytes(echo_up: Upstream) -> None:
    """30 KB through a 300 KB/s cap takes at least 0.1 s and arrives intact."""
    payload = random.Random(3).randbytes(30_000)
    loop = asyncio.get_running_loop()
    async with Relay(("127.0.0.1", echo_up.port), NetemConfig(bandwidth_bps=300_000)) as relay:
        reader, writer = await connect(relay)
        start = loop.time()
        writer.write(payload)
        writer.write_eof()
        assert await read_all(reader) == payload
        assert loop.time() - start >= 0.1
        writer.close()
        await writer.wait_closed()
        await relay.wait_idle()


async def test_cut_resets_every_open_connection(echo_up: Upstream) -> None:
    """A cut resets both open connections and is counted once per connection."""
    async with Relay(("127.0.0.1", echo_up.port), NetemConfig(cut_every_s=0.2)) as relay:
        clients = [await connect(relay) for _ in range(2)]
        for reader, writer in clients:
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
        for reader, writer in clients:
            with pytest.raises(ConnectionResetError):
                await read_all(reader)
            writer.close()
        await relay.wait_idle()
        assert relay.cuts == 2 and all(s.cut for s in relay.per_connection)
        assert relay.bytes_upstream == relay.bytes_downstream == 8


async def test_buffering_holds_a_stream_until_the_threshold(http_up: Upstream) -> None:
    """A chunked stream shows nothing until `buffer_bytes` accumulate; its end flushes the rest."""
    async with Relay(("127.0.0.1", http_up.port), NetemConfig(buffer_bytes=1000)) as relay:
        reader, writer = await connect(relay)
        writer.write(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in range(3):
            http_up.chunks.put_nowait(b"x" * 100)
        await until(lambda: relay.per_connection[0].from_server >= 3 * 106 + 47)
        stats = relay.per_connection[0]
        assert stats.held == stats.from_server and stats.downstream == 0
        http_up.chunks.put_nowait(b"y" * 700)  # crosses 1000 held bytes: all released
        async with asyncio.timeout(LIMIT):
            got = await reader.readuntil(b"y" * 700 + b"\r\n")
        assert len(got) == relay.per_connection[0].from_server
        http_up.chunks.put_nowait(b"z")
        http_up.chunks.put_nowait(None)  # the response ends: released though small
        async with asyncio.timeout(LIMIT):
            assert await reader.readuntil(b"0\r\n\r\n") == b"1\r\nz\r\n0\r\n\r\n"
        writer.write(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
        async with asyncio.timeout(LIMIT):
            assert (await reader.readuntil(b"hello")).endswith(b"Content-Length: 5\r\n\r\nhello")
        writer.close()
        await writer.wait_closed()
        await relay.wait_idle()


async def test_no_upgrade_answers_403_and_forwards_nothing(http_up: Upstream) -> None:
    """Plain HTTP passes; a WebSocket upgrade gets the relay's 403 and never reaches upstream."""
    plain = b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n"
    upgrade = (b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    async with Relay(("127.0.0.1", http_up.port), NetemConfig(no_upgrade=True)) as relay:
        reader, writer = await connect(relay)
        writer.write(plain)
        async with asyncio.timeout(LIMIT):
            await reader.readuntil(b"hello")
        writer.write(upgrade[:20])
        await until(lambda: relay.bytes_upstream == len(plain) + 20)
        writer.write(upgrade[20:])
        answer = await read_all(reader)
        writer.close()
        await writer.wait_closed()
        await relay.wait_idle()
    assert answer == REFUSAL and answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"upgrade refused by proxy" in answer
    assert bytes(http_up.received) == plain
    stats = relay.per_connection[0]
    assert stats.refused_upgrade and stats.to_server == len(plain)
    assert stats.upstream == len(plain) + len(upgrade)


def test_http_scanner_finds_boundaries_whatever_the_split() -> None:
    """Message ends are found in a chunked and a sized response cut at every byte offset."""
    wire = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\n\r\n"
            b"HTTP/1.1 204 No Content\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
    for cut in range(len(wire) + 1):
        scanner = HttpScanner(is_response=True)
        segments = scanner.feed(wire[:cut]) + scanner.feed(wire[cut:])
        assert b"".join(s.data for s in segments) == wire
        assert sum(s.ends_message for s in segments) == 3


def test_gate_and_buffer_policies_without_sockets() -> None:
    """The gate holds a split head then refuses it; the buffer releases at limit or end."""
    gate = UpgradeGate()
    assert gate.feed(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /ws HTTP/1.1\r\nUpg") == (
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    assert gate.feed(b"rade: websocket\r\n\r\n") == b"" and gate.refused
    assert UpgradeGate().feed(b"not http at all") == b"not http at all"
    buffer = ResponseBuffer(limit=10)
    assert buffer.feed(b"raw bytes") == b"" and buffer.feed(b"!!") == b"raw bytes!!"
    assert buffer.feed(b"tail") == b"" and buffer.finish() == b"tail"


def test_units_and_config_validation() -> None:
    """Human units parse to seconds, bytes and bytes/s; nonsense is refused with a message."""
    assert parse_duration("50ms") == pytest.approx(0.05) and parse_duration("1s") == 1.0
    assert parse_size("8KB") == 8000 and parse_size("8KiB") == 8192 and parse_size("100") == 100
    assert parse_rate("1mbit") == 125_000 and parse_rate("100KB/s") == 100_000
    for parse, text in [(parse_duration, "50"), (parse_size, "8 furlongs"), (parse_rate, "1mbps")]:
        with pytest.raises(ValueError, match="bad"):
            parse(text)
    with pytest.raises(ValueError):
        NetemConfig(delay_s=-1)
    with pytest.raises(ValueError, match="non-loopback"):
        Relay(("127.0.0.1", 1), host="10.1.2.3")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m lab.netem`` with `args`, bounded in time."""
    return subprocess.run([sys.executable, "-m", "lab.netem", *args], capture_output=True,
                          text=True, timeout=20, check=False)


def test_cli_help_and_one_line_errors() -> None:
    """--help works; a bad flag and a port in use each give one line on stderr, no traceback."""
    assert run_cli("--help").returncode == 0
    bad = run_cli("--delay", "fast")
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = run_cli("--listen", str(taken.getsockname()[1]))
    assert busy.returncode == 1 and len(busy.stderr.splitlines()) == 1
    assert "Traceback" not in bad.stderr + busy.stderr


async def test_cli_relays_and_stops_on_ctrl_c(echo_up: Upstream) -> None:
    """The CLI prints its URL, relays bytes and exits 0 with a summary on SIGINT."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lab.netem", "--upstream", f"127.0.0.1:{echo_up.port}",
        "--delay", "1ms", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        async with asyncio.timeout(10):
            banner = (await proc.stdout.readline()).decode()  # type: ignore[union-attr]
            port = int(banner.split("http://127.0.0.1:")[1].split("/")[0])
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"hi")
            writer.write_eof()
            assert await reader.read() == b"hi"
            writer.close()
            await writer.wait_closed()
            proc.send_signal(signal.SIGINT)
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err
    assert b"1 connections, 2 B up, 2 B down" in out and not err
