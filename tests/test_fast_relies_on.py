"""What the engineered path relies on in aiohttp and asyncio, one test per behaviour.

The names are those of ``lab.fast``'s docstring ("What it relies on"); an
upgrade that changes one of these behaviours fails here, by that name, before
it can corrupt a stream on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import WSMsgType, web

import lab.fast
from lab.fast.answers import HEAD
from lab.settings import Settings
from lab.transports.streaming import http_chunk
from lab.transports.websocket import encode_frame
from tests.conftest import QUIET, Lab
from tests.rawhttp import read_answer
from tests.test_same_bytes import read_until, request

RELIED_ON = re.findall(r"^- ``([a-z-]+)``:", lab.fast.__doc__ or "", re.MULTILINE)


@contextlib.contextmanager
def relied_on(name: str) -> Iterator[None]:
    """Turn a failed check into a failure that names the behaviour lab.fast relies on."""
    assert name in RELIED_ON, f"{name!r} is not listed in lab.fast's docstring"
    try:
        yield
    except (AssertionError, TimeoutError) as exc:
        pytest.fail(f"aiohttp/asyncio changed what lab.fast relies on: {name!r} ({exc!r})")


def test_every_behaviour_relied_on_has_its_test() -> None:
    """The docstring's list and this module's tests name the same behaviours."""
    tested = {name.removeprefix("test_").replace("_", "-") for name in globals()
              if name.startswith("test_") and name != "test_every_behaviour_relied_on_has_its_test"}
    assert RELIED_ON and set(RELIED_ON) == tested


@contextlib.asynccontextmanager
async def serving(handler: Any) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A bare aiohttp app with one route ``/`` and a raw connection to it."""
    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.SockSite(runner, socket.create_server(("127.0.0.1", 0)))
    await site.start()
    port = runner.addresses[0][1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        await runner.cleanup()


async def test_chunked_write() -> None:
    """``response.write(data)`` on a stream puts ``http_chunk(data)`` on the transport at once:
    a raw write right after it follows it on the wire."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"first")
        request.transport.write(http_chunk(b"raw"))  # type: ignore[union-attr]
        await response.write(b"last")
        await response.write_eof()
        return response

    with relied_on("chunked-write"):
        async with serving(handler) as (reader, writer):
            writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            received = bytearray()
            await read_until(reader, received, b"0\r\n\r\n")
        body = bytes(received).split(b"\r\n\r\n", 1)[1]
        assert body == http_chunk(b"first") + http_chunk(b"raw") + http_chunk(b"last") + b"0\r\n\r\n"


async def test_text_frame() -> None:
    """``send_frame(payload, TEXT)`` without compression writes ``encode_frame(payload)``."""
    payloads = [b"x" * 5, b"y" * 300, b"z" * 70_000]

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        for payload in payloads:
            await ws.send_frame(payload, WSMsgType.TEXT)
        await ws.receive()
        return ws

    with relied_on("text-frame"):
        async with serving(handler) as (reader, writer):
            writer.write(request("websocket", "").replace(b"/ws?", b"/?"))
            received = bytearray()
            await read_until(reader, received, payloads[-1])
        frames = bytes(received).split(b"\r\n\r\n", 1)[1]
        assert frames == b"".join(map(encode_frame, payloads))


async def test_poll_head(make_lab) -> None:
    """The textbook poll answer's head is the one the front door pre-builds."""
    lab: Lab = await make_lab(QUIET.replace(plain=True))
    lab.publish(1)
    reader, writer = await asyncio.open_connection(lab.host, lab.port)
    writer.write(request("poll", "since=0"))
    head, headers, body = await read_answer(reader)
    writer.close()
    with relied_on("poll-head"):
        assert head == HEAD % (len(body), headers["date"].encode())


async def test_close_goes_through_close() -> None:
    """A client's close frame and a protocol error both make aiohttp call ``close()``."""
    calls: list[dict[str, Any]] = []

    class Recording(web.WebSocketResponse):
        async def close(self, **kwargs: Any) -> bool:
            calls.append(kwargs)
            return await super().close(**kwargs)

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = Recording()
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    with relied_on("close-goes-through-close"):
        for frame in (b"\x88\x82abcd" + bytes(a ^ b for a, b in zip(b"\x03\xe8", b"ab")),  # close
                      b"\x83\x80abcd"):  # opcode 3 is reserved: a protocol error
            calls.clear()
            async with serving(handler) as (reader, writer):
                writer.write(request("websocket", "").replace(b"/ws?", b"/?"))
                received = bytearray()
                await read_until(reader, received, b"\r\n\r\n")
                writer.write(frame)
                async with asyncio.timeout(5):
                    while (data := await reader.read(1024)):
                        received += data
            assert calls, f"aiohttp closed without close() after {frame!r}"


async def test_lost_before_closed() -> None:
    """asyncio calls ``connection_lost`` while the socket is still open."""
    seen: list[int] = []

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def connection_lost(self, exc: Exception | None) -> None:
            seen.append(self.transport.get_extra_info("socket").fileno())

    with socket.create_server(("127.0.0.1", 0)) as listener:
        peer = socket.create_connection(listener.getsockname())
        ours, _ = listener.accept()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(Protocol, sock=ours)
    transport.close()
    with relied_on("lost-before-closed"):
        async with asyncio.timeout(5):
            while not seen:
                await asyncio.sleep(0.001)
        assert seen[0] >= 0
    peer.close()


async def test_late_hand_over(make_lab) -> None:
    """aiohttp serves a connection the front door read from first, and a WebSocket whose
    transport's protocol was replaced by the direct fan-out's guard."""
    lab: Lab = await make_lab(Settings(rate=QUIET.rate, steady=True))
    reader, writer = await asyncio.open_connection(lab.host, lab.port)
    writer.write(request("poll", "since=0") + b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    with relied_on("late-hand-over"):
        await read_answer(reader)  # the poll, at the front door
        head, _, body = await read_answer(reader)  # handed to aiohttp
        assert head.startswith(b"HTTP/1.1 200") and body == b'{"status":"ok"}'
        writer.write(request("websocket", "topic=prices"))
        received = bytearray()
        await read_until(reader, received, b"\r\n\r\n")
        lab.publish(2)
        await read_until(reader, received, lab.hub["prices"].since(1).messages[0].json)
    writer.close()
