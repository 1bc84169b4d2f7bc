"""The workers backplane: a worker's line to its primary, for ``python -m lab --workers N``.

The primary process (:mod:`lab.cluster`) sequences; each worker is a replica.

Link protocol, one line per item: ``M<message JSON>`` is a published message
(primary → worker); any other line is a JSON object — from a worker
``{"op": "ready"}``, ``{"op": "chat", "id", "action", "user", "text"}`` or
``{"op": "stats", "id"}``, ``{"op": "nodes", "id"}``; from the primary ``{"id", "message"|"error"}``
replies and ``{"op": "snapshot", "id"}`` requests that a worker answers with
``{"op": "snapshot", "id", "stats"}``.

A worker's hub follows the primary's (:func:`follow_primary`): every message is
ingested with the primary's seq, time and bytes. Chat goes to the primary's
room (:class:`RemoteChatRoom`), which owns the one ``online`` count.
:class:`Worker` is this side as a :class:`lab.backplane.Backplane`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import orjson

from lab.backplane import Counters, TickSource
from lab.chat import ChatError, ChatService, NotInChat
from lab.hub import Hub, Message


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

    async def _act(self, action: str, user: Any, text: Any = None) -> Message:
        reply = await self.link.request({"op": "chat", "action": action, "user": user, "text": text})
        if "error" in reply:
            raise (NotInChat if reply.get("not_in_chat") else ChatError)(reply["error"])
        return Message.from_json(reply["message"].encode())

    async def join(self, user: Any) -> Message:
        """Join through the primary."""
        return await self._act("join", user)

    async def leave(self, user: Any) -> Message:
        """Leave through the primary."""
        return await self._act("leave", user)

    async def say(self, user: Any, text: Any) -> Message:
        """Say through the primary."""
        return await self._act("say", user, text)


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

    def chat_room(self, hub: Hub) -> ChatService:
        """The primary's room, through the link."""
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
