"""Chat identity, limits and presence, served plain and engineered.

Every refusal the contract names — 401, 403, 409, 429, 503, a WebSocket's error
and its 1008 — is checked on both ways of serving. Rates are set so low
(``0.001`` a second) that no token can refill during a test, so no verdict
depends on how fast the machine runs it; presence is swept on a made-up clock.
"""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest

from lab.chat.errors import (
    ChatError,
    NameTaken,
    RateLimited,
    UnknownToken,
    WrongUser,
    from_wire,
    to_wire,
)
from lab.chat.http import CHAT_KEY
from lab.chat.room import ChatRoom
from lab.limits import Rate
from lab.settings import Settings
from tests.conftest import QUIET, Lab
from tests.test_websocket_and_chat import chat_post, join, next_text

BURST = 3


@pytest.fixture
def lab_settings(serving: str) -> Settings:
    """Both ways of serving; chat posts and WebSocket commands in bursts of 3, never refilled."""
    return QUIET.replace(plain=serving == "plain", chat_rate=Rate(0.001, BURST),
                         ws_command_rate=Rate(0.001, BURST))


async def test_a_join_gives_a_token_and_a_name_is_unique_while_online(lab: Lab) -> None:
    """201 with an opaque token and the join event; the same name again is 409 with a reason
    until its holder leaves; then the name is free and the old token is dead (401)."""
    status, answer = await chat_post(lab, "/api/chat/join", {"user": "ada"})
    assert status == 201 and len(answer["token"]) >= 32
    assert answer["message"]["data"] == {"kind": "join", "user": "ada", "online": 1}
    status, refused = await chat_post(lab, "/api/chat/join", {"user": "ada"})
    assert status == 409 and "ada" in refused["error"]
    status, left = await chat_post(lab, "/api/chat/leave", {}, answer["token"])
    assert status == 200 and left["data"] == {"kind": "leave", "user": "ada", "online": 0}
    assert (await chat_post(lab, "/api/chat", {"text": "hi"}, answer["token"]))[0] == 401
    assert (await chat_post(lab, "/api/chat/leave", {}, answer["token"]))[0] == 401
    assert await join(lab, "ada") != answer["token"]


@pytest.mark.parametrize("path", ["/api/chat", "/api/chat/leave"])
@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer not-a-token", "Basic eDp5"])
async def test_no_token_or_an_unknown_one_is_401(lab: Lab, path: str, authorization: str | None
                                                 ) -> None:
    """401 with a JSON reason and ``WWW-Authenticate: Bearer``; nothing is published."""
    await join(lab, "ada")
    head = lab.hub["chat"].head
    headers = {"Authorization": authorization} if authorization else {}
    async with lab.session.post(lab.base + path, json={"user": "ada", "text": "hi"},
                                headers=headers) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "token" in (await response.json())["error"]
    assert lab.hub["chat"].head == head


async def test_speaking_as_someone_else_is_403(lab: Lab) -> None:
    """A ``user`` that is not the token's name is refused; the token's own name passes."""
    token = await join(lab, "ada")
    await join(lab, "bob")
    status, refused = await chat_post(lab, "/api/chat", {"user": "bob", "text": "hi"}, token)
    assert status == 403 and "ada" in refused["error"]
    status, said = await chat_post(lab, "/api/chat", {"user": "ada", "text": "hi"}, token)
    assert status == 201 and said["data"]["user"] == "ada"


async def test_posts_over_the_rate_are_429_per_identity_and_per_address(lab: Lab) -> None:
    """A burst passes; the next post is 429 with ``Retry-After``; and a second identity from
    the same address is limited too, because the address's bucket is empty as well."""
    ada, bob = await join(lab, "ada"), await join(lab, "bob")
    for i in range(BURST):
        assert (await chat_post(lab, "/api/chat", {"text": f"hi {i}"}, ada))[0] == 201
    head = lab.hub["chat"].head
    for token in (ada, bob):
        async with lab.session.post(f"{lab.base}/api/chat", json={"text": "more"},
                                    headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 429
            assert int(response.headers["Retry-After"]) >= 1
            answer = await response.json()
            assert answer["error"] == "rate limited" and answer["retry_after"] >= 1
    assert lab.hub["chat"].head == head


async def test_a_refused_post_is_answered_after_the_pause(make_lab, serving: str) -> None:
    """The tarpit: a post over the limit gets its 429 no sooner than ``refusal_pause_s`` (a
    busy machine can only make it later), so one connection in a loop is refused at that pace."""
    lab = await make_lab(QUIET.replace(plain=serving == "plain", chat_rate=Rate(0.001, 1),
                                       refusal_pause_s=0.3))
    ada = await join(lab, "ada")
    assert (await chat_post(lab, "/api/chat", {"text": "one"}, ada))[0] == 201
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await chat_post(lab, "/api/chat", {"text": "two"}, ada))[0] == 429
    assert loop.time() - started >= 0.3


@pytest.mark.parametrize("behind_proxy", [False, True], ids=["direct", "behind-proxy"])
async def test_the_address_limit_reads_the_proxys_forwarded_for_only_behind_it(
        make_lab, serving: str, behind_proxy: bool) -> None:
    """Behind the lab's own proxy every post comes from loopback: the address limit then counts
    the address nginx appended last to ``X-Forwarded-For`` (what a client wrote before it is
    ignored). Without a proxy the header is the client's claim, and the peer counts."""
    lab = await make_lab(QUIET.replace(plain=serving == "plain", chat_rate=Rate(0.001, BURST),
                                       behind_proxy=behind_proxy))
    ada, bob = await join(lab, "ada"), await join(lab, "bob")

    async def post(token: str, forwarded: str) -> int:
        async with lab.session.post(f"{lab.base}/api/chat", json={"text": "hi"}, headers={
                "Authorization": f"Bearer {token}", "X-Forwarded-For": forwarded}) as response:
            return response.status

    for _ in range(BURST):
        assert await post(ada, "10.0.0.1") == 201
    assert await post(bob, "10.0.0.2") == (201 if behind_proxy else 429)
    assert await post(bob, "10.0.0.2, 10.0.0.1") == 429  # a claimed first hop changes nothing


@pytest.mark.parametrize("refusal", [
    ChatError("text must be a non-empty string"), UnknownToken("unknown token"),
    WrongUser("not yours"), NameTaken("'ada' is already in the chat"), RateLimited(2.5),
], ids=lambda e: type(e).__name__)
def test_refusals_cross_between_processes_unchanged(refusal: ChatError) -> None:
    """What a worker rebuilds from the primary's reply is the same refusal: class, reason,
    status and wait."""
    rebuilt = from_wire(orjson.loads(orjson.dumps(to_wire(refusal))))
    assert type(rebuilt) is type(refusal) and str(rebuilt) == str(refusal)
    assert rebuilt.status == refusal.status
    assert getattr(rebuilt, "retry_after", None) == getattr(refusal, "retry_after", None)


class PublishedOnly:
    """A stand-in topic that keeps what is published."""

    def __init__(self) -> None:
        self.published: list[dict] = []

    def publish(self, data: dict) -> dict:
        self.published.append(data)
        return data


async def test_the_identity_bucket_holds_when_addresses_differ() -> None:
    """One identity posting from ever new addresses is still limited by its own bucket."""
    room = ChatRoom(PublishedOnly(), Rate(0.001, 2), 60.0, clock=lambda: 0.0)  # type: ignore[arg-type]
    token = (await room.join("ada")).token
    await room.say(token, "1", address="10.0.0.1")
    await room.say(token, "2", address="10.0.0.2")
    with pytest.raises(RateLimited):
        await room.say(token, "3", address="10.0.0.3")


async def test_a_socket_speaks_only_as_its_joined_name(lab: Lab) -> None:
    """Before joining, a chat command is an error; after, another ``user`` is refused and the
    socket's own text goes out under its name."""
    async with lab.session.ws_connect(f"{lab.base}/ws") as ws:
        await ws.send_json({"type": "chat", "text": "hi"})
        assert "subscribe to chat" in (await next_text(ws))["error"]
        await ws.send_json({"type": "subscribe", "topic": "chat", "user": "cy"})
        assert (await next_text(ws))["data"]["kind"] == "join"
        await ws.send_json({"type": "chat", "user": "ada", "text": "hi"})
        refused = await next_text(ws)
        assert refused["type"] == "error" and "cy" in refused["error"]


async def test_a_socket_cannot_take_a_name_in_use(lab: Lab) -> None:
    """Joining by socket with a name someone holds is an error on that socket (and no join)."""
    await join(lab, "ada")
    async with lab.session.ws_connect(f"{lab.base}/ws") as ws:
        await ws.send_json({"type": "subscribe", "topic": "chat", "user": "ada"})
        assert "already in the chat" in (await next_text(ws))["error"]
        await ws.send_json({"type": "subscribe", "topic": "chat", "user": "ada2"})
        assert (await next_text(ws))["data"] == {"kind": "join", "user": "ada2", "online": 2}


async def test_a_socket_over_the_limit_gets_errors_then_1008(lab: Lab) -> None:
    """Commands over the socket's limit are answered ``rate limited`` with ``retry_after``;
    a socket that keeps on is closed with 1008 and a reason; a bystander is unharmed."""
    async with lab.session.ws_connect(f"{lab.base}/ws?topic=prices") as bystander, \
            lab.session.ws_connect(f"{lab.base}/ws") as flooder:
        for _ in range(BURST):
            await flooder.send_json({"type": "dance"})  # errors, but within the limit
            assert "unknown command" in (await next_text(flooder))["error"]
        for _ in range(4):
            await flooder.send_json({"type": "dance"})
            refused = await next_text(flooder)
            assert refused == {"type": "error", "error": "rate limited",
                               "retry_after": refused["retry_after"]}
            assert refused["retry_after"] >= 1
        await flooder.send_json({"type": "dance"})
        async with asyncio.timeout(5):
            closing = await flooder.receive()
        assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 1008
        assert "flooding" in closing.extra
        lab.publish(1)
        assert (await next_text(bystander))["seq"] == 1


async def test_socket_chat_posts_share_the_address_limit(lab: Lab) -> None:
    """A socket's chat posts draw from its address's bucket too: once an HTTP user at the same
    address has used the burst, the socket's post is refused ``rate limited``."""
    async with lab.session.ws_connect(f"{lab.base}/ws") as ws:
        await ws.send_json({"type": "subscribe", "topic": "chat", "user": "dee"})
        assert (await next_text(ws))["data"]["kind"] == "join"
        token = await join(lab, "eve")
        for i in range(BURST):
            assert (await chat_post(lab, "/api/chat", {"text": f"{i}"}, token))[0] == 201
        await ws.send_json({"type": "chat", "text": "me too"})
        while (answer := await next_text(ws)).get("type") != "error":
            assert answer["data"]["user"] == "eve"  # eve's join and posts, never dee's post
        assert answer["error"] == "rate limited"


async def test_connections_over_the_cap_get_503_and_are_closed(make_lab, serving: str) -> None:
    """With a cap of 2 (here on loopback), a third connection is answered 503 with a JSON
    reason and closed; once one of the two closes, a new one is served again."""
    lab = await make_lab(QUIET.replace(plain=serving == "plain", max_loopback_connections=2))
    request = b"GET /healthz HTTP/1.1\r\nHost: lab\r\n\r\n"
    held = []
    for _ in range(2):
        reader, writer = await asyncio.open_connection(lab.host, lab.port)
        writer.write(request)
        assert (await reader.readuntil(b"}")).startswith(b"HTTP/1.1 200")
        held.append(writer)
    reader, writer = await asyncio.open_connection(lab.host, lab.port)
    writer.write(request)
    async with asyncio.timeout(5):
        answer = await reader.read()  # to the end: the server closes
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503") and b"too many open connections" in body
    held[0].close()
    await held[0].wait_closed()
    async with asyncio.timeout(5):
        while True:  # until the server has seen the close (it always will)
            reader, writer = await asyncio.open_connection(lab.host, lab.port)
            writer.write(request)
            status = (await reader.read(12))[9:12]
            writer.close()
            if status == b"200":
                break
            await asyncio.sleep(0.01)
    held[1].close()


async def test_a_silent_http_user_is_announced_as_left(lab: Lab) -> None:
    """Seen at each request, held while a connection of theirs is open, and swept once neither
    for the presence timeout: a leave event, and the token stops working."""
    room = lab.app[CHAT_KEY]
    assert isinstance(room, ChatRoom)
    now = [0.0]
    room.clock = lambda: now[0]
    async with lab.session.ws_connect(f"{lab.base}/ws?topic=chat") as watcher:
        token = await join(lab, "ada")
        assert (await next_text(watcher))["data"]["kind"] == "join"
        now[0] = 50.0
        async with lab.session.get(f"{lab.base}/api/poll?topic=chat&token={token}") as r:
            assert r.status == 200  # seen at 50
        now[0] = 100.0
        assert room.sweep() == []
        async with lab.session.get(f"{lab.base}/api/stream?topic=chat&token={token}") as r:
            assert r.status == 200  # held from here
            now[0] = 1000.0
            assert room.sweep() == []
        async with asyncio.timeout(5):
            while room.identity(token).holds:  # the server notices the stream closed
                await asyncio.sleep(0.01)
        now[0] = 1059.0
        assert room.sweep() == []
        now[0] = 1061.0
        room.sweep()  # (the app's own sweeper may have been first: the outcome is the same)
        assert (await next_text(watcher))["data"] == {"kind": "leave", "user": "ada", "online": 0}
    assert (await chat_post(lab, "/api/chat", {"text": "hi"}, token))[0] == 401
    async with lab.session.get(f"{lab.base}/api/poll?topic=chat&token={token}") as r:
        assert r.status == 401 and "error" in await r.json()


async def test_a_socket_that_stops_answering_pings_leaves(lab: Lab) -> None:
    """A joined socket whose client no longer answers pings is closed by the heartbeat, and
    its identity leaves (the test's heartbeat is 0.2 s)."""
    async with lab.session.ws_connect(f"{lab.base}/ws?topic=chat") as watcher:
        mute = await lab.session.ws_connect(f"{lab.base}/ws", autoping=False, heartbeat=None)
        await mute.send_json({"type": "subscribe", "topic": "chat", "user": "mute"})
        assert (await next_text(watcher))["data"]["kind"] == "join"
        async with asyncio.timeout(10):
            left = await watcher.receive_json()
        assert left["data"] == {"kind": "leave", "user": "mute", "online": 0}
        await mute.close()
