"""A client with no transport, for tests that drive the delivery policy by hand."""

from __future__ import annotations

from clients.base import BaseClient


class OfflineClient(BaseClient):
    """A client with no transport: messages are fed to ``_accept`` by the test."""

    name = "offline"

    async def _open(self) -> None:
        raise AssertionError("not used")

    async def _receive(self) -> None:
        raise AssertionError("not used")

    def _classified(self) -> tuple[int, int, int]:
        return 0, 0, 0
