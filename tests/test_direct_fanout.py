"""The engineered path's direct fan-out on real sockets: in order, nothing lost, back to the mailbox when full."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from lab.fast.fanout import DirectGroup, Outlet, SocketMailbox, link_socket, socket_fd
from lab.hub import Hub, Message, Topic
from lab.stats import TransportCounters
from tests.conftest import Lab
from tests.test_websocket_and_chat import next_text

PRICE = {"symbol": "ACME", "price": 101.25}
BIG = {**PRICE, "note": "x" * 3001}  # bigger than what a full 4 KB buffer has left: short writes


def line(message: Message) -> bytes:
    """The unit these tests write: an NDJSON line."""
    return message.json + b"\n"


class SocketBox(SocketMailbox):
    """A transport's socket mailbox that also counts the messages it wrote one by one."""

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__(100_000, None, Outlet(line, TransportCounters()), transport,
                         socket_fd(transport))
        self.one_by_one = 0
        link_socket(self)
        self.go_live()

    @property
    def direct(self) -> int:
        """Messages the topic's direct group wrote."""
        return self.outlet.counters.messages_sent - self.one_by_one

    def deliver_now(self, message: Message) -> bool:
        """Count what the mailbox wrote itself."""
        delivered = super().deliver_now(message)
        self.one_by_one += delivered
        return delivered


def is_direct(topic: Topic, box: SocketMailbox) -> bool:
    """Whether ``topic`` writes to ``box`` in its direct group."""
    return box in box.outlet.groups.get(topic, ())


@dataclass
class Pair:
    """A mailbox whose transport writes into ``peer``, which the test reads (or not)."""

    box: SocketBox
    transport: asyncio.Transport
    peer: socket.socket


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    """A loopback TCP connection with small buffers (so writes come up short), one end under an
    asyncio transport."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        peer = socket.socket()
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        peer.connect(listener.getsockname())
        ours, _ = listener.accept()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    peer.setblocking(False)
    transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, sock=ours)
    yield Pair(SocketBox(transport), transport, peer)  # type: ignore[arg-type]
    transport.close()
    peer.close()


async def read_exactly(peer: socket.socket, size: int) -> bytes:
    """Read ``size`` bytes from ``peer`` while the loop flushes the transport (5 s at most)."""
    loop = asyncio.get_running_loop()
    received = bytearray()
    async with asyncio.timeout(5):
        while len(received) < size:
            data = await loop.sock_recv(peer, size - len(received))
            assert data, "the peer saw the end of the stream"
            received += data
    return bytes(received)


async def test_a_socket_in_step_joins_the_direct_group_and_each_unit_goes_out_once(pair: Pair) -> None:
    """The first message goes one by one, the next ones straight from the topic, counted."""
    topic = Hub()["prices"]
    topic.attach(pair.box)
    sent = [topic.publish(PRICE) for _ in range(5)]
    assert pair.box.one_by_one == 1 and pair.box.direct == 4
    assert is_direct(topic, pair.box) and topic.subscriber_count == 1
    expected = b"".join(line(m) for m in sent)
    assert await read_exactly(pair.peer, len(expected)) == expected


@pytest.mark.parametrize(
    "data",
    [pytest.param(PRICE, id="refused-whole"), pytest.param(BIG, id="short-write")],
)
async def test_a_full_socket_falls_back_to_the_mailbox_without_loss_then_rejoins(
    pair: Pair, data: dict
) -> None:
    """A peer that stops reading: the direct write is refused or comes up short; the message (or
    its rest) and later ones go through the transport and the mailbox in order; once caught up,
    the socket is direct again."""
    topic = Hub()["prices"]
    topic.attach(pair.box)
    sent = [topic.publish(data)]
    while is_direct(topic, pair.box) and len(sent) < 10_000:  # bounded: the buffers are 4 KB
        sent.append(topic.publish(data))
    assert not is_direct(topic, pair.box), "the socket never filled up"
    sent += [topic.publish(data) for _ in range(20)]
    assert len(pair.box) > 0  # queued behind the unsent bytes

    expected = b"".join(line(m) for m in sent)
    reading = asyncio.ensure_future(read_exactly(pair.peer, len(expected)))
    drained = 0
    while batch := pair.box.take():  # the owner drains its mailbox as the peer reads
        for message in batch:
            pair.transport.write(line(message))
        drained += len(batch)
        await asyncio.sleep(0.01)
    assert await reading == expected
    assert pair.box.direct + pair.box.one_by_one + drained == len(sent)

    one_by_one = pair.box.one_by_one  # caught up: the next message rejoins, the one after is direct
    after = topic.publish(PRICE), topic.publish(PRICE)
    assert is_direct(topic, pair.box) and pair.box.one_by_one == one_by_one + 1
    tail = b"".join(line(m) for m in after)
    assert await read_exactly(pair.peer, len(tail)) == tail


async def test_unsent_bytes_in_the_transport_go_first(pair: Pair) -> None:
    """Bytes the transport could not send yet (aiohttp's own ping, say) keep the direct loop off
    the socket until they are out, so frames never interleave."""
    topic = Hub()["prices"]
    topic.attach(pair.box)
    first = topic.publish(PRICE)
    assert is_direct(topic, pair.box)
    blob = b"p" * 1_000_000
    pair.transport.write(blob)
    assert pair.transport.get_write_buffer_size()
    then = topic.publish(PRICE)
    assert pair.box.direct == 0 and pair.box.take() == [then]
    pair.transport.write(line(then))
    expected = line(first) + blob + line(then)
    assert await read_exactly(pair.peer, len(expected)) == expected


def test_a_direct_groups_descriptors_follow_its_members_in_ascending_order() -> None:
    """The packed descriptors the hot loop walks are rebuilt after every change, never stale,
    and sorted (about the order the kernel allocated the sockets in)."""
    outlet = Outlet(line, TransportCounters())
    group = DirectGroup(Hub()["prices"], outlet)
    first, second, third = (SocketMailbox(10, None, outlet, None, fd) for fd in (9, 7, 3))  # type: ignore[arg-type]
    group.add(first)
    group.add(second)
    assert list(group.fds) == [7, 9]
    group.remove(first)
    group.remove(first)
    assert list(group.fds) == [7] and first not in group and len(group) == 1
    first.fd = 11
    group.add(first)
    group.add(third)
    assert list(group.fds) == [3, 7, 11]


async def test_a_lost_connection_leaves_before_its_socket_closes(pair: Pair) -> None:
    """asyncio reports a closed connection lost before it closes the socket, whose descriptor
    may then be reused: the mailbox is out of the direct group by then, and the next message
    goes to the mailbox."""
    topic = Hub()["prices"]
    topic.attach(pair.box)
    topic.publish(PRICE)
    assert is_direct(topic, pair.box)
    sock = pair.transport.get_extra_info("socket")
    pair.transport.close()
    async with asyncio.timeout(5):
        while is_direct(topic, pair.box):
            await asyncio.sleep(0)
    async with asyncio.timeout(5):
        while sock.fileno() != -1:  # the socket closes after connection_lost
            await asyncio.sleep(0)
    topic.publish(PRICE)
    assert pair.box.direct == 0 and len(pair.box) == 1  # deliver_now declined: queued


async def test_the_guard_passes_every_event_on_to_the_sockets_own_protocol() -> None:
    """Linking puts a guard in front of the connection's protocol, which still hears its data,
    the end of input, writing paused and resumed, and the connection lost."""

    class Recorder(asyncio.Protocol):
        def __init__(self) -> None:
            self.events: list[str] = []

        def data_received(self, data: bytes) -> None:
            self.events.append(f"data {data.decode()}")

        def eof_received(self) -> bool:
            self.events.append("eof")
            return True

        def pause_writing(self) -> None:
            self.events.append("pause")

        def resume_writing(self) -> None:
            self.events.append("resume")

        def connection_lost(self, exc: Exception | None) -> None:
            self.events.append("lost")

    with socket.create_server(("127.0.0.1", 0)) as listener:
        peer = socket.create_connection(listener.getsockname())
        ours, _ = listener.accept()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    peer.setblocking(False)
    recorder = Recorder()
    transport, _ = await asyncio.get_running_loop().create_connection(lambda: recorder, sock=ours)
    box = SocketBox(transport)  # type: ignore[arg-type]
    assert transport.get_protocol() is not recorder  # the guard stands in front
    peer.send(b"hi")
    peer.shutdown(socket.SHUT_WR)
    transport.write(b"x" * 1_000_000)  # more than the kernel takes: unsent bytes wait
    await read_exactly(peer, 1_000_000)
    transport.close()
    async with asyncio.timeout(5):
        while "lost" not in recorder.events:
            await asyncio.sleep(0.01)
    events = recorder.events
    assert sorted(events) == ["data hi", "eof", "lost", "pause", "resume"]
    assert events.index("pause") < events.index("resume") and events[-1] == "lost"
    assert box.fd >= 0
    peer.close()


async def test_a_peer_that_reset_leaves_to_its_transport(pair: Pair) -> None:
    """A write to a reset connection fails: the message goes through the mailbox, the transport
    meets the same error and closes, and publishing goes on."""
    topic = Hub()["prices"]
    topic.attach(pair.box)
    topic.publish(PRICE)
    pair.peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    pair.peer.close()  # RST
    async with asyncio.timeout(5):
        while not pair.transport.is_closing():
            topic.publish(PRICE)
            await asyncio.sleep(0.01)
    assert not is_direct(topic, pair.box)
    topic.publish(PRICE)  # a closing transport is skipped, no error


@pytest.mark.parametrize(
    "close",
    [
        pytest.param(lambda ws: ws.send_bytes(b"\x00"), id="server-closes-1003"),
        pytest.param(lambda ws: ws.close(), id="client-closes"),
    ],
)
async def test_a_websocket_leaves_the_direct_fanout_before_its_close_frame(lab: Lab, close) -> None:
    """A socket written by the topic's direct loop leaves it at every close, so no data frame
    can follow the close frame (aiohttp's own close inside receive included)."""
    async with lab.session.ws_connect(f"{lab.base}/ws?topic=prices") as ws:
        lab.publish(2)
        assert [(await next_text(ws))["seq"] for _ in range(2)] == [1, 2]
        topic = lab.hub["prices"]
        [mailbox] = topic.subscribers()
        assert isinstance(mailbox, SocketMailbox) and is_direct(topic, mailbox)
        await close(ws)
        async with asyncio.timeout(5):
            while not ws.closed and (await ws.receive()).type is not aiohttp.WSMsgType.CLOSE:
                pass
    assert mailbox.is_closed and not is_direct(topic, mailbox)


async def test_close_and_detach_reach_direct_subscribers(pair: Pair) -> None:
    """The hub's shutdown closes direct mailboxes too, and a closed one leaves the topic."""
    hub = Hub()
    topic: Topic = hub["prices"]
    topic.attach(pair.box)
    topic.publish(PRICE)
    assert topic.subscribers() == [pair.box]
    hub.close("shutdown")
    assert pair.box.closed_reason == "shutdown"
    assert topic.subscriber_count == 0 and not is_direct(topic, pair.box)


def test_only_plain_stream_sockets_are_linked() -> None:
    """No link to a transport without a socket: its bytes would bypass whatever it wraps."""

    class NoSocket(asyncio.Transport):
        def is_closing(self) -> bool:
            return False

    assert socket_fd(NoSocket()) == -1
    assert socket_fd(None) == -1
