"""Nodes on one Redis (``--broker``): one seq order per topic, one feed, resume on any node."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp
import pytest

from clients.cli import parse_args
from clients.factory import open_client
from lab.contract import TRANSPORTS
from tests.conftest_redis import (  # noqa: F401  (fixtures, registered by being imported)
    Node,
    NodeFactory,
    RedisServer,
    eventually,
    free_port,
    make_node_fixture,
    redis_server_fixture,
    run_lab,
)

pytestmark = pytest.mark.timeout(90)


async def read_seqs(session: aiohttp.ClientSession, node: Node, since: int, count: int,
                    topic: str = "prices") -> list[int]:
    """``count`` seqs from one WebSocket resuming after ``since`` (notices fail the test)."""
    async with session.ws_connect(f"{node.base}/ws?topic={topic}&since={since}") as ws:
        return [(await ws.receive_json())["seq"] for _ in range(count)]


async def head(session: aiohttp.ClientSession, node: Node, topic: str = "prices") -> int:
    """The node's head of ``topic``."""
    return int((await node.get(session, f"/api/poll?topic={topic}&since=0"))["head"])


@pytest.mark.parametrize("serving", ["plain", "fast"])
async def test_two_nodes_serve_one_order_with_the_same_bytes(make_node: NodeFactory,
                                                             serving: str) -> None:
    """Both nodes hold the same messages, byte for byte, and /api/stats names the broker."""
    flags = ("--rate", "50", *(("--plain",) if serving == "plain" else ()))
    a, b = await make_node(*flags), await make_node(*flags)
    async with aiohttp.ClientSession() as session:
        async def both_have_30() -> bool:
            """both nodes have 30 prices"""
            return min(await head(session, a), await head(session, b)) >= 30
        await eventually(both_have_30)
        bodies = []
        for node in (a, b):
            async with session.get(f"{node.base}/api/poll?topic=prices&since=0") as response:
                bodies.append((await response.read()).split(b'"seq":30,', 1)[0])
        stats = await b.get(session, "/api/stats")
    assert bodies[0] == bodies[1] and b'"seq":29,' in bodies[0]
    assert stats["backplane"] == "redis"


@pytest.mark.parametrize("serving", ["plain", "fast"])
async def test_a_client_resumes_on_the_other_node_with_nothing_lost_or_repeated(
        make_node: NodeFactory, serving: str) -> None:
    """Read up to seq N on one node; resuming after N on the other continues at N + 1."""
    flags = ("--rate", "50", *(("--plain",) if serving == "plain" else ()))
    a, b = await make_node(*flags), await make_node(*flags)
    async with aiohttp.ClientSession() as session, asyncio.timeout(30):
        first = await read_seqs(session, a, 0, 20)
        second = await read_seqs(session, b, first[-1], 20)
    assert first + second == list(range(first[0], first[0] + 40))


async def test_a_node_started_late_serves_the_history_from_redis(make_node: NodeFactory) -> None:
    """A node that joins after 40 prices resumes a client from seq 0 with all of them."""
    a = await make_node("--rate", "50")
    async with aiohttp.ClientSession() as session:
        async def forty() -> bool:
            """the first node has 40 prices"""
            return await head(session, a) >= 40
        await eventually(forty)
        late = await make_node("--feed", "never")
        body = await late.get(session, "/api/poll?topic=prices&since=0")
    seqs = [m["seq"] for m in body["messages"]]
    assert body["missed"] == 0 and seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 40


async def post(session: aiohttp.ClientSession, node: Node, path: str, body: dict,
               token: str | None = None) -> tuple[int, dict]:
    """POST JSON to a node (with a Bearer token when given): the status and the JSON answer."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.post(node.base + path, json=body, headers=headers) as response:
        return response.status, await response.json()


async def test_chat_on_either_node_is_one_room(make_node: NodeFactory) -> None:
    """Joins and posts through two nodes: one seq order, one online count, one set of names,
    and a token given by one node works on the other."""
    a, b = await make_node("--feed", "never"), await make_node("--feed", "never")
    async with (aiohttp.ClientSession() as session, asyncio.timeout(30),
                session.ws_connect(f"{b.base}/ws?topic=chat") as watcher):
        status, ada = await post(session, a, "/api/chat/join", {"user": "ada"})
        assert status == 201
        assert (await post(session, b, "/api/chat/join", {"user": "ada"}))[0] == 409
        status, bob = await post(session, b, "/api/chat/join", {"user": "bob"})
        assert status == 201
        assert (await post(session, b, "/api/chat", {"text": "hi"}, ada["token"]))[0] == 201
        assert (await post(session, b, "/api/chat", {"text": "x"}, "forged"))[0] == 401
        assert (await post(session, a, "/api/chat/leave", {}, bob["token"]))[0] == 200
        assert (await post(session, b, "/api/chat", {"text": "x"}, bob["token"]))[0] == 401
        seen = [await watcher.receive_json() for _ in range(4)]
        stats = await a.get(session, "/api/stats")
    assert [m["seq"] for m in seen] == [1, 2, 3, 4]
    assert [(m["data"]["kind"], m["data"]["user"], m["data"]["online"]) for m in seen] == [
        ("join", "ada", 1), ("join", "bob", 2), ("message", "ada", 2), ("leave", "bob", 1)]
    assert stats["topics"]["chat"]["online"] == 1


async def test_exactly_one_node_runs_the_feed_and_another_takes_over(
        make_node: NodeFactory) -> None:
    """Kill the feed's node: the other continues the prices, no gap, no seq going back."""
    feeder = await make_node("--rate", "20", "--feed", "always")
    other = await make_node("--rate", "20")
    async with aiohttp.ClientSession() as session, asyncio.timeout(60):
        before = await read_seqs(session, other, 0, 10)
        feeder.process.send_signal(signal.SIGKILL)
        async with session.ws_connect(f"{other.base}/ws?topic=prices&since={before[-1]}") as ws:
            after = []
            while len(after) < 60:
                after.append(await ws.receive_json())
    seqs = before + [m["seq"] for m in after]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_feed_always_refuses_to_start_beside_another_feed(
        make_node: NodeFactory, redis_server: RedisServer) -> None:
    """``--feed always`` while another node holds the lock: one line, exit 1."""
    await make_node("--feed", "always")
    status, err = await run_lab("--broker", redis_server.url, "--feed", "always")
    assert status == 1
    assert err.strip().splitlines() == [
        f"error: another node runs the feed of {redis_server.url}; use --feed auto or never"]


async def test_feed_without_a_broker_is_one_line_and_exit_1() -> None:
    """``--feed never`` without ``--broker`` means nothing: said so, exit 1."""
    status, err = await run_lab("--feed", "never")
    assert (status, err.strip()) == (
        1, "error: --feed always or never needs --broker (without one, this process runs the feed)")


@pytest.mark.parametrize("url, says", [
    ("redis://127.0.0.1:{port}/0", "error: cannot reach the broker at redis://127.0.0.1:{port}/0"),
    ("http://127.0.0.1:{port}/", "error: bad broker URL http://127.0.0.1:{port}/"),
    ("redis://:secret@127.0.0.1:{port}/0",
     "error: cannot reach the broker at redis://:***@127.0.0.1:{port}/0"),
], ids=["unreachable", "bad-scheme", "password-hidden"])
async def test_a_broker_the_node_cannot_use_is_one_line_and_exit_1(url: str, says: str) -> None:
    """An unreachable Redis or a bad URL: one line naming the URL, exit 1, no traceback."""
    port = free_port()
    status, err = await run_lab("--broker", url.format(port=port))
    lines = err.strip().splitlines()
    assert status == 1 and len(lines) == 1 and lines[0].startswith(says.format(port=port)), err


async def test_a_dead_nodes_chat_users_are_announced_as_leaving(make_node: NodeFactory) -> None:
    """SIGKILL a node: its chat users leave the count on every other node, announced."""
    a, doomed = await make_node("--feed", "never"), await make_node("--feed", "never")
    async with (aiohttp.ClientSession() as session, asyncio.timeout(30),
                session.ws_connect(f"{a.base}/ws?topic=chat") as watcher):
        user = await session.ws_connect(f"{doomed.base}/ws")
        await user.send_json({"type": "subscribe", "topic": "chat", "user": "ada"})
        joined = await watcher.receive_json()
        doomed.process.send_signal(signal.SIGKILL)
        left = await watcher.receive_json()  # within the alive key's TTL and a heartbeat
        await user.close()
    assert (joined["data"]["kind"], joined["data"]["online"]) == ("join", 1)
    assert (left["data"]["kind"], left["data"]["user"], left["data"]["online"]) == (
        "leave", "ada", 0)
    assert left["seq"] == joined["seq"] + 1


async def test_workers_use_the_broker_through_their_primary(make_node: NodeFactory) -> None:
    """``--workers 2 --broker``: every worker serves the broker's order; resume on another node."""
    cluster = await make_node("--workers", "2", "--rate", "50")
    single = await make_node("--feed", "never")
    async with aiohttp.ClientSession() as session, asyncio.timeout(30):
        runs = await asyncio.gather(*(read_seqs(session, cluster, 0, 10) for _ in range(4)))
        resumed = await read_seqs(session, single, runs[0][-1], 10)
        async with session.ws_connect(f"{single.base}/ws?topic=chat") as watcher:
            status, ada = await post(session, cluster, "/api/chat/join", {"user": "ada"})
            joined = await watcher.receive_json()

        async def both_listed() -> bool:
            """a worker's /api/stats lists both nodes (each within a heartbeat of listening)"""
            nodes = (await cluster.get(session, "/api/stats"))["nodes"]
            return sorted(nodes) == sorted([f"{cluster.base}/", f"{single.base}/"])

        await eventually(both_listed)
        stats = await cluster.get(session, "/api/stats")
    assert all(run == runs[0] for run in runs)
    assert resumed == list(range(runs[0][-1] + 1, runs[0][-1] + 11))
    assert status == 201 and joined == ada["message"]
    assert stats["workers"] == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_client_given_two_nodes_survives_one_killed(make_node: NodeFactory,
                                                            transport: str) -> None:
    """The lab's client moves to the next node when its node dies and resumes with no gap."""
    feeder = await make_node("--rate", "50", "--feed", "always")
    victim = await make_node("--feed", "never")
    seqs = []
    async with (open_client(transport, [victim.base, feeder.base], since=0,
                            interval=0.05) as client, asyncio.timeout(30)):
        async for received in client:
            seqs.append(received.seq)
            if len(seqs) == 10:
                victim.process.send_signal(signal.SIGKILL)
            if len(seqs) == 40:
                break
        stats = client.stats()
    assert seqs == list(range(1, 41))
    assert stats.gaps == 0 and stats.duplicates == 0 and stats.reconnects == 1
    assert client.url == feeder.base


async def test_a_token_whose_client_moved_is_kept_by_the_new_node(
        make_node: NodeFactory) -> None:
    """Node A dies: a user who posts through node B is adopted there, the others leave."""
    a, b = await make_node("--feed", "never"), await make_node("--feed", "never")
    async with (aiohttp.ClientSession() as session, asyncio.timeout(30),
                session.ws_connect(f"{b.base}/ws?topic=chat") as watcher):
        _, ada = await post(session, a, "/api/chat/join", {"user": "ada"})
        await post(session, a, "/api/chat/join", {"user": "bob"})
        a.process.send_signal(signal.SIGKILL)
        assert (await post(session, b, "/api/chat", {"text": "moved"}, ada["token"]))[0] == 201
        events = [await watcher.receive_json() for _ in range(4)]  # bob's leave: A was reaped
        stats = await b.get(session, "/api/stats")
    assert [(m["data"]["kind"], m["data"]["user"]) for m in events] == [
        ("join", "ada"), ("join", "bob"), ("message", "ada"), ("leave", "bob")]
    assert stats["topics"]["chat"]["online"] == 1


def test_the_client_command_line_takes_several_urls() -> None:
    """``--url`` repeats (the nodes of one lab); without it, the default server."""
    assert parse_args(["websocket", "--url", "http://a:1", "--url", "http://b:2"]).url == [
        "http://a:1", "http://b:2"]
    assert parse_args(["sse"]).url == ["http://127.0.0.1:8080"]


async def test_the_lab_without_a_broker_does_not_import_redis() -> None:
    """Redis's client is loaded only when ``--broker`` asks for it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys, lab.__main__, lab.cluster, lab.app, lab.serving; "
        "sys.exit('redis' in sys.modules)")
    assert await asyncio.wait_for(process.wait(), 30) == 0
