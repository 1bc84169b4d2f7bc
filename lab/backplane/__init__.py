"""The backplane: how a server's hub gets its messages, and where its publishes go.

Every lab process serves its clients from a hub of its own (:mod:`lab.hub`).
The backplane is the one seam that decides who *sequences* the messages in
that hub — who gives each its ``seq`` — and how the other processes learn of
them. The transports never see it: they read the hub, whichever backplane
feeds it.

Three implementations, one interface (:class:`Backplane`):

- :class:`~lab.backplane.inprocess.InProcess` (``python -m lab``): the hub
  sequences; the price feed and the chat room live in this process.
- :class:`~lab.backplane.workers.Worker` (``--workers N``, one machine): the
  primary process sequences; each worker's hub is a replica that ingests the
  primary's messages (seq, time and exact bytes) over a Unix socket, and chat
  goes to the primary's room.
- :class:`~lab.backplane.broker.Broker` (``--broker redis://…``, several
  machines): Redis sequences. One Lua script takes the next seq and appends
  the message's bytes to a capped stream atomically, so order holds whichever
  node publishes; every node's hub is a replica that reads the stream
  (``XREAD BLOCK``). One node runs the price feed, under a lock with a TTL.

``--workers N`` with ``--broker``: the workers use the broker *through their
primary*. The primary is the machine's one node on Redis (its hub a replica of
the stream, the feed lock, the chat identities); its workers replicate the
primary as without a broker. So Redis serves one reader per machine, not per
process, and the ``--workers`` path has one shape whatever sequences the
messages — at the cost of one more hop (Redis → primary → worker) on a
machine that runs workers.

What a backplane promises its clients: one ``seq`` order per topic; a resume
within the history that the sequencer keeps; anything lost reported as
``missed`` (:meth:`lab.hub.Topic.ingest` with ``after_loss``), never silent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from lab.chat.room import ChatService
from lab.feed import Tick
from lab.hub import Hub
from lab.settings import Settings

TickSource = Callable[[Mapping[str, float]], Iterator[Tick]]
"""The price feed's ticks, starting from the given last price per symbol (empty: from the
settings' start). A broker's new feed node continues from the prices last published."""

Counters = Callable[[], dict[str, Any]]
"""This process's counters per transport (:meth:`lab.stats.ServerStats.snapshot`)."""


class Backplane(Protocol):
    """Who sequences a process's messages, and how its hub follows them."""

    name: str
    """``in-process``, ``workers`` or ``redis`` (shown in ``/api/stats``)."""

    def chat_room(self, hub: Hub, settings: Settings) -> ChatService:
        """The chat room this process's chat requests go to (made once, before :meth:`run`)."""

    async def run(self, hub: Hub, ticks: TickSource, counters: Counters) -> None:
        """Keep ``hub`` fed until cancelled (run the feed, or follow the sequencer)."""

    async def counters(self, own: Counters) -> list[dict[str, Any]]:
        """Counter snapshots of every process that serves this port (one per process)."""

    def advertise(self, url: str) -> None:
        """Tell the other nodes where this one's page is, once it listens (a broker's)."""

    async def nodes(self) -> list[str]:
        """The page URLs of every live node of this lab (empty: this machine is the lab)."""
