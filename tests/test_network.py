"""The instructor's console: ``/api/network`` (403/400/200) and the class link applying it.

The class link is the lab again behind the in-process relay; a raw client through it
must feel each condition the API sets, on connections opened before the change too.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from lab.classlink import ClassLink
from lab.console import NETWORK_KEY
from lab.demo import STEPS, run_demo
from lab.limits import Rate
from lab.netem.http import forwarded
from lab.network import Conditions, Network
from lab.serving import open_class_link
from lab.transports.common import SETTINGS_KEY
from tests.conftest import QUIET, Lab

KEY = "the-instructors-key"
AS_INSTRUCTOR = {"Authorization": f"Bearer {KEY}"}
DELAY_MS = 150
WAIT_S = 5.0  # upper bound on waiting for something that must happen


@pytest.fixture
async def console_lab(make_lab, serving: str) -> Lab:
    """A lab (plain and fast) with an instructor key."""
    return await make_lab(QUIET.replace(plain=serving == "plain", instructor_key=KEY))


@pytest.fixture
async def class_link(console_lab: Lab) -> AsyncIterator[ClassLink]:
    """The class link in front of `console_lab`, on a free port."""
    link = await open_class_link(console_lab.app, console_lab.app[SETTINGS_KEY], console_lab.port)
    yield link
    await link.close()


async def put(lab: Lab, body: object, headers: dict[str, str] | None = None
              ) -> tuple[int, dict]:
    """PUT /api/network; (status, JSON answer)."""
    async with lab.session.put(f"{lab.base}/api/network", json=body,
                               headers=headers or {}) as response:
        return response.status, await response.json()


async def test_anyone_reads_the_conditions(console_lab: Lab) -> None:
    """GET answers the calm conditions, their summary and no changes yet."""
    async with console_lab.session.get(f"{console_lab.base}/api/network") as response:
        assert response.status == 200
        answer = await response.json()
    assert answer["delay_ms"] == 0 and answer["refuse_upgrade"] is False
    assert answer["summary"] == "calm: no impairment" and answer["changes"] == []


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": KEY}, {"Authorization": "Basic " + KEY}],
                         ids=["no-key", "wrong-key", "no-scheme", "basic"])
async def test_without_the_key_nothing_changes(console_lab: Lab, headers: dict) -> None:
    """No key, a wrong one or the key without ``Bearer``: 403 with a reason, nothing changed."""
    status, answer = await put(console_lab, {"delay_ms": 500}, headers)
    assert status == 403 and "instructor key" in answer["error"]
    assert console_lab.app[NETWORK_KEY].conditions == Conditions()


async def test_no_key_set_means_nobody_may_change(make_lab) -> None:
    """A lab started without an instructor key refuses even an empty Bearer."""
    lab: Lab = await make_lab(QUIET)
    status, _ = await put(lab, {"delay_ms": 5}, {"Authorization": "Bearer "})
    assert status == 403


@pytest.mark.parametrize("body, reason", [
    ({"delay_ms": -1}, "delay_ms must be between"),
    ({"delay_ms": "150"}, "delay_ms must be a number"),
    ({"jitter_ms": 1e9}, "jitter_ms must be between"),
    ({"bandwidth_kbps": True}, "bandwidth_kbps must be a number"),
    ({"cut_every_s": 0.2}, "cut_every_s must be at least"),
    ({"refuse_upgrade": 1}, "refuse_upgrade must be true or false"),
    ({"cut_now": "yes"}, "cut_now must be true or false"),
    ({"latency": 3}, "unknown field 'latency'"),
    ([1, 2], "JSON object"),
])
async def test_a_bad_value_is_400_with_a_reason(console_lab: Lab, body: object,
                                                reason: str) -> None:
    """Each bad field is refused by name and the conditions stay as they were."""
    status, answer = await put(console_lab, body, AS_INSTRUCTOR)
    assert status == 400 and reason in answer["error"]
    assert console_lab.app[NETWORK_KEY].conditions == Conditions()


async def test_a_body_that_is_not_json_is_400(console_lab: Lab) -> None:
    """Bytes that do not parse are a 400 with a reason, not a 500."""
    async with console_lab.session.put(f"{console_lab.base}/api/network", data=b"{delay",
                                       headers=AS_INSTRUCTOR) as response:
        assert response.status == 400
        assert "JSON object" in (await response.json())["error"]


async def test_the_instructor_changes_and_everyone_reads(console_lab: Lab) -> None:
    """200 with the new conditions; fields left out keep their values; the change is logged."""
    status, answer = await put(console_lab, {"delay_ms": DELAY_MS, "jitter_ms": 20},
                               AS_INSTRUCTOR)
    assert status == 200 and answer["delay_ms"] == DELAY_MS
    status, answer = await put(console_lab, {"refuse_upgrade": True, "bandwidth_kbps": 0},
                               AS_INSTRUCTOR)
    assert status == 200
    async with console_lab.session.get(f"{console_lab.base}/api/network") as response:
        now = await response.json()
    assert now["delay_ms"] == DELAY_MS and now["jitter_ms"] == 20
    assert now["refuse_upgrade"] is True and now["bandwidth_kbps"] is None
    assert now["summary"] == "delay 150 ms, jitter up to 20 ms, WebSocket upgrades refused"
    assert [change["summary"] for change in now["changes"]] == [
        "delay 150 ms, jitter up to 20 ms", now["summary"]]


async def test_the_delay_reaches_a_new_request_through_the_class_link(
        console_lab: Lab, class_link: ClassLink) -> None:
    """A request through the class link takes at least two one-way delays; direct does not
    go through the relay at all."""
    await put(console_lab, {"delay_ms": DELAY_MS}, AS_INSTRUCTOR)
    started = time.monotonic()
    async with console_lab.session.get(f"http://127.0.0.1:{class_link.port}/healthz") as r:
        assert r.status == 200
    assert time.monotonic() - started >= 2 * DELAY_MS / 1000
    assert class_link.relay.connections >= 1


async def test_the_delay_reaches_a_stream_opened_before_it(
        console_lab: Lab, class_link: ClassLink) -> None:
    """An SSE stream open through the class link gets each later message a delay late."""
    url = f"http://127.0.0.1:{class_link.port}/api/events?topic=prices"
    async with console_lab.session.get(url) as response:
        assert response.status == 200
        await put(console_lab, {"delay_ms": DELAY_MS}, AS_INSTRUCTOR)
        published = time.monotonic()
        console_lab.publish(1)
        line = await asyncio.wait_for(response.content.readline(), WAIT_S)
        while not line.startswith(b"data:"):
            line = await asyncio.wait_for(response.content.readline(), WAIT_S)
        assert time.monotonic() - published >= DELAY_MS / 1000


async def test_refusing_upgrades_ends_open_sockets_and_refuses_new_ones(
        console_lab: Lab, class_link: ClassLink) -> None:
    """An open WebSocket through the class link ends; the next handshake is the proxy's 403."""
    url = f"http://127.0.0.1:{class_link.port}/ws?topic=prices"
    async with console_lab.session.ws_connect(url) as socket:
        await put(console_lab, {"refuse_upgrade": True}, AS_INSTRUCTOR)
        message = await asyncio.wait_for(socket.receive(), WAIT_S)
        assert message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR,
                                aiohttp.WSMsgType.CLOSE)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await console_lab.session.ws_connect(url)
    assert refused.value.status == 403
    async with console_lab.session.ws_connect(f"{console_lab.base}/ws?topic=prices") as direct:
        assert not direct.closed  # the direct URL is not behind the relay


async def test_a_buffering_proxy_holds_an_open_stream_until_turned_off(
        console_lab: Lab, class_link: ClassLink) -> None:
    """With the buffering proxy on, a message on an open stream waits in the relay; turning
    it off releases it."""
    url = f"http://127.0.0.1:{class_link.port}/api/stream?topic=prices"
    async with console_lab.session.get(url) as response:
        await put(console_lab, {"buffering_proxy": True}, AS_INSTRUCTOR)
        console_lab.publish(1)
        deadline = time.monotonic() + WAIT_S
        while not any(c.held for c in class_link.relay.per_connection):
            assert time.monotonic() < deadline, "the relay never held the message"
            await asyncio.sleep(0.01)
        await put(console_lab, {"buffering_proxy": False}, AS_INSTRUCTOR)
        line = await asyncio.wait_for(response.content.readline(), WAIT_S)
        assert b'"ACME"' in line


async def test_cuts_every_k_seconds_start_on_connections_already_open(
        console_lab: Lab, class_link: ClassLink) -> None:
    """Setting ``cut_every_s`` starts the cutting: a stream opened before is reset."""
    url = f"http://127.0.0.1:{class_link.port}/api/stream?topic=prices"
    async with console_lab.session.get(url) as response:
        await put(console_lab, {"cut_every_s": 1}, AS_INSTRUCTOR)
        with pytest.raises(aiohttp.ClientError):
            while await asyncio.wait_for(response.content.readline(), WAIT_S):
                pass
            raise aiohttp.ClientPayloadError("ended")
    assert class_link.relay.cuts >= 1
    await put(console_lab, {"cut_every_s": None}, AS_INSTRUCTOR)
    assert class_link.relay._cutter is None


async def test_cut_now_resets_every_open_connection(
        console_lab: Lab, class_link: ClassLink) -> None:
    """``cut_now`` ends an open stream through the class link at once."""
    url = f"http://127.0.0.1:{class_link.port}/api/stream?topic=prices"
    async with console_lab.session.get(url) as response:
        await put(console_lab, {"cut_now": True}, AS_INSTRUCTOR)
        with pytest.raises(aiohttp.ClientError):
            while await asyncio.wait_for(response.content.readline(), WAIT_S):
                pass
            raise aiohttp.ClientPayloadError("ended")  # a clean end counts as cut as well
    assert class_link.relay.cuts >= 1


async def test_the_demo_plays_its_steps_and_ends_calm() -> None:
    """Each step changes the conditions with its announcement; the end is calm and silent."""
    network = Network()
    seen: list[tuple[Conditions, str]] = []
    network.listen(lambda conditions, _cut: seen.append((conditions, network.announcement)))
    await run_demo(network, tuple((0, text, body) for _, text, body in STEPS))
    assert [conditions for conditions, _ in seen[:-1]] == [
        Conditions(), Conditions(delay_ms=100), Conditions(delay_ms=300, jitter_ms=100),
        Conditions(buffering_proxy=True), Conditions(refuse_upgrade=True),
        Conditions(cut_every_s=5), Conditions()]
    assert all(text.startswith(f"Demo {i}/7") for i, (_, text) in enumerate(seen[:-1], 1))
    assert seen[-1] == (Conditions(), "") and network.announcement == ""
    assert sum(seconds for seconds, _, _ in STEPS) == 180


async def run_lab(*args: str) -> tuple[int, str, str]:
    """``python -m lab ARGS`` to completion (it must exit by itself): status, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lab", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 20)
    return process.returncode or 0, out.decode(), err.decode()


@pytest.mark.parametrize("args, reason", [
    (("--no-class-link", "--class-port", "9"), "contradict each other"),
    (("--no-class-link", "--demo"), "--demo runs on the class link"),
    (("--workers", "2", "--demo"), "the class link serves one lab process"),
    (("--class-port", "70000"), "class port must be 0..65535"),
])
async def test_class_link_flags_that_cannot_work_are_one_line(args: tuple[str, ...],
                                                             reason: str) -> None:
    """Contradictory class-link flags: exit 1 with a one-line reason, nothing served."""
    status, out, err = await run_lab(*args)
    assert status == 1 and reason in err and err.strip().count("\n") == 0
    assert "serving" not in out and "Traceback" not in err


async def test_a_class_port_in_use_is_one_line() -> None:
    """An explicit class port that is taken: exit 1, one line naming the class link."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        status, _, err = await run_lab("--class-port", str(busy.getsockname()[1]))
    assert status == 1 and "for the class link" in err and "Traceback" not in err


def test_the_class_link_names_the_client_and_drops_its_claim() -> None:
    """``X-Forwarded-For`` of a request head becomes the client's address alone."""
    head = (b"POST /api/chat HTTP/1.1\r\nHost: t\r\nx-forwarded-for: 10.9.9.9\r\n"
            b"Content-Length: 2\r\n\r\n")
    assert forwarded(head, "127.0.0.2") == (b"POST /api/chat HTTP/1.1\r\nHost: t\r\n"
                                            b"Content-Length: 2\r\nX-Forwarded-For: 127.0.0.2\r\n\r\n")


async def test_students_on_the_class_link_have_their_own_chat_limits(make_lab,
                                                                     serving: str) -> None:
    """Through the class link every request reaches the lab from loopback; the relay names
    each student's address, so one student's burst does not silence another, and a
    claimed address changes nothing."""
    lab: Lab = await make_lab(QUIET.replace(plain=serving == "plain", behind_proxy=True,
                                            chat_rate=Rate(0.001, 2)))
    link = await open_class_link(lab.app, lab.app[SETTINGS_KEY], lab.port)
    base = f"http://127.0.0.1:{link.port}"
    try:
        async def post_from(address: str, user: str, claim: str = "") -> list[int]:
            connector = aiohttp.TCPConnector(local_addr=(address, 0))
            async with aiohttp.ClientSession(connector=connector) as session:
                async with session.post(f"{base}/api/chat/join", json={"user": user}) as r:
                    token = (await r.json())["token"]
                statuses = []
                for _ in range(3):
                    async with session.post(f"{base}/api/chat", json={"text": "hi"}, headers={
                            "Authorization": f"Bearer {token}",
                            **({"X-Forwarded-For": claim} if claim else {})}) as r:
                        statuses.append(r.status)
                return statuses

        assert await post_from("127.0.0.2", "ada") == [201, 201, 429]
        assert await post_from("127.0.0.3", "bob", claim="127.0.0.9") == [201, 201, 429]
        assert await post_from("127.0.0.2", "eve", claim="127.0.0.4") == [429, 429, 429]
    finally:
        await link.close()
