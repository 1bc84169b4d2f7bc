"""The in-process backplane: ``python -m lab`` alone; the hub sequences its own messages.

The price feed publishes straight into the hub, and the chat room is a local
:class:`lab.chat.room.ChatRoom`, swept for silent users while the process
runs. Nothing leaves the process.
"""

from __future__ import annotations

import asyncio
from typing import Any

from lab.backplane import Counters, TickSource
from lab.chat.room import ChatRoom, ChatService
from lab.feed import run_feed
from lab.hub import Hub
from lab.settings import Settings


class InProcess:
    """One process that sequences, feeds and serves (see :mod:`lab.backplane`)."""

    name = "in-process"

    def __init__(self) -> None:
        self._rooms: list[ChatRoom] = []

    def chat_room(self, hub: Hub, settings: Settings) -> ChatService:
        """A local room on the hub's chat topic, with the settings' post rate and presence."""
        self._rooms.append(ChatRoom(hub["chat"], settings.chat_rate, settings.presence_timeout))
        return self._rooms[-1]

    async def run(self, hub: Hub, ticks: TickSource, counters: Counters) -> None:
        """Run the price feed into the hub, and sweep the room, until cancelled."""
        await asyncio.gather(run_feed(ticks({}), lambda data: hub.publish("prices", data)),
                             *(room.sweep_forever() for room in self._rooms))

    async def counters(self, own: Counters) -> list[dict[str, Any]]:
        """This process's counters alone."""
        return [own()]


    def advertise(self, url: str) -> None:
        """Nobody to tell."""

    async def nodes(self) -> list[str]:
        """None but this one."""
        return []
