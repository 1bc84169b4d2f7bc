"""The workers backplane: a worker's line to its primary, for ``python -m lab --workers N``.

The primary process (:mod:`lab.cluster`) sequences; each worker is a replica.

Link protocol, one line per item: ``M<message JSON>`` is a published message
(primary → worker); any other line is a JSON object — from a worker
``{"op": "ready"}``, ``{"op": "chat", "id", "action", "args"}`` (a call of
the room's method ``action``: ``join``, ``leave``, ``say``, ``hold``; ``release``
goes without an ``id`` and gets no reply), ``{"op": "stats", "id"}`` or
``{"op": "nodes", "id"}``; from the primary ``{"id", "result"}``,
``{"id", "nodes"}`` or ``{"id", "error", "kind"}`` (see
:func:`lab.chat.errors.to_wire`) replies and ``{"op": "snapshot", "id"}``
requests that a worker answers with
``{"op": "snapshot", "id", "stats"}``.

A worker's hub follows the primary's (:func:`follow_primary`): every message is
ingested with the primary's seq, time and bytes. Chat goes to the primary's
room (:class:`RemoteChatRoom`), which owns the identities, the presence and the
post limits (so a token works on every worker). :class:`Worker` is this side
as a :class:`lab.backplane.Backplane`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import orjson

from lab.backplane import Counters, TickSource
from lab.chat.errors import from_wire
from lab.chat.room import ChatService, Joined
from lab.hub import Hub, Message
from lab.settings import Settings


class Link:
    """One end of the primary–worker connection: line framing and request/reply ids."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}

    def send(self, item: dict[str, Any]) -> None:
        """Queue one control line (never blocks; the peer is a local process)."""
        self.writer.write(orjson.dumps(item) + b"\n")

    def send_message(self, message: Message) -> None:
        """Queue one published message."""
        self.writer.write(b"M" + message.json + b"\n")

    async def request(self, item: dict[str, Any]) -> dict[str, Any]:
        """Send a request and wait for the reply with the same id."""
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        self.send({**item, "id": ident})
        try:
            return await asyncio.wait_for(future, 5.0)
        finally:
            self._pending.pop(ident, None)

    def resolve(self, reply: dict[str, Any]) -> bool:
        """Complete a pending request; False if ``reply`` answers none."""
        future = self._pending.get(reply.get("id", 0))
        if future is None or future.done() or "op" in reply:
            return False
        future.set_result(reply)
        return True

    async def lines(self) -> AsyncIterator[bytes]:
        """Each received line, until the peer goes away."""
        while line := await self.reader.readline():
            yield line.rstrip(b"\n")


# ---------------------------------------------------------------- worker side


class RemoteChatRoom:
    """The chat room as seen from a worker: every change is made by the primary."""

    def __init__(self, link: Link, hub: Hub) -> None:
        self.link = link
        self.hub = hub

    @property
    def online(self) -> int:
        """The online count of the newest chat event this worker has seen."""
        latest = self.hub["chat"].latest()
        return int(latest[-1].data.get("online", 0)) if latest else 0

    async def _act(self, action: str, *args: Any) -> Any:
        reply = await self.link.request({"op": "chat", "action": action, "args": args})
        if "error" in reply:
            raise from_wire(reply)
        return reply.get("result")

    async def join(self, user: Any, held: bool = False) -> Joined:
        """Join through the primary."""
        token, message = await self._act("join", user, held)
        return Joined(token, Message.from_json(message.encode()))

    async def leave(self, token: str) -> Message:
        """Leave through the primary."""
        return Message.from_json((await self._act("leave", token)).encode())

    async def say(self, token: str, text: Any, user: Any = None, address: str | None = None
                  ) -> Message:
        """Say through the primary."""
        return Message.from_json((await self._act("say", token, text, user, address)).encode())

    async def hold(self, token: str) -> None:
        """Hold through the primary (an unknown token is refused there)."""
        await self._act("hold", token)

    async def release(self, token: str) -> None:
        """Release through the primary, without waiting for it."""
        self.link.send({"op": "chat", "action": "release", "args": [token]})


async def follow_primary(link: Link, hub: Hub, snapshot: Counters) -> None:
    """Ingest the primary's messages and answer its requests until the link closes."""
    async for line in link.lines():
        if line.startswith(b"M"):
            message = Message.from_json(line[1:])
            # A jump is the primary's own (its broker lost messages): passed on as loss.
            hub[message.topic].ingest(message, after_loss=True)
            continue
        item = orjson.loads(line)
        if item.get("op") == "snapshot":
            link.send({"op": "snapshot", "id": item["id"], "stats": snapshot()})
        else:
            link.resolve(item)


class Worker:
    """A worker process's backplane: the primary sequences (see :mod:`lab.backplane`)."""

    name = "workers"

    def __init__(self, link: Link) -> None:
        self.link = link

    def chat_room(self, hub: Hub, settings: Settings) -> ChatService:
        """The primary's room, through the link (its limits are the primary's)."""
        return RemoteChatRoom(self.link, hub)

    async def run(self, hub: Hub, ticks: TickSource, counters: Counters) -> None:
        """Mirror the primary's hub until the link closes (the primary runs the feed)."""
        await follow_primary(self.link, hub, counters)

    async def counters(self, own: Counters) -> list[dict[str, Any]]:
        """Every worker's counters, gathered by the primary."""
        reply = await self.link.request({"op": "stats"})
        return list(reply["stats"])


    def advertise(self, url: str) -> None:
        """The primary advertises the machine (all workers share its port)."""

    async def nodes(self) -> list[str]:
        """The primary's answer: the live nodes of its broker, if it has one."""
        reply = await self.link.request({"op": "nodes"})
        return list(reply["nodes"])
