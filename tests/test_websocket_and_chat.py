"""WebSocket commands and close codes, and the chat room over HTTP and WebSocket."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.conftest import Lab


async def next_text(ws: aiohttp.ClientWebSocketResponse) -> dict:
    """The next JSON text frame."""
    async with asyncio.timeout(5):
        return await ws.receive_json()


async def chat_post(lab: Lab, path: str, body: object, token: str | None = None
                    ) -> tuple[int, dict]:
    """POST a JSON body to a chat endpoint (with a token as Bearer); status and decoded answer."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with lab.session.post(f"{lab.base}{path}", json=body, headers=headers) as response:
        return response.status, await response.json()


async def join(lab: Lab, user: str) -> str:
    """Join the chat over HTTP as ``user``; the token."""
    status, answer = await chat_post(lab, "/api/chat/join", {"user": user})
    assert status == 201, answer
    return str(answer["token"])


async def test_ws_join_chat_and_leave_on_close(lab: Lab) -> None:
    """Subscribing to chat with a name joins; closing the socket leaves; others see both."""
    async with lab.session.ws_connect(f"{lab.base}/ws?topic=chat") as watcher:
        async with lab.session.ws_connect(f"{lab.base}/ws") as ada:
            await ada.send_json({"type": "subscribe", "topic": "chat", "user": "ada"})
            joined = await next_text(watcher)
            assert joined["data"] == {"kind": "join", "user": "ada", "online": 1}
            await ada.send_json({"type": "chat", "text": "<img src=x onerror=alert(1)>"})
            said = await next_text(watcher)
            assert said["data"]["text"] == "<img src=x onerror=alert(1)>"
            assert said["data"]["user"] == "ada"
        left = await next_text(watcher)
        assert left["data"] == {"kind": "leave", "user": "ada", "online": 0}


async def test_http_chat_join_say_leave(lab: Lab) -> None:
    """The HTTP chat endpoints publish join, message and leave with the online count."""
    async with lab.session.ws_connect(f"{lab.base}/ws?topic=chat") as watcher:
        token = await join(lab, "bob")
        status, message = await chat_post(lab, "/api/chat", {"text": "hi"}, token)
        assert status == 201 and message["data"] == {"kind": "message", "user": "bob",
                                                     "text": "hi", "online": 1}
        assert (await chat_post(lab, "/api/chat/leave", {}, token))[0] == 200
        kinds = [(await next_text(watcher))["data"] for _ in range(3)]
    assert [(k["kind"], k["online"]) for k in kinds] == [("join", 1), ("message", 1), ("leave", 0)]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        pytest.param("/api/chat/join", {"user": ""}, 400, id="empty-user"),
        pytest.param("/api/chat/join", {"user": "x" * 33}, 400, id="long-user"),
        pytest.param("/api/chat/join", {"user": 5}, 400, id="join-number"),
        pytest.param("/api/chat", {"text": ""}, 400, id="empty-text"),
        pytest.param("/api/chat", {"text": "x" * 501}, 400, id="long-text"),
        pytest.param("/api/chat", ["not", "an", "object"], 400, id="not-object"),
    ],
)
async def test_chat_rejects_bad_bodies(lab: Lab, path: str, body: object, status: int) -> None:
    """Chat limits (name 1–32, text 1–500) and shapes are enforced with a JSON reason."""
    token = await join(lab, "ada")
    got, answer = await chat_post(lab, path, body, token)
    assert got == status and "error" in answer


async def test_chat_rejects_non_json_and_oversized_bodies(lab: Lab) -> None:
    """Non-JSON bodies get 400 and bodies over 64 KB get 413, both with a JSON reason."""
    async with lab.session.post(f"{lab.base}/api/chat", data=b"{oops") as response:
        assert response.status == 400 and "error" in await response.json()
    async with lab.session.post(f"{lab.base}/api/chat", data=b"x" * (64 * 1024 + 1)) as response:
        assert response.status == 413 and "error" in await response.json()


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        pytest.param({"type": "dance"}, "unknown command", id="unknown-type"),
        pytest.param({"type": "subscribe", "topic": "gossip"}, "unknown topic", id="unknown-topic"),
        pytest.param({"type": "subscribe", "topic": "prices"}, "already subscribed", id="twice"),
        pytest.param({"type": "subscribe", "topic": "chat", "since": "x"}, "since", id="bad-since"),
        pytest.param({"type": "subscribe", "topic": "chat", "user": ""}, "user", id="bad-user"),
        pytest.param({"type": "unsubscribe", "topic": "chat"}, "not subscribed", id="not-subscribed"),
        pytest.param({"type": "chat", "text": "hi"}, "user", id="chat-without-user"),
    ],
)
async def test_ws_bad_command_gets_error_reply_and_stays_open(lab: Lab, command: dict, reason: str) -> None:
    """A malformed command is answered with an error frame; the socket keeps working."""
    async with lab.session.ws_connect(f"{lab.base}/ws?topic=prices") as ws:
        await ws.send_json(command)
        answer = await next_text(ws)
        assert answer["type"] == "error" and reason in answer["error"]
        lab.publish(1)
        assert (await next_text(ws))["seq"] == 1


@pytest.mark.parametrize(
    ("send", "code"),
    [
        pytest.param(lambda ws: ws.send_str("not json"), 1008, id="not-json"),
        pytest.param(lambda ws: ws.send_str("[1, 2]"), 1008, id="not-an-object"),
        pytest.param(lambda ws: ws.send_bytes(b"\x00\x01"), 1003, id="binary"),
        pytest.param(lambda ws: ws.send_str("x" * 10_000), 1009, id="too-long"),
    ],
)
async def test_ws_malformed_frames_close_with_reason(lab: Lab, send, code: int) -> None:
    """Frames that are not commands close the socket with the contract's code, others unharmed."""
    async with lab.session.ws_connect(f"{lab.base}/ws?topic=prices") as bystander:
        async with lab.session.ws_connect(f"{lab.base}/ws") as ws:
            await send(ws)
            async with asyncio.timeout(5):
                closing = await ws.receive()
            assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == code
            assert closing.extra
        lab.publish(1)
        assert (await next_text(bystander))["seq"] == 1


async def test_ws_unsubscribe_stops_delivery(lab: Lab) -> None:
    """After unsubscribing from prices, only the resubscribed topic's messages arrive."""
    async with lab.session.ws_connect(f"{lab.base}/ws?topic=prices") as ws:
        await ws.send_json({"type": "unsubscribe", "topic": "prices"})
        await ws.send_json({"type": "subscribe", "topic": "chat", "user": "cy"})
        assert (await next_text(ws))["data"]["kind"] == "join"
        lab.publish(3)
        await chat_post(lab, "/api/chat", {"text": "after"}, await join(lab, "dee"))
        assert (await next_text(ws))["data"]["kind"] == "join"
        assert (await next_text(ws))["data"]["text"] == "after"
