"""The in-process backplane: ``python -m lab`` alone; the hub sequences its own messages.

The price feed publishes straight into the hub, and the chat room is a local
:class:`lab.chat.ChatRoom`. Nothing leaves the process.
"""

from __future__ import annotations

from typing import Any

from lab.backplane import Counters, TickSource
from lab.chat import ChatRoom, ChatService
from lab.feed import run_feed
from lab.hub import Hub


class InProcess:
    """One process that sequences, feeds and serves (see :mod:`lab.backplane`)."""

    name = "in-process"

    def chat_room(self, hub: Hub) -> ChatService:
        """A local room on the hub's chat topic."""
        return ChatRoom(hub["chat"])

    async def run(self, hub: Hub, ticks: TickSource, counters: Counters) -> None:
        """Run the price feed into the hub until cancelled."""
        await run_feed(ticks({}), lambda data: hub.publish("prices", data))

    async def counters(self, own: Counters) -> list[dict[str, Any]]:
        """This process's counters alone."""
        return [own()]


    def advertise(self, url: str) -> None:
        """Nobody to tell."""

    async def nodes(self) -> list[str]:
        """None but this one."""
        return []
