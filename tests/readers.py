"""Minimal, independent readers of the wire contract, for the server's conformance tests.

They use only aiohttp's stock client and a few lines of parsing each, so the
server is checked against the contract rather than against this project's
own clients (which have tests of their own).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import orjson


async def read(
    session: aiohttp.ClientSession, base: str, transport: str, since: int | None = None,
    topic: str = "prices",
) -> AsyncIterator[dict]:
    """Yield decoded messages (and missed notices) from ``transport`` until the caller stops."""
    reader = {"poll": _poll, "longpoll": _longpoll, "stream": _stream, "sse": _sse,
              "websocket": _websocket}[transport]
    async for item in reader(session, base, topic, since):
        yield item


def _query(topic: str, since: int | None) -> str:
    return f"topic={topic}" + (f"&since={since}" if since is not None else "")


async def _polls(session, base, topic, since, endpoint):
    while True:
        async with session.get(f"{base}{endpoint}?{_query(topic, since)}") as r:
            body = await r.json()
        if body["missed"]:
            yield {"topic": topic, "missed": body["missed"]}
        for message in body["messages"]:
            yield message
        since = body["head"]


def _poll(session, base, topic, since):
    return _polls(session, base, topic, 0 if since is None else since, "/api/poll")


def _longpoll(session, base, topic, since):
    return _polls(session, base, topic, since, "/api/longpoll")


async def _stream(session, base, topic, since):
    async with session.get(f"{base}/api/stream?{_query(topic, since)}") as r:
        async for line in r.content:
            if line.strip():
                yield orjson.loads(line)


async def _sse(session, base, topic, since):
    headers = {"Last-Event-ID": str(since)} if since is not None else {}
    async with session.get(f"{base}/api/events?topic={topic}", headers=headers) as r:
        data: list[bytes] = []
        async for raw in r.content:
            line = raw.rstrip(b"\r\n")
            if not line:
                if data:
                    yield orjson.loads(b"\n".join(data))
                data = []
            elif line.startswith(b"data:"):
                data.append(line[5:].lstrip(b" "))


async def _websocket(session, base, topic, since):
    async with session.ws_connect(f"{base}/ws?{_query(topic, since)}") as ws:
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                yield orjson.loads(msg.data)
