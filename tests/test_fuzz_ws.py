"""Fuzzing the WebSocket: malformed frames and random commands against a real lab, plain and fast.

Every generated input goes on a fresh socket, followed by a probe command. The
server must either answer the probe (the socket still reads) or close with a
code the contract names (see ``/ws`` in ``docs/openapi.yaml``), with a reason
whenever the close is the lab's own; it must log no fault, stay healthy, and a
trader reading ``prices`` beside it must see every message, undisturbed.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import strategies as st

from tests.conftest import SERVING
from tests.fuzzing import (
    BUDGETS,
    Frame,
    RawSocket,
    Reply,
    assert_clean,
    exchange,
    finish,
    run_property,
    text,
)
from tests.liveserver import LiveLab, Watcher

pytestmark = pytest.mark.timeout(300)

PROTOCOL_CLOSES = {1002, 1007, 1009}
"""aiohttp's closes for frames that break RFC 6455 (1009: over 65,536 bytes); no reason."""

LAB_CLOSES = {1003, 1008, 1009}
"""The lab's closes for frames it will not take (binary, not a JSON object, over 4,096
characters, a flood); each with a reason."""


@pytest.fixture(scope="module", params=SERVING)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         ) -> Iterator[tuple[LiveLab, Watcher]]:
    """A lab process (plain or fast) with a watcher reading its prices."""
    lab = LiveLab(request.param, Path(tmp_path_factory.mktemp("ws")) / "server.log")
    watcher = Watcher(lab)
    try:
        yield lab, watcher
    finally:
        watcher.close()
        lab.stop()


def is_probe_answer(payload: bytes) -> bool:
    """Whether a text frame is the server's answer to the probe command."""
    return b"'probe'" in payload and b'"error"' in payload


payloads = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=64).map(str.encode),
    st.sampled_from([b"{}", b'{"type": "subscribe", "topic": "chat"}', b"\xff\xfe",
                     b"\xed\xa0\x80", b"y" * 5000, b"[1, 2]", b"null"]),
    st.integers(0, 70_000).map(lambda n: b"z" * n),
)

frames = st.builds(
    Frame,  # mostly well-formed, so that later frames of a list still reach the server
    opcode=st.sampled_from([1] * 9 + [0, 2, 3, 8, 9, 10, 11, 15]),
    payload=payloads,
    fin=st.sampled_from([True] * 5 + [False]),
    rsv=st.sampled_from([0] * 9 + [1, 2, 4, 7]),
    masked=st.sampled_from([True] * 5 + [False]),
    long_length=st.booleans(),
)


def check_frames(live: tuple[LiveLab, Watcher], sent: list[Frame]) -> None:
    """One socket, ``sent`` frames and the probe: the probe answered or a contract close."""
    lab, _ = live
    sock = RawSocket(lab)
    try:
        reply = sock.converse([frame.encode() for frame in sent], is_probe_answer)
    finally:
        sock.close()
    client_closed = any(frame.opcode == 8 for frame in sent)
    assert_reply(reply, allowed=PROTOCOL_CLOSES | LAB_CLOSES | ({1000} if client_closed else set()))
    assert_clean(lab, sent)


def assert_reply(reply: Reply, allowed: set[int]) -> None:
    """The probe was answered, or the server closed with an allowed code (a reason when the
    close is the lab's own); every text frame it sent is JSON."""
    for payload in reply.texts:
        json.loads(payload)
    if reply.close_code is None:
        assert not reply.dropped, "connection dropped without a close frame"
        assert is_probe_answer(reply.texts[-1])
        return
    assert reply.close_code in allowed, reply
    if reply.close_code in LAB_CLOSES - PROTOCOL_CLOSES:
        assert reply.close_reason, reply


@pytest.mark.parametrize("budget", BUDGETS)
def test_malformed_frames_get_a_contract_close_or_an_answer(live, budget: int,
                                                           request: pytest.FixtureRequest,
                                                           ) -> None:
    """Random frames (any opcode, reserved bits, unmasked, fragmented, over-long, bad UTF-8,
    odd length encodings): the probe is answered or the socket closes with a contract code."""
    run_property(request.node.name, st.lists(frames, min_size=1, max_size=4),
                 lambda sent: check_frames(live, sent), budget)
    finish(*live)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=6,
)

commands = st.fixed_dictionaries(
    {"type": st.sampled_from(["subscribe", "unsubscribe", "chat"]) | json_values},
    optional={
        "topic": st.sampled_from(["prices", "chat"]) | json_values,
        "since": st.integers(-5, 10**20) | json_values,
        "user": st.text(min_size=0, max_size=40) | json_values,
        "text": st.text(max_size=600) | json_values,
    },
)


def check_commands(live: tuple[LiveLab, Watcher], sent: list[object]) -> None:
    """One socket, ``sent`` as JSON text frames and the probe: every answer is JSON, the probe
    is answered, or the socket closes with 1008 (a flood, or a command that is no object) or
    1009 (a command over 4,096 characters)."""
    lab, _ = live
    sock = RawSocket(lab)
    try:
        reply = sock.converse([text(json.dumps(command)).encode() for command in sent],
                              is_probe_answer)
    finally:
        sock.close()
    assert_reply(reply, allowed={1008, 1009})
    for payload in reply.texts:
        answer = json.loads(payload)
        assert isinstance(answer, dict)
        if answer.get("type") == "error":
            assert isinstance(answer["error"], str) and answer["error"]
        else:
            assert answer.get("topic") in ("prices", "chat"), answer
    assert_clean(lab, sent)


@pytest.mark.parametrize("budget", BUDGETS)
def test_random_commands_are_answered_or_refused(live, budget: int,
                                                request: pytest.FixtureRequest) -> None:
    """Random JSON commands (right and wrong types, topics, seqs, users, texts) get data or an
    error message, never a fault; a socket is closed only as the contract says."""
    run_property(request.node.name,
                 st.lists(st.one_of(commands, commands, commands, json_values), min_size=1,
                          max_size=5),
                 lambda sent: check_commands(live, sent), budget)
    finish(*live)


def test_a_client_that_leaves_during_the_handshake_leaves_no_fault(live) -> None:
    """Handshakes whose client hangs up at once: no traceback in the log (aiohttp used to close
    the socket that never opened, and raise)."""
    lab, _ = live
    handshake = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    for _ in range(20):
        with socket.create_connection((lab.host, lab.port)) as sock:
            sock.sendall(handshake)
            sock.shutdown(socket.SHUT_WR)
    assert lab.get("/healthz")[0] == 200
    assert_clean(lab, "handshakes reset by the client")


@pytest.mark.parametrize("key", ["", "not base64", "dGhlIHNhbXBsZSBub25jZQ",
                                 "dGhlIHNhbXBsZSBub25jZQ==é"],
                         ids=["empty", "not-base64", "unpadded", "not-ascii"])
def test_a_bad_handshake_key_gets_a_json_400(live, key: str) -> None:
    """A missing, malformed or non-ASCII ``Sec-WebSocket-Key`` is refused with the contract's
    JSON 400 (aiohttp raised on a non-ASCII one: a 500 and a traceback)."""
    lab, _ = live
    answer = exchange(lab, (f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                            "Sec-WebSocket-Version: 13\r\n\r\n").encode(), hold=False)
    assert answer is not None and answer.status == 400
    assert answer.headers["content-type"].startswith("application/json")
    assert_clean(lab, key)
