"""The engineered path: what made the lab faster than a textbook aiohttp server.

``python -m lab`` serves with it; ``python -m lab --plain`` without it. Each
transport is written the textbook way in :mod:`lab.transports`; this package
changes *how* their bytes reach the sockets, never *which* bytes (a test feeds
both paths the same messages and compares what each client receives):

- :mod:`lab.fast.fanout` — the direct fan-out: a socket that keeps up gets
  each message's pre-built chunk or frame from one loop of ``os.write`` calls,
  with no task switch and no per-connection Python object touched;
- :mod:`lab.fast.front` — the front door: plain keep-alive poll and long-poll
  GETs are answered at the socket, without aiohttp's per-request machinery;
- :mod:`lab.fast.answers` and :mod:`lab.fast.held` — one pre-built response
  per question, and held long polls released in one pass.

It reaches the lab only through :class:`lab.delivery.Delivery` (the one seam)
and uses the transports' encoders and the hub's public interface.

What it relies on
-----------------
Behaviours of aiohttp and asyncio that are not promised by their documents,
each guarded by a test of the same name in ``tests/test_fast_relies_on.py``
(an aiohttp upgrade that changes one fails that test, by this name):

- ``chunked-write``: ``StreamResponse.write(data)`` on a chunked HTTP/1.1
  response hands exactly ``http_chunk(data)`` to the transport at once, with
  no buffer of aiohttp's in between — so direct writes and aiohttp's writes
  interleave in order.
- ``text-frame``: ``WebSocketResponse.send_frame(payload, TEXT)``, without
  compression, writes exactly :func:`lab.transports.websocket.encode_frame`.
- ``poll-head``: aiohttp's head for the textbook poll answer is
  :data:`lab.fast.answers.HEAD` (header order, ``Server`` value, ``Date``).
- ``close-goes-through-close``: every close frame aiohttp sends, including
  those it sends from inside ``receive()``, goes through
  ``WebSocketResponse.close()`` — where the textbook handler closes the
  mailbox, so no direct write follows a close frame.
- ``lost-before-closed``: asyncio calls ``connection_lost`` before it closes
  the socket, so a descriptor leaves its group before it can be reused.
- ``late-hand-over``: a ``RequestHandler`` made by aiohttp's ``web.Server``
  serves a connection handed to it after the front door read from it
  (``connection_made``, then ``data_received`` with the unanswered bytes),
  and keeps working when its transport's protocol is replaced by a guard
  that passes every callback on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from lab.delivery import Delivery, Unit
from lab.fast.answers import PollAnswers
from lab.fast.fanout import Outlet, SocketMailbox, link_socket, socket_fd
from lab.fast.front import FrontDoors
from lab.fast.held import HeldPolls
from lab.hub import Mailbox
from lab.mailbox import Owner
from lab.transports.common import HUB_KEY, SETTINGS_KEY, STATS_KEY


class FastDelivery(Delivery):
    """The engineered answers to the seam's questions (see the package docstring)."""

    name = "fast"

    def __init__(self, app: web.Application) -> None:
        super().__init__(app)
        self.answers = PollAnswers()
        self.held_polls = HeldPolls(self.answers)
        self.outlets: dict[str, Outlet] = {}
        self.front: FrontDoors | None = None

    def mailbox(self, request: web.Request, transport: str, unit: Unit, owner: Owner,
                maxsize: int) -> Mailbox:
        """A mailbox that writes ``unit`` of each message straight to the request's socket."""
        socket_transport = request.transport
        if socket_transport is None:  # the client already left
            return Mailbox(maxsize, owner)
        outlet = self.outlets.get(transport)
        if outlet is None:
            outlet = self.outlets[transport] = Outlet(unit, self.app[STATS_KEY][transport])
        mailbox = SocketMailbox(maxsize, owner, outlet, socket_transport,  # type: ignore[arg-type]
                                socket_fd(socket_transport))
        link_socket(mailbox)
        return mailbox

    def entrance(self, server: web.Server) -> Callable[[], asyncio.BaseProtocol]:
        """The front door: polls answered at the socket, the rest handed to ``server``."""
        app = self.app
        self.front = FrontDoors(server, app[HUB_KEY], app[SETTINGS_KEY], app[STATS_KEY],
                                self.answers, self.held_polls, self.admission)
        return self.front.door

    def shutdown(self) -> None:
        """Answer every held long poll now."""
        self.held_polls.close()

    def close(self) -> None:
        """Close every connection the front door still holds."""
        if self.front is not None:
            self.front.close()
