"""The textbook and the engineered lab put the same bytes on the wire.

Both servers are fed the same messages (same seq, same ``t_us``), one at a
time, each once the client has it, and a raw socket records every byte each
client receives: the response heads and every chunk, event, frame and poll
body. Only the ``Date`` header's value is masked (the two answers may fall in
different seconds).
"""

from __future__ import annotations

import asyncio
import re

import pytest

from clients.deflate import Inflater
from clients.websocket import FrameParser
from lab.contract import PATHS, PUSH_TRANSPORTS, TRANSPORTS
from lab.hub import Message
from tests.conftest import QUIET, Lab
from tests.rawhttp import held, read_answer

MESSAGES = 6
CALM = QUIET.replace(heartbeat=60.0)  # no heartbeat may fall between two messages
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's example key


def message(seq: int) -> Message:
    """The ``seq``-th price, the same for both servers."""
    return Message.build("prices", seq, 1_764_160_000_000_000 + seq, {"symbol": "ACME",
                                                                     "price": 100 + seq / 4})


def request(transport: str, query: str, version: str = "1.1") -> bytes:
    """The request a raw client sends (the same to both servers)."""
    upgrade = (f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {WS_KEY}\r\n"
               "Sec-WebSocket-Version: 13\r\n" if transport == "websocket" else "")
    return f"GET {PATHS[transport]}?{query} HTTP/{version}\r\nHost: lab\r\n{upgrade}\r\n".encode()


def tail(transport: str, sent: Message, version: str = "1.1") -> bytes:
    """How the bytes of ``sent`` end on ``transport``'s wire (what the reader waits for):
    in a chunk over HTTP/1.1, bare over HTTP/1.0 (which has no chunked encoding)."""
    chunk_end = b"\r\n" if version == "1.1" else b""
    return {"stream": sent.json + b"\n" + chunk_end, "sse": sent.json + b"\n\n" + chunk_end,
            "websocket": sent.json}[transport]


async def read_until(reader: asyncio.StreamReader, received: bytearray, end: bytes) -> None:
    """Read into ``received`` until it ends with ``end`` (5 s at most)."""
    async with asyncio.timeout(5):
        while not received.endswith(end):
            data = await reader.read(65536)
            assert data, "the server closed the connection"
            received += data


async def push_bytes(lab: Lab, transport: str, version: str = "1.1") -> bytes:
    """Everything a push client receives while the messages are published one by one."""
    reader, writer = await asyncio.open_connection(lab.host, lab.port)
    writer.write(request(transport, "topic=prices", version))
    received = bytearray()
    await read_until(reader, received, b"\r\n\r\n")  # the response head
    topic = lab.hub["prices"]
    async with asyncio.timeout(5):
        while topic.subscriber_count != 1:
            await asyncio.sleep(0.005)
    for seq in range(1, MESSAGES + 1):
        sent = message(seq)
        topic.ingest(sent)
        await read_until(reader, received, tail(transport, sent, version))
    writer.close()
    return bytes(received)


async def poll_bytes(lab: Lab, transport: str) -> bytes:
    """Every answer a poller (or long poller) receives: held, released, buffered, latest."""
    reader, writer = await asyncio.open_connection(lab.host, lab.port)
    topic = lab.hub["prices"]
    received = b""

    async def ask(query: str) -> None:
        nonlocal received
        writer.write(request(transport, query))
        head, _, body = await read_answer(reader)
        received += head + body

    if transport == "longpoll":
        for seq in (1, 2):  # held, then released by one publish
            writer.write(request(transport, f"since={seq - 1}"))
            await held(lab, 1)
            topic.ingest(message(seq))
            head, _, body = await read_answer(reader)
            received += head + body
    for seq in range(topic.head + 1, MESSAGES + 1):
        topic.ingest(message(seq))
    await ask("since=2")  # buffered: answered at once, several messages in one body
    if transport == "poll":
        await ask("topic=prices")  # the latest per symbol
    writer.close()
    return received


def masked(data: bytes) -> bytes:
    """``data`` with every ``Date`` header's value replaced."""
    return re.sub(rb"\r\nDate: [^\r]*\r\n", b"\r\nDate: -\r\n", data)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_plain_and_fast_send_the_same_bytes(make_lab, transport: str) -> None:
    """A client of either server receives, byte for byte, the same heads, bodies and framing."""
    recorded = {}
    for serving in ("plain", "fast"):
        lab = await make_lab(CALM.replace(plain=serving == "plain"))
        read = push_bytes if transport in PUSH_TRANSPORTS and transport != "longpoll" else poll_bytes
        recorded[serving] = masked(await read(lab, transport))
    assert recorded["plain"] == recorded["fast"]
    assert all(message(seq).json in recorded["fast"] for seq in range(3, MESSAGES + 1))


@pytest.mark.parametrize("transport", ["stream", "sse"])
async def test_plain_and_fast_stream_alike_to_http10(make_lab, transport: str) -> None:
    """An HTTP/1.0 client (nginx's default upstream protocol) gets a stream without chunk
    framing, the same bytes from either server."""
    recorded = {}
    for serving in ("plain", "fast"):
        lab = await make_lab(CALM.replace(plain=serving == "plain"))
        recorded[serving] = masked(await push_bytes(lab, transport, "1.0"))
    assert b"Transfer-Encoding" not in recorded["plain"]
    assert recorded["plain"] == recorded["fast"]


async def deflated_ws_bytes(lab: Lab) -> bytes:
    """Everything a WebSocket client that offered permessage-deflate receives while the
    messages are published one by one (each waited for as one whole frame)."""
    reader, writer = await asyncio.open_connection(lab.host, lab.port)
    writer.write(request("websocket", "topic=prices").replace(
        b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"))
    received = bytearray()
    await read_until(reader, received, b"\r\n\r\n")
    parser = FrameParser()
    parser.deflate = True
    parser.feed(bytes(received.partition(b"\r\n\r\n")[2]))
    topic = lab.hub["prices"]
    async with asyncio.timeout(5):
        while topic.subscriber_count != 1:
            await asyncio.sleep(0.005)
        for seq in range(1, MESSAGES + 1):
            topic.ingest(message(seq))
            while not (frames := parser.feed(data := await reader.read(65536))):
                assert data, "the server closed the connection"
                received += data
            received += data
            assert [f.compressed for f in frames] == [True]
    writer.close()
    return bytes(received)


async def test_plain_and_fast_deflate_websocket_alike(make_lab) -> None:
    """With --ws-compress a socket that offered permessage-deflate gets the textbook's
    mailbox in both modes: the same deflated frames (RSV1 set), inflating to the messages."""
    recorded = {}
    for serving in ("plain", "fast"):
        lab = await make_lab(CALM.replace(plain=serving == "plain", ws_compress=True))
        recorded[serving] = masked(await deflated_ws_bytes(lab))
    assert b"Sec-WebSocket-Extensions: permessage-deflate" in recorded["plain"]
    assert recorded["plain"] == recorded["fast"]
    inflater = Inflater(15, takeover=True)
    frames = FrameParser()
    frames.deflate = True
    payloads = [inflater.inflate(f.payload)
                for f in frames.feed(recorded["plain"].partition(b"\r\n\r\n")[2])]
    assert payloads == [message(seq).json for seq in range(1, MESSAGES + 1)]
