"""The direct fan-out: one loop writes each message's bytes to every socket that keeps up.

A subscriber that keeps up costs one ``write`` on its socket per message and
nothing else. Its mailbox (:class:`SocketMailbox`) writes a message straight
to the socket when it is idle (nothing queued, nothing unsent), and then hands
itself to its topic's :class:`DirectGroup` (:meth:`lab.hub.Topic.hand_to`).
The group writes the transport's bytes for each message — the very bytes the
textbook handler would have written: an HTTP chunk, a WebSocket frame — to all
its members in one loop of ``os.write`` calls on the sockets' descriptors, with
no check per write, and counts the group's writes once.

Two rules keep that safe, and both are enforced when something happens, not at
every write (touching each connection's transport object on every send cost
about a tenth of a fan-out at 5,000 sockets): a mailbox leaves its groups the
moment its transport holds unsent bytes, so the stream's bytes stay in order,
and when the connection is lost, which asyncio reports before it closes the
socket, so a descriptor is never written after it could be reused
(:class:`DirectGuard`). A socket that cannot take the whole unit leaves the
group at once: the unsent rest goes to its transport, or the message to its
mailbox, and the mailbox's bound and slow-consumer policy apply as always
until it is back in step.
"""

from __future__ import annotations

import asyncio
import os
import socket
from array import array

from lab.delivery import Unit
from lab.mailbox import Mailbox, Owner, TopicView
from lab.message import Message
from lab.stats import TransportCounters


class Outlet:
    """One transport's part in the direct fan-out: the bytes each message becomes, its counters
    and its group in each topic. The bytes are built once per message, for all sockets."""

    __slots__ = ("_last", "_unit", "counters", "encode", "groups")

    def __init__(self, encode: Unit, counters: TransportCounters) -> None:
        self.encode = encode
        self.counters = counters
        self.groups: dict[TopicView, DirectGroup] = {}
        self._last: Message | None = None
        self._unit = b""

    def unit(self, message: Message) -> bytes:
        """``message`` on the socket (built on the first call for each new message)."""
        if message is not self._last:
            self._last, self._unit = message, self.encode(message)
        return self._unit

    def group(self, topic: TopicView) -> DirectGroup:
        """This outlet's direct group in ``topic``."""
        group = self.groups.get(topic)
        if group is None:
            group = self.groups[topic] = DirectGroup(topic, self)
        return group


class SocketMailbox(Mailbox):
    """A mailbox that writes its connection's messages straight to the socket while it keeps up."""

    __slots__ = ("fd", "outlet", "transport")

    def __init__(self, maxsize: int, owner: Owner, outlet: Outlet, transport: asyncio.Transport,
                 fd: int) -> None:
        super().__init__(maxsize, owner)
        self.outlet = outlet
        self.transport = transport
        self.fd = fd  # -1: not a plain socket, so never in a direct group

    def deliver_now(self, message: Message) -> bool:
        """Write the message's unit now, unless unsent bytes wait; then join the direct group."""
        transport = self.transport
        if transport.is_closing() or transport.get_write_buffer_size():
            return False
        outlet = self.outlet
        unit = outlet.unit(message)
        transport.write(unit)
        outlet.counters.add_sent(message, unit, 1)
        if self.fd >= 0 and not transport.get_write_buffer_size() and not transport.is_closing():
            for topic in self.topics:
                if topic.name == message.topic:
                    topic.hand_to(self, outlet.group(topic))
        return True

    def step_out(self) -> None:
        """Leave every direct group until back in step (no error if in none)."""
        for topic in self.topics:
            topic.take_back(self)


class DirectGroup:
    """The sockets of one outlet that one topic writes to directly (a :class:`lab.hub.Group`).

    The hot loop walks :attr:`fds`, the descriptors packed in one array, and
    touches no per-connection Python object: at thousands of sockets, each
    such object is a cache (and often a TLB) miss of its own. The descriptors
    are in ascending order, which is about the order the kernel accepted the
    connections and allocated their socket structures in, so each send finds
    its neighbour's kernel memory close by (a send cost 6–8 % less than in
    the order mailboxes joined, in paired runs at 5,000 sockets). The array
    is rebuilt at the first fan-out after the members change, which happens
    as clients come and go, not per message.
    """

    __slots__ = ("_fds", "members", "outlet", "topic")

    def __init__(self, topic: TopicView, outlet: Outlet) -> None:
        self.topic = topic
        self.outlet = outlet
        self.members: dict[SocketMailbox, int] = {}  # mailbox → its socket's descriptor
        self._fds: array[int] | None = None

    def __len__(self) -> int:
        return len(self.members)

    def __contains__(self, mailbox: object) -> bool:
        return mailbox in self.members

    def add(self, mailbox: Mailbox) -> None:
        """Write to ``mailbox``'s socket from the next message on."""
        assert isinstance(mailbox, SocketMailbox)
        self.members[mailbox] = mailbox.fd
        self._fds = None

    def remove(self, mailbox: Mailbox) -> None:
        """Stop writing to ``mailbox``'s socket."""
        if self.members.pop(mailbox, None) is not None:  # type: ignore[call-overload]
            self._fds = None

    @property
    def fds(self) -> array[int]:
        """Every member's descriptor, in ascending order, in one packed array."""
        if self._fds is None:
            self._fds = array("i", sorted(self.members.values()))
        return self._fds

    def deliver(self, message: Message) -> None:
        """Write the outlet's unit of ``message`` to every member's socket: the hot loop."""
        if not self.members:
            return
        unit = self.outlet.unit(message)
        size = len(unit)
        write = os.write
        behind: list[tuple[int, int]] = []
        # No check per write: DirectGuard takes a socket out of the group before it could
        # hold unsent bytes or be closed.
        for fd in self.fds:
            try:
                written = write(fd, unit)
            except OSError:  # full (EAGAIN), or a dead peer that the transport will report
                written = 0
            if written != size:
                behind.append((fd, written))
        took = len(self.members) - sum(1 for _, written in behind if not written)
        self.outlet.counters.add_sent(message, unit, took)
        if behind:
            self._fall_back(message, unit, behind)

    def _fall_back(self, message: Message, unit: bytes, behind: list[tuple[int, int]]) -> None:
        """The sockets that did not take the whole unit go back to their mailboxes."""
        by_fd = {fd: mailbox for mailbox, fd in self.members.items()}
        for fd, written in behind:
            mailbox = by_fd[fd]
            self.topic.take_back(mailbox)
            if written:
                mailbox.transport.write(unit[written:])  # the rest, first
            else:
                mailbox.put(message)


def socket_fd(transport: asyncio.BaseTransport | None) -> int:
    """``transport``'s socket descriptor, or -1 when writing to it would bypass something (TLS,
    a pipe, a test double), the transport is already closing, or its protocol is not a plain
    :class:`asyncio.Protocol` (which :class:`DirectGuard` must stand in for)."""
    if transport is None or transport.is_closing():
        return -1
    sock = transport.get_extra_info("socket")
    if sock is None or sock.type != socket.SOCK_STREAM or transport.get_extra_info("sslcontext"):
        return -1
    protocol = transport.get_protocol()
    if not isinstance(protocol, asyncio.Protocol) or isinstance(protocol, asyncio.BufferedProtocol):
        return -1
    return int(sock.fileno())


class DirectGuard(asyncio.Protocol):
    """Stands between a linked socket's transport and its own protocol, passing everything on.

    It takes the mailbox out of the direct fan-out at the two moments a
    direct write would go wrong: when the transport starts holding unsent
    bytes (``pause_writing``, which a write-buffer high-water mark of 0 makes
    asyncio call at the first such byte) and when the connection is lost
    (asyncio closes the socket only after ``connection_lost``).
    """

    __slots__ = ("inner", "mailbox")

    def __init__(self, inner: asyncio.Protocol, mailbox: SocketMailbox) -> None:
        self.inner = inner
        self.mailbox = mailbox

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Passed on."""
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        """Passed on."""
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        """Passed on."""
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        """Unsent bytes wait in the transport: no direct write until they are out."""
        self.mailbox.step_out()
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        """Passed on (the mailbox steps back in at its next direct write)."""
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket is about to close: out of the direct fan-out first."""
        self.mailbox.step_out()
        self.inner.connection_lost(exc)


def link_socket(mailbox: SocketMailbox) -> None:
    """Guard ``mailbox``'s socket so that the direct fan-out may write to it (a socket that is
    not plain, see :func:`socket_fd`, is left as it is and never joins a group)."""
    transport = mailbox.transport
    if mailbox.fd >= 0:
        guard = DirectGuard(transport.get_protocol(), mailbox)  # type: ignore[arg-type]
        transport.set_protocol(guard)
        transport.set_write_buffer_limits(high=0)  # the first unsent byte pauses writing
