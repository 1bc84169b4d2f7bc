"""An outside check of the contract against a real ``python -m lab`` process, plain and fast.

Nothing here uses this project's code or aiohttp: the standard library's
``http.client`` speaks HTTP (it decodes chunked encoding itself),
``sseclient-py`` parses Server-Sent Events, and ``websockets`` is the WebSocket
client. They run in worker threads so the test's event loop stays free.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import sseclient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module", params=["plain", "fast"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """A real lab process on a free port with a fast feed and small history, served the
    textbook way (``--plain``) or engineered."""
    plain = ["--plain"] if request.param == "plain" else []
    process = subprocess.Popen(
        [sys.executable, "-m", "lab", "--port", "0", "--rate", "40", "--history", "50",
         "--heartbeat", "0.3", *plain],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert process.stdout is not None
    match = re.search(r"serving on http://([\d.]+):(\d+)/", process.stdout.readline())
    assert match
    yield match.group(1), int(match.group(2))
    process.terminate()
    process.wait(5)
    process.stdout.close()


def get(server: tuple[str, int], path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """One GET with http.client: status, headers, body."""
    connection = http.client.HTTPConnection(*server, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def post(server: tuple[str, int], path: str, body: bytes, token: str | None = None
         ) -> tuple[int, bytes]:
    """One POST with http.client (with a chat token as ``Authorization: Bearer``): status and
    body."""
    connection = http.client.HTTPConnection(*server, timeout=10)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def head(server: tuple[str, int]) -> int:
    """The current seq of the prices topic, waiting for the feed to have published some."""
    while True:
        body = json.loads(get(server, "/api/longpoll?since=20&timeout=5")[2])
        if body["head"] > 20:
            return body["head"]


def stream_lines(server: tuple[str, int], since: int, count: int) -> list[dict]:
    """The first ``count`` non-blank NDJSON lines of /api/stream after ``since``."""
    connection = http.client.HTTPConnection(*server, timeout=10)
    try:
        connection.request("GET", f"/api/stream?topic=prices&since={since}")
        response = connection.getresponse()
        assert response.getheader("Transfer-Encoding") == "chunked"
        assert response.getheader("Content-Type").startswith("application/x-ndjson")
        lines: list[dict] = []
        while len(lines) < count:
            line = response.readline()
            if line.strip():
                lines.append(json.loads(line))
        return lines
    finally:
        connection.close()


def sse_events(server: tuple[str, int], last_event_id: int, count: int) -> list[sseclient.Event]:
    """The first ``count`` SSE events after ``Last-Event-ID``, parsed by sseclient-py."""
    connection = http.client.HTTPConnection(*server, timeout=10)
    try:
        connection.request("GET", "/api/events?topic=prices", headers={"Last-Event-ID": str(last_event_id)})
        response = connection.getresponse()
        assert response.getheader("Content-Type").startswith("text/event-stream")
        events = []
        for event in sseclient.SSEClient(iter(lambda: response.read1(4096), b"")).events():
            events.append(event)
            if len(events) == count:
                return events
        raise AssertionError("stream ended early")
    finally:
        connection.close()


def ws_messages(server: tuple[str, int], since: int, count: int) -> list[dict]:
    """The first ``count`` frames of /ws after ``since``, read by the websockets library."""
    with ws_connect(f"ws://{server[0]}:{server[1]}/ws?topic=prices&since={since}") as ws:
        return [json.loads(ws.recv(timeout=10)) for _ in range(count)]


def run(func, *args):
    """Run blocking client code in a thread."""
    return asyncio.to_thread(func, *args)


async def test_short_poll_and_resume(server) -> None:
    """First poll gives the latest per symbol; a poll with since gives every newer message."""
    start = await run(head, server)
    status, headers, body = await run(get, server, "/api/poll?topic=prices")
    latest = json.loads(body)
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert len({m["data"]["symbol"] for m in latest["messages"]}) == len(latest["messages"]) == 3
    _, _, body = await run(get, server, f"/api/poll?since={start - 10}")
    seqs = [m["seq"] for m in json.loads(body)["messages"]]
    assert seqs[:10] == list(range(start - 9, start + 1))


async def test_long_poll_resume(server) -> None:
    """A long poll from an old seq answers at once with everything after it, in order."""
    start = await run(head, server)
    _, _, body = await run(get, server, f"/api/longpoll?topic=prices&since={start - 5}")
    assert [m["seq"] for m in json.loads(body)["messages"]][:5] == list(range(start - 4, start + 1))


@pytest.mark.parametrize("reader", ["stream", "sse", "websocket"])
async def test_push_resume_is_gapless(server, reader: str) -> None:
    """Every push transport resumes exactly after the given seq and continues live."""
    start = await run(head, server) - 15
    if reader == "stream":
        seqs = [m["seq"] for m in await run(stream_lines, server, start, 30)]
    elif reader == "sse":
        events = await run(sse_events, server, start, 30)
        assert all(e.id == str(json.loads(e.data)["seq"]) for e in events)
        seqs = [int(e.id) for e in events]
    else:
        seqs = [m["seq"] for m in await run(ws_messages, server, start, 30)]
    assert seqs == list(range(start + 1, start + 31))


async def test_resume_older_than_history_reports_missed(server) -> None:
    """A resume point the 50-message history no longer holds is announced, not hidden."""
    now = await run(head, server)
    while now <= 60:
        _, _, body = await run(get, server, f"/api/longpoll?since={now}&timeout=10")
        now = json.loads(body)["head"]
    lines = await run(stream_lines, server, 1, 2)
    assert lines[0]["missed"] > 0 and lines[0]["topic"] == "prices"
    assert lines[1]["seq"] == 2 + lines[0]["missed"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/poll?since=x", 400), ("/api/longpoll?since=1&timeout=500", 400),
        ("/api/stream?since=-4", 400), ("/api/events?since=1e3", 400), ("/ws?since=abc", 400),
        ("/api/poll?topic=weather", 404), ("/api/events?topic=weather", 404), ("/nowhere", 404),
    ],
)
async def test_bad_queries(server, path: str, status: int) -> None:
    """Malformed queries and unknown topics get the contract's status and a JSON reason."""
    got, headers, body = await run(get, server, path)
    assert got == status and headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["error"]


async def test_bad_bodies(server) -> None:
    """Non-JSON, invalid and oversized chat bodies are refused; valid ones publish."""
    status, body = await run(post, server, "/api/chat/join", b'{"user": "eve"}')
    assert status == 201
    token = json.loads(body)["token"]
    assert (await run(post, server, "/api/chat", b"not json", token))[0] == 400
    assert (await run(post, server, "/api/chat", b'{"text": ""}', token))[0] == 400
    assert (await run(post, server, "/api/chat", b"x" * 70_000, token))[0] == 413
    assert (await run(post, server, "/api/chat", b'{"text": "hi"}'))[0] == 401
    status, body = await run(post, server, "/api/chat", b'{"user": "eve", "text": "<b>hi</b>"}',
                             token)
    assert status == 201 and json.loads(body)["data"]["text"] == "<b>hi</b>"
    assert (await run(post, server, "/api/chat/leave", b"", token))[0] == 200


def ws_close_code(server: tuple[str, int], frame: str | bytes) -> int:
    """Send one bad frame; the close code the server answers with."""
    with ws_connect(f"ws://{server[0]}:{server[1]}/ws", max_size=None) as ws:
        ws.send(frame)
        try:
            while True:
                ws.recv(timeout=10)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.reason
            return closed.rcvd.code


@pytest.mark.parametrize(
    ("frame", "code"),
    [("{broken", 1008), (b"\x01\x02", 1003), ("y" * 5000, 1009)],
    ids=["not-json", "binary", "too-long"],
)
async def test_ws_bad_frames(server, frame, code: int) -> None:
    """Bad WebSocket frames close the socket with the contract's code and a reason."""
    assert await run(ws_close_code, server, frame) == code


def ws_chat(server: tuple[str, int]) -> list[dict]:
    """Ada watches the chat while Bob joins, says hello and leaves."""
    url = f"ws://{server[0]}:{server[1]}/ws"
    with ws_connect(url) as ada:
        ada.send(json.dumps({"type": "subscribe", "topic": "chat", "user": "ada"}))
        seen = [json.loads(ada.recv(timeout=10))]
        with ws_connect(url) as bob:
            bob.send(json.dumps({"type": "subscribe", "topic": "chat", "user": "bob"}))
            bob.send(json.dumps({"type": "chat", "text": "hello"}))
            assert json.loads(bob.recv(timeout=10))["data"]["kind"] == "join"
        seen += [json.loads(ada.recv(timeout=10)) for _ in range(3)]
        return [m["data"] for m in seen]


async def test_ws_chat_presence(server) -> None:
    """Join, message and leave reach another socket with the online count."""
    events = await run(ws_chat, server)
    assert [(e["kind"], e["user"], e["online"]) for e in events] == [
        ("join", "ada", 1), ("join", "bob", 2), ("message", "bob", 2), ("leave", "bob", 1),
    ]


async def test_stats_and_health(server, request: pytest.FixtureRequest) -> None:
    """The counters and the health check answer; the counters say how the lab serves."""
    assert (await run(get, server, "/api/poll"))[0] == 200
    status, _, body = await run(get, server, "/api/stats")
    stats = json.loads(body)
    assert status == 200
    assert stats["serving"] == request.node.callspec.params["server"]
    assert set(stats["transports"]) == {"poll", "longpoll", "stream", "sse", "websocket"}
    assert stats["transports"]["poll"]["requests"] >= 1
    assert (await run(get, server, "/healthz"))[0] == 200
    assert urlsplit(f"http://{server[0]}:{server[1]}").port == server[1]
