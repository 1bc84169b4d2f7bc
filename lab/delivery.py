"""The one seam between the textbook lab and its engineered path.

Every transport handler is written the textbook way: it owns a mailbox, takes
what the hub queued in it and writes it with aiohttp. Two questions decide how
fast that is, and :class:`Delivery` is where they are asked:

- **Which mailbox does a live connection get?** The textbook answer is a plain
  :class:`~lab.mailbox.Mailbox`: every message is queued and the handler wakes
  to write it. The engineered answer (:mod:`lab.fast`) is a mailbox that writes
  the message's bytes — exactly those the handler would have written — straight
  to the socket while it keeps up.
- **What does an accepted connection enter by?** The textbook answer is
  aiohttp's own protocol. The engineered answer is a front door that answers
  plain polls at the socket. Both first admit the connection, or refuse it,
  by its client address (:class:`lab.admission.Admission`, one per server).

``python -m lab --plain`` serves with this class as it is; the default serves
with :class:`lab.fast.FastDelivery`. Both must put the same bytes on the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from lab.admission import Admission, Gate
from lab.hub import Mailbox, Message
from lab.mailbox import Owner
from lab.transports.common import SETTINGS_KEY

Unit = Callable[[Message], bytes]
"""The bytes one message becomes on a connection's socket (a chunk, a frame)."""


class Delivery:
    """The textbook answers; :mod:`lab.fast` overrides each one."""

    name = "plain"
    """How the lab serves, as ``/api/stats`` reports it (``plain`` or ``fast``)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        settings = app[SETTINGS_KEY]
        self.admission = Admission(settings.max_connections_per_ip,
                                   settings.max_loopback_connections)

    def mailbox(self, request: web.Request, transport: str, unit: Unit, owner: Owner,
                maxsize: int) -> Mailbox:
        """The mailbox of a live connection of ``transport``: here, a plain one. ``unit`` is
        what the handler writes to the socket for one message."""
        return Mailbox(maxsize, owner)

    def entrance(self, server: web.Server) -> Callable[[], asyncio.BaseProtocol]:
        """The protocol factory accepted connections start with: here, aiohttp's own, behind
        the per-address cap (when there is one)."""
        if not self.admission.caps_anything:
            return server
        return lambda: Gate(self.admission, server)

    def shutdown(self) -> None:
        """Answer whatever the engineered path holds (called as the app shuts down)."""

    def close(self) -> None:
        """Close whatever connections the engineered path still holds (after the app's cleanup)."""


DELIVERY_KEY = web.AppKey("delivery", Delivery)
