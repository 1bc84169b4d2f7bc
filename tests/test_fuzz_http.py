"""Fuzzing the HTTP API: random requests and raw bytes against a real lab, plain and fast.

Requests are built from the lab's own paths, methods, query fields, headers and
bodies, right and wrong, and from random text; raw inputs are arbitrary bytes
and mutations of a well-formed request. The server must answer only statuses
the contract names (each a JSON reason with ``Cache-Control: no-store``, but
for the plain-text refusals of aiohttp's HTTP parser), never a 5xx; it must log
no fault, stay healthy, and a trader reading ``prices`` beside it must see
every message.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import strategies as st

from tests.conftest import SERVING
from tests.fuzzing import (
    ANSWER_S,
    BUDGETS,
    PARSER_REFUSALS,
    assert_clean,
    exchange,
    finish,
    run_property,
    send_raw,
    statuses_in,
)
from tests.liveserver import LiveLab, Watcher

pytestmark = pytest.mark.timeout(300)

CONTRACT_STATUSES = {101, 200, 201, 400, 401, 403, 404, 405, 409, 413, 429, 503}
"""Every status ``docs/openapi.yaml`` names (and 101 for a WebSocket upgrade)."""

PATHS = ["/api/poll", "/api/longpoll", "/api/stream", "/api/events", "/ws", "/api/chat",
         "/api/chat/join", "/api/chat/leave", "/api/stats", "/api/time", "/api/openapi.yaml",
         "/healthz", "/", "/dashboard", "/static/app.js", "/static/../lab/app.py",
         "/static/.hidden", "/nowhere", "/api/poll/", "//api/poll"]

STREAMS = ("/api/stream", "/api/events")


@pytest.fixture(scope="module", params=SERVING)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         ) -> Iterator[tuple[LiveLab, Watcher]]:
    """A lab process (plain or fast) with a watcher reading its prices."""
    lab = LiveLab(request.param, Path(tmp_path_factory.mktemp("http")) / "server.log")
    watcher = Watcher(lab)
    try:
        yield lab, watcher
    finally:
        watcher.close()
        lab.stop()


field_values = st.one_of(
    st.sampled_from(["prices", "chat", "", "0", "1", "-1", "1e3", "abc", "0x10", "1.5", "nan",
                     "inf", "120", "121", "0.001", "99999999999999999999", "١٢", " 5 "]),
    st.integers(-10, 10**19).map(str),
    st.text(max_size=30),
)
query = st.lists(
    st.tuples(st.sampled_from(["topic", "since", "timeout"]) | st.text(max_size=10), field_values),
    max_size=4,
)
header_values = st.one_of(
    st.sampled_from(["", "http://127.0.0.1", "http://evil.example", "null", "Bearer x",
                     "Bearer ", "websocket", "Upgrade", "close", "keep-alive", "13",
                     "dGhlIHNhbXBsZSBub25jZQ==", "application/json", "text/plain", "5", "-1"]),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
)
headers = st.dictionaries(
    st.sampled_from(["Authorization", "Authorization", "Content-Type", "Last-Event-ID",
                     "Origin", "Authorization", "Upgrade", "Connection", "Sec-WebSocket-Key",
                     "Sec-WebSocket-Version", "Content-Type", "Last-Event-ID", "Accept",
                     "Accept-Encoding", "X-Anything"]),
    header_values, max_size=5,
)
bodies = st.one_of(
    st.none(),
    st.fixed_dictionaries({}, optional={"user": st.text(max_size=40) | st.integers(),
                                        "text": st.text(max_size=600) | st.none()}
                          ).map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=200),
    st.sampled_from([b"null", b"[]", b'"x"', b"{", b"\xff", b"x" * 70_000]),
)
METHODS = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"]


@st.composite
def requests(draw: st.DrawFn) -> dict:
    """A request: mostly a path of the lab with the method it takes, sometimes anything."""
    path = draw(st.sampled_from(PATHS) | st.text(max_size=20).map(lambda t: "/" + quote(t)))
    usual = "POST" if path.startswith("/api/chat") else "GET"
    return {
        "method": draw(st.sampled_from([usual] * 6 + METHODS)),
        "path": path,
        "query": draw(query),
        "headers": draw(headers),
        "body": draw(bodies),
    }


def request_bytes(request: dict) -> bytes:
    """The request's exact bytes (HTTP/1.1, percent-encoded query, Content-Length for a body)."""
    target = request["path"]
    if request["query"]:
        target += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}"
                                 for k, v in request["query"])
    lines = [f"{request['method']} {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in request["headers"].items()]
    body = request["body"]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + (body or b"")


def check_request(live: tuple[LiveLab, Watcher], request: dict) -> None:
    """A contract status (never 5xx); errors are JSON reasons; every answer is no-store."""
    lab, _ = live
    answer = exchange(lab, request_bytes(request), hold=request["path"] == "/api/longpoll")
    if answer is not None:
        assert answer.status < 500, (answer, request)
        if answer.status in CONTRACT_STATUSES and answer.headers.get("cache-control"):
            assert answer.headers["cache-control"] == "no-store"
            if answer.status >= 400 and request["method"] != "HEAD":
                assert answer.headers["content-type"].startswith("application/json")
        else:  # only aiohttp's HTTP parser answers without the lab's headers
            assert answer.status in PARSER_REFUSALS, (answer, request)
    assert_clean(lab, request)


@pytest.mark.parametrize("budget", BUDGETS)
def test_random_requests_get_contract_answers(live, budget: int,
                                              request: pytest.FixtureRequest) -> None:
    """Random methods, paths, queries, headers and bodies get contract statuses, no faults."""
    run_property(request.node.name, requests(), lambda r: check_request(live, r), budget)
    finish(*live)


WELL_FORMED = (
    b"GET /api/poll?topic=prices&since=3 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    (b"POST /api/chat/join HTTP/1.1\r\nHost: x\r\nContent-Length: 15\r\n\r\n"
     b'{"user": "ada"}'),
    (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A well-formed request with a few bytes replaced, inserted or cut."""
    data = bytearray(draw(st.sampled_from(WELL_FORMED)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["replace", "insert", "cut"]))
        chunk = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(
            [b"\r\n", b"\n", b"\x00", b":", b" ", b"\r\n\r\n", b"Transfer-Encoding: chunked\r\n"]))
        if edit == "replace":
            data[at:at + len(chunk)] = chunk
        elif edit == "insert":
            data[at:at] = chunk
        else:
            del data[at:at + len(chunk)]
    return bytes(data)


raw_inputs = st.one_of(
    st.binary(min_size=1, max_size=300),
    mutated(),
    st.sampled_from(WELL_FORMED).map(lambda r: r * 3),  # pipelined
    st.integers(8_000, 20_000).map(lambda n: b"GET /api/poll?x=" + b"a" * n + b" HTTP/1.1\r\n"
                                   b"Host: x\r\n\r\n"),
    st.integers(8_000, 20_000).map(lambda n: b"GET /api/poll HTTP/1.1\r\nHost: x\r\nX: "
                                   + b"a" * n + b"\r\n\r\n"),
)


def check_raw(live: tuple[LiveLab, Watcher], data: bytes) -> None:
    """Whatever the bytes, what the server answers is never a 5xx, and it closes when the
    client is done (it never hangs on garbage)."""
    lab, _ = live
    answered = send_raw(lab, data)
    assert all(status < 500 for status in statuses_in(answered)), (answered[:300], data)
    assert_clean(lab, data)


@pytest.mark.parametrize("budget", BUDGETS)
def test_raw_bytes_never_get_a_5xx_or_a_fault(live, budget: int,
                                              request: pytest.FixtureRequest) -> None:
    """Random and mutated bytes: no 5xx, no fault in the log, no connection left hanging."""
    run_property(request.node.name, raw_inputs, lambda data: check_raw(live, data), budget)
    finish(*live)


def test_a_client_that_hangs_up_in_the_middle_of_a_body_leaves_no_fault(live) -> None:
    """Chat posts whose body never arrives in full: no traceback in the log (aiohttp logged
    one for the body read the hang-up cut short)."""
    lab, _ = live
    for path in ("/api/chat/join", "/api/chat", "/api/chat/leave"):
        with socket.create_connection((lab.host, lab.port), timeout=ANSWER_S) as sock:
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
                         '{"user":'.encode())
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
    assert lab.get("/healthz")[0] == 200
    assert_clean(lab, "bodies cut short")


@pytest.mark.parametrize("path", ["/%0A", "/a%0Db", "/api/poll%0A"], ids=["lf", "cr", "poll-lf"])
def test_a_path_with_a_line_break_gets_the_json_404(live, path: str) -> None:
    """A percent-encoded line break in the path is still the lab's 404 with a JSON reason
    (the catch-all route's ``.*`` stopped at it, leaving aiohttp's plain-text 404)."""
    lab, _ = live
    answer = exchange(lab, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), hold=False)
    assert answer is not None and answer.status == 404
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["cache-control"] == "no-store"
