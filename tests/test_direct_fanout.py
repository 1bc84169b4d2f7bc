"""The hub's direct fan-out on real sockets: in order, nothing lost, back to the mailbox when full."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from lab.hub import DirectGroup, Hub, Mailbox, Message, Topic, Wire

PRICE = {"symbol": "ACME", "price": 101.25}
BIG = {**PRICE, "note": "x" * 3001}  # bigger than what a full 4 KB buffer has left: short writes


class SocketBox(Mailbox):
    """A mailbox on one socket, as a transport's: writes one by one while the socket keeps up."""

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__(maxsize=100_000)
        self.one_by_one = 0  # messages put → write_now wrote
        self.direct = 0  # messages the topic's direct loop said it wrote
        self.link_socket(Wire("ndjson", self.count_direct), transport)
        self.fast = True

    def count_direct(self, message: Message, unit: bytes, count: int) -> None:
        """The wire's tally."""
        self.direct += count

    def write_now(self, message: Message) -> bool:
        """Write unless closing or unsent bytes wait in the transport (then the message queues)."""
        transport = self.transport
        assert transport is not None
        if transport.is_closing() or transport.get_write_buffer_size():
            return False
        transport.write(message.frames.ndjson)
        self.one_by_one += 1
        return True


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
    assert topic.is_direct(pair.box) and topic.subscriber_count == 1
    expected = b"".join(m.frames.ndjson for m in sent)
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
    while topic.is_direct(pair.box) and len(sent) < 10_000:  # bounded: the buffers are 4 KB
        sent.append(topic.publish(data))
    assert not topic.is_direct(pair.box), "the socket never filled up"
    sent += [topic.publish(data) for _ in range(20)]
    assert len(pair.box) > 0  # queued behind the unsent bytes

    expected = b"".join(m.frames.ndjson for m in sent)
    reading = asyncio.ensure_future(read_exactly(pair.peer, len(expected)))
    drained = 0
    while batch := pair.box.take():  # the owner drains its mailbox as the peer reads
        for message in batch:
            pair.transport.write(message.frames.ndjson)
        drained += len(batch)
        await asyncio.sleep(0.01)
    assert await reading == expected
    assert pair.box.direct + pair.box.one_by_one + drained == len(sent)

    one_by_one = pair.box.one_by_one  # caught up: the next message rejoins, the one after is direct
    after = topic.publish(PRICE), topic.publish(PRICE)
    assert topic.is_direct(pair.box) and pair.box.one_by_one == one_by_one + 1
    tail = b"".join(m.frames.ndjson for m in after)
    assert await read_exactly(pair.peer, len(tail)) == tail


async def test_unsent_bytes_in_the_transport_go_first(pair: Pair) -> None:
    """Bytes the transport could not send yet (aiohttp's own ping, say) keep the direct loop off
    the socket until they are out, so frames never interleave."""
    topic = Hub()["prices"]
    topic.attach(pair.box)
    first = topic.publish(PRICE)
    assert topic.is_direct(pair.box)
    blob = b"p" * 1_000_000
    pair.transport.write(blob)
    assert pair.transport.get_write_buffer_size()
    then = topic.publish(PRICE)
    assert pair.box.direct == 0 and pair.box.take() == [then]
    pair.transport.write(then.frames.ndjson)
    expected = first.frames.ndjson + blob + then.frames.ndjson
    assert await read_exactly(pair.peer, len(expected)) == expected


def test_a_direct_groups_descriptors_follow_its_members_in_ascending_order() -> None:
    """The packed descriptors the hot loop walks are rebuilt after every change, never stale,
    and sorted (about the order the kernel allocated the sockets in)."""
    group = DirectGroup()
    first, second, third = Mailbox(), Mailbox(), Mailbox()
    group.add(first, 9)
    group.add(second, 7)
    assert list(group.fds) == [7, 9]
    assert group.discard(first) and not group.discard(first)
    assert list(group.fds) == [7] and first not in group and len(group) == 1
    group.add(first, 11)
    group.add(third, 3)
    assert list(group.fds) == [3, 7, 11]
    assert group.by_fd() == {3: third, 7: second, 11: first}


async def test_a_lost_connection_leaves_before_its_socket_closes(pair: Pair) -> None:
    """asyncio reports a closed connection lost before it closes the socket, whose descriptor
    may then be reused: the mailbox is out of the direct group by then, and the next message
    goes to the mailbox."""
    topic = Hub()["prices"]
    topic.attach(pair.box)
    topic.publish(PRICE)
    assert topic.is_direct(pair.box)
    sock = pair.transport.get_extra_info("socket")
    pair.transport.close()
    async with asyncio.timeout(5):
        while topic.is_direct(pair.box):
            await asyncio.sleep(0)
    async with asyncio.timeout(5):
        while sock.fileno() != -1:  # the socket closes after connection_lost
            await asyncio.sleep(0)
    topic.publish(PRICE)
    assert pair.box.direct == 0 and len(pair.box) == 1  # write_now declined: queued


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
    assert box.wire is not None
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
    assert not topic.is_direct(pair.box)
    topic.publish(PRICE)  # a closing transport is skipped, no error


async def test_unlink_ends_direct_writes_for_good(pair: Pair) -> None:
    """After ``unlink`` (a close frame or the last chunk is next) every message goes one by one."""
    topic = Hub()["prices"]
    topic.attach(pair.box)
    topic.publish(PRICE)
    pair.box.unlink()
    for _ in range(3):
        topic.publish(PRICE)
    assert pair.box.one_by_one == 4 and pair.box.direct == 0
    assert not topic.is_direct(pair.box)


async def test_close_and_detach_reach_direct_subscribers(pair: Pair) -> None:
    """The hub's shutdown closes direct mailboxes too, and a closed one leaves the topic."""
    hub = Hub()
    topic: Topic = hub["prices"]
    topic.attach(pair.box)
    topic.publish(PRICE)
    assert topic.subscribers() == [pair.box]
    hub.close("shutdown")
    assert pair.box.closed_reason == "shutdown"
    assert topic.subscriber_count == 0 and not topic.is_direct(pair.box)


def test_only_plain_stream_sockets_are_linked() -> None:
    """No link to a transport without a socket: its bytes would bypass whatever it wraps."""

    class NoSocket(asyncio.Transport):
        def is_closing(self) -> bool:
            return False

    box = Mailbox()
    box.link_socket(Wire("ws", lambda *_: None), NoSocket())
    assert box.wire is None
    box.link_socket(Wire("ws", lambda *_: None), None)
    assert box.wire is None
