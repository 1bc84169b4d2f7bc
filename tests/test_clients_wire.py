"""Client protocol cores with no sockets: HTTP/1.1, chunked, NDJSON, SSE, poll bodies, frames."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from clients import WIRE_KEYS, WireStats
from clients.base import split_url
from clients.errors import RemoteProtocolError
from clients.http11 import Data, EndOfResponse, ResponseHead, ResponseParser, build_request
from clients.lifecycle import TRANSITIONS, Event, State
from clients.metrics import StalenessSampler, percentile, summary_ms
from clients.poll import parse_poll_body
from clients.records import Received
from clients.sse import SseParser
from clients.stream import NdjsonParser, StreamClient
from clients.websocket import FrameParser, Opcode, accept_for, build_frame
from tests.offline import OfflineClient

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
CHUNKED = HEAD + b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n"


def feed_in_pieces(parser: ResponseParser, data: bytes, size: int) -> list:
    """Feed ``data`` in ``size``-byte pieces; return every event."""
    events = []
    for i in range(0, len(data), size):
        events += parser.feed(data[i : i + size])
    return events


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000], ids=lambda s: f"pieces_of_{s}")
def test_chunked_response_is_classified_exactly_however_it_is_split(size: int) -> None:
    """Head, chunk framing and payload add up to every byte, at any split."""
    parser = ResponseParser()
    events = feed_in_pieces(parser, CHUNKED, size)
    payload = b"".join(e.data for e in events if isinstance(e, Data))
    assert payload == b"hello world"
    assert isinstance(events[0], ResponseHead) and events[0].size == len(HEAD)
    assert events[-1] == EndOfResponse(keep_alive=True)
    assert parser.header_bytes == len(HEAD)
    assert parser.header_bytes + parser.framing_bytes + parser.payload_bytes == len(CHUNKED)
    assert parser.pending == 0 and parser.in_header


def test_keep_alive_responses_follow_each_other() -> None:
    """Two Content-Length responses on one connection give two heads and two ends."""
    one = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab"
    empty = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    events = ResponseParser().feed(one + empty)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["ResponseHead", "Data", "EndOfResponse", "ResponseHead", "EndOfResponse"]


def test_connection_close_and_until_close_bodies() -> None:
    """``Connection: close`` ends keep-alive; a body without length ends at EOF."""
    parser = ResponseParser()
    events = parser.feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc")
    assert [type(e) for e in events] == [ResponseHead, Data]
    assert parser.feed_eof() == [EndOfResponse(keep_alive=False)]


def test_switching_protocols_leaves_the_rest() -> None:
    """After a 101 head the parser stops; the frame bytes behind it are handed over."""
    parser = ResponseParser()
    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    events = parser.feed(head + b"\x81\x02hi")
    assert [e.status for e in events] == [101]
    assert parser.take_rest() == b"\x81\x02hi"


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTX 200 OK\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        HEAD + b"zz\r\n",
        HEAD + b"2\r\nabXY",
    ],
    ids=["bad_version", "bad_status", "bad_header", "bad_chunk_size", "missing_chunk_crlf"],
)
def test_malformed_responses_are_remote_errors(raw: bytes) -> None:
    """Broken HTTP from the peer raises RemoteProtocolError, never something vaguer."""
    with pytest.raises(RemoteProtocolError):
        ResponseParser().feed(raw)


def test_request_bytes() -> None:
    """A request is the request line, Host, User-Agent, extra headers and a blank line."""
    request = build_request("/api/poll?topic=prices", "127.0.0.1:80", [("Accept", "a/b")])
    assert request.startswith(b"GET /api/poll?topic=prices HTTP/1.1\r\nHost: 127.0.0.1:80\r\n")
    assert request.endswith(b"\r\nAccept: a/b\r\n\r\n")


def test_ndjson_splits_on_newlines_not_chunks() -> None:
    """Lines split across feeds come out whole; heartbeats are framing."""
    parser = NdjsonParser()
    assert parser.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert parser.pending == 4
    assert parser.feed(b":2}\n\n\r\n") == [b'{"b":2}']
    assert (parser.body_bytes, parser.framing_bytes, parser.pending) == (14, 5, 0)


def test_sse_fields_and_counts() -> None:
    """Events dispatch on blank lines; data values are body, everything else framing."""
    stream = b": hb\n\nid: 7\ndata: {\"x\":1}\n\nid: 8\r\ndata:a\r\ndata: b\r\n\r\nretry: 5\n"
    parser = SseParser()
    events = [e for i in range(len(stream)) for e in parser.feed(stream[i : i + 1])]
    assert [(e.id, e.data) for e in events] == [("7", b'{"x":1}'), ("8", b"a\nb")]
    assert parser.last_event_id == "8"
    assert parser.body_bytes == len(b'{"x":1}ab')
    assert parser.body_bytes + parser.framing_bytes == len(stream)


def test_poll_body_sizes_each_message_exactly() -> None:
    """Each message's size is its bytes in the body, even with brackets inside strings."""
    messages = [
        orjson.dumps({"topic": "chat", "seq": 1, "t_us": 5, "data": {"text": 'a}]["{\\"'}}),
        b'{"topic": "chat", "seq": 2, "t_us": 6, "data": {"list": [1, {"k": []}]}}',
    ]
    body = b'{"messages": [' + b", ".join(messages) + b'], "head": 2, "missed": 3}'
    parsed = parse_poll_body(body)
    assert [size for _, size in parsed.messages] == [len(m) for m in messages]
    assert parsed.body_bytes == sum(map(len, messages))
    assert parsed.body_bytes + parsed.framing_bytes == len(body)
    assert (parsed.head, parsed.missed) == (2, 3)


@pytest.mark.parametrize(
    "body", [b"not json", b'{"head": 1}', b'{"messages": [1], "head": 1}'],
    ids=["not_json", "no_messages", "not_objects"],
)
def test_bad_poll_bodies(body: bytes) -> None:
    """A poll body that breaks the contract is a remote protocol error."""
    with pytest.raises(RemoteProtocolError):
        parse_poll_body(body)


def test_websocket_accept_key_rfc_example() -> None:
    """The RFC 6455 section 1.3 example key gives the documented accept value."""
    assert accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("length", [0, 125, 126, 65535, 65536], ids=lambda n: f"payload_{n}")
def test_client_frames_are_masked_with_the_right_header(length: int) -> None:
    """Client frame size = 2/4/10-byte header + 4-byte mask + payload; unmasking restores it."""
    payload = bytes(range(256)) * (length // 256) + bytes(range(length % 256))
    frame = build_frame(Opcode.TEXT, payload, mask=b"\x01\x02\x03\x04")
    header = 2 if length < 126 else 4 if length < 65536 else 10
    assert len(frame) == header + 4 + length
    masked = frame[header + 4 :]
    assert bytes(b ^ (1, 2, 3, 4)[i % 4] for i, b in enumerate(masked)) == payload


def test_frame_parser_reports_header_sizes_across_feeds() -> None:
    """Server frames split anywhere come out whole, with their header size."""
    big = b"x" * 300
    data = b"\x81\x02hi" + b"\x81\x7e\x01\x2c" + big + b"\x89\x00"
    parser = FrameParser()
    frames = [f for i in range(0, len(data), 5) for f in parser.feed(data[i : i + 5])]
    assert [(f.opcode, len(f.payload), f.header_size) for f in frames] == [
        (Opcode.TEXT, 2, 2), (Opcode.TEXT, 300, 4), (Opcode.PING, 0, 2),
    ]


def test_masked_server_frame_is_rejected() -> None:
    """A server must not mask its frames."""
    with pytest.raises(RemoteProtocolError):
        FrameParser().feed(b"\x81\x82abcdxx")


def test_lifecycle_table() -> None:
    """Every state can be closed, CLOSED is terminal, and a drop only happens when open."""
    for state, moves in TRANSITIONS.items():
        assert moves[Event.CLOSE] is State.CLOSED, state
    assert set(TRANSITIONS[State.CLOSED].values()) == {State.CLOSED}
    assert Event.DROPPED not in TRANSITIONS[State.CONNECTING]


async def test_a_bad_payload_in_the_first_answer_is_a_protocol_error() -> None:
    """A stream that opens well and then sends garbage (as a proxy that passes chunk framing
    through as payload would) raises RemoteProtocolError, and the client ends CLOSED."""
    answered = asyncio.Event()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"8\r\n5e\r\n{}\n\r\n")
            await reader.read()  # until the client hangs up
        finally:
            writer.close()
            answered.set()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        client = StreamClient(f"http://127.0.0.1:{port}")
        with pytest.raises(RemoteProtocolError, match="bad JSON"):
            async with client:
                pass
        await answered.wait()
    assert client.state is State.CLOSED


def test_delivery_policy_counts_gaps_duplicates_and_missed() -> None:
    """Seq jumps and missed notices are gaps; repeats are duplicates and not delivered."""
    client = OfflineClient("http://127.0.0.1:1", since=0)
    for obj in [
        {"seq": 1, "t_us": 1},
        {"seq": 3, "t_us": 3},
        {"seq": 3, "t_us": 3},
        {"topic": "prices", "missed": 4},
        {"seq": 8, "t_us": 8},
    ]:
        client._accept(obj)
    stats = client.stats()
    assert [r.seq for r in client._ready] == [1, 3, 8]
    assert (stats.messages, stats.gaps, stats.duplicates) == (3, 5, 1)


def test_snapshot_jumps_are_not_gaps() -> None:
    """A latest-per-symbol snapshot skips seqs on purpose."""
    client = OfflineClient("http://127.0.0.1:1")
    for seq in (4, 9, 12):
        client._accept({"seq": seq, "t_us": seq}, snapshot=True)
    assert client.stats().gaps == 0 and all(r.snapshot for r in client._ready)


@pytest.mark.parametrize(
    "url", ["ftp://x", "127.0.0.1:8080", "http://h:99999", "ws://h:1"],
    ids=["ftp", "no_scheme", "bad_port", "ws_scheme"],
)
def test_bad_urls_are_refused_clearly(url: str) -> None:
    """Only http:// and https:// URLs with a host are accepted."""
    with pytest.raises(ValueError, match="URL"):
        split_url(url)


def test_wire_stats_keys() -> None:
    """to_dict gives exactly the documented keys, in order."""
    assert list(WireStats().to_dict()) == list(WIRE_KEYS) == [
        "requests", "request_header_bytes", "response_header_bytes", "body_bytes",
        "framing_bytes", "bytes_sent", "bytes_received", "messages", "reconnects", "gaps",
        "duplicates", "tls_sent_bytes", "tls_received_bytes",
    ]


def test_percentile_and_summary() -> None:
    """Linear-interpolated percentiles; empty input gives None in summaries."""
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 99) == 5
    with pytest.raises(ValueError):
        percentile([], 50)
    assert summary_ms("latency", [1000, 3000], (50, 100)) == {
        "latency_ms_p50": 2.0, "latency_ms_max": 3.0,
    }
    assert summary_ms("latency", [], (99,)) == {"latency_ms_p99": None}


def test_staleness_is_the_age_of_the_newest_message_held() -> None:
    """Samples are now minus the publish time of the highest seq observed."""
    sampler = StalenessSampler(period_s=0.01)
    assert sampler.sample(now=100) is None
    sampler.observe(Received(seq=2, t_us=50, recv_us=60, message={}))
    sampler.observe(Received(seq=1, t_us=10, recv_us=70, message={}))
    assert sampler.sample(now=100) == 50
    assert sampler.samples == [50]
