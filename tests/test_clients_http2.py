"""HTTP/2 clients: the frame counter and session with no sockets, then every HTTP transport
through a real nginx (TLS with ALPN, and h2c), byte for byte against the relay's count."""

from __future__ import annotations

import asyncio

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import RequestReceived

from clients import ServerUnavailable, connect, open_client
from clients.http2 import FRAME_HEADER, PREFACE, FrameCounter, Http2Session
from clients.http11 import Data, EndOfResponse, ResponseHead
from lab.netem import Relay
from tests.conftest import QUIET
from tests.nginx import free_ports, needs_nginx, proxy_in_front

HTTP_TRANSPORTS = ("poll", "longpoll", "stream", "sse")
WAYS = ("h2-tls", "h2c", "http1-tls")
THROUGH_NGINX = [(t, w) for t in HTTP_TRANSPORTS for w in WAYS] + [("websocket", "http1-tls")]
"""Every transport, and each way to reach nginx it can take (WebSocket: HTTP/1.1 only)."""


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    """One HTTP/2 frame as it goes on the wire (RFC 9113 §4.1)."""
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + (
        payload
    )


@pytest.mark.parametrize("size", [1, 5, 9, 10, 1000], ids=lambda s: f"pieces_of_{s}")
def test_frame_counter_classifies_every_octet_however_it_is_split(size: int) -> None:
    """Header blocks, DATA payload and framing (padding and priority included) add up."""
    wire = (
        PREFACE
        + frame(0x4, 0, 0, b"\x00\x03\x00\x00\x00\x64")  # SETTINGS
        + frame(0x1, 0x08 | 0x20 | 0x04, 1, b"\x02" + b"\x00" * 5 + b"HPACK" + b"\x00\x00")
        + frame(0x9, 0x04, 1, b"more")  # CONTINUATION
        + frame(0x0, 0x08, 1, b"\x03" + b"hello" + b"\x00" * 3)  # padded DATA
        + frame(0x8, 0, 0, b"\x00\x00\x10\x00")  # WINDOW_UPDATE
    )
    counter = FrameCounter(preface=True)
    for i in range(0, len(wire), size):
        counter.feed(wire[i : i + size])
    assert (counter.header_bytes, counter.data_bytes, counter.pending) == (9, 5, 0)
    assert counter.header_bytes + counter.data_bytes + counter.framing_bytes == len(wire)
    assert counter.framing_bytes == len(PREFACE) + 5 * FRAME_HEADER + 6 + 1 + 5 + 2 + 1 + 3 + 4


def serve_in_memory(server: H2Connection, data: bytes, body: bytes) -> bytes:
    """An h2 server's answer to ``data``: 200 with ``body`` on each request it completes."""
    for event in server.receive_data(data):
        if isinstance(event, RequestReceived):
            server.send_headers(event.stream_id, [(":status", "200"), ("cache-control", "no-store"),
                                                  ("content-type", "application/json")])
            server.send_data(event.stream_id, body, end_stream=True)
    return server.data_to_send()


def test_session_requests_shrink_as_hpack_remembers_their_headers() -> None:
    """A repeated request's header block is a few octets; responses parse to the same events."""
    server = H2Connection(H2Configuration(client_side=False))
    server.initiate_connection()
    session = Http2Session("https", "127.0.0.1:8443")
    blocks, received = [], 0
    for _ in range(3):
        data, block = session.request("/api/poll?topic=prices", [("Accept", "application/json")])
        blocks.append(block)
        answer = serve_in_memory(server, data, b'{"messages":[]}')
        received += len(answer)
        events = session.feed(answer)
        session.feed(serve_in_memory(server, session.outgoing(), b""))  # acknowledgements
        heads = [e for e in events if isinstance(e, ResponseHead)]
        assert [h.status for h in heads] == [200] and heads[0].headers["cache-control"] == "no-store"
        assert b"".join(e.data for e in events if isinstance(e, Data)) == b'{"messages":[]}'
        assert isinstance(events[-1], EndOfResponse)
    assert blocks[1] < blocks[0] / 3 and blocks[2] <= blocks[1]
    assert session.pending == 0 and session.header_bytes > 0


def test_goaway_after_an_answer_ends_the_connection_without_a_drop() -> None:
    """nginx's GOAWAY after its last answered stream: the answer arrives, keep-alive is off."""
    server = H2Connection(H2Configuration(client_side=False))
    server.initiate_connection()
    session = Http2Session("http", "127.0.0.1:8080")
    data, _ = session.request("/api/poll?topic=prices", [])
    answer = serve_in_memory(server, data, b"{}")
    server.close_connection(last_stream_id=1)
    events = session.feed(answer + server.data_to_send())
    assert [type(e) for e in events] == [ResponseHead, Data, EndOfResponse]
    assert events[-1] == EndOfResponse(keep_alive=False) and session.going_away


async def lab_behind_nginx(make_lab, profile: str = "tuned"):
    """A quiet lab that allows the proxy's origins, and the proxy options on free ports."""
    options = free_ports(profile)
    lab = await make_lab(QUIET.replace(allow_origins=options.origins("127.0.0.1")))
    return lab, options


async def collect(client, count: int) -> list[int]:
    """The seqs of ``count`` messages (bounded by 10 s)."""
    seqs: list[int] = []
    async with asyncio.timeout(10):
        async for received in client:
            seqs.append(received.seq)
            if len(seqs) >= count:
                return seqs
    return seqs


@needs_nginx
@pytest.mark.parametrize(("transport", "way"), THROUGH_NGINX, ids=[f"{t}-{w}" for t, w in THROUGH_NGINX])
async def test_bytes_through_nginx_match_the_relay_exactly(make_lab, transport: str, way: str) -> None:
    """Totals equal what the relay carried; headers, body, framing and TLS add up to them."""
    lab, options = await lab_behind_nginx(make_lab)
    port = options.h2c_port if way == "h2c" else options.port
    assert port is not None
    async with proxy_in_front(lab, options), Relay(upstream=("127.0.0.1", port)) as relay:
        scheme = "http" if way == "h2c" else "https"
        url = relay.url.replace("http://", f"{scheme}://")
        async with open_client(transport, url, since=0, interval=0.05, insecure=True,
                               http2=way.startswith("h2")) as client:
            lab.publish(40)
            seqs = await collect(client, 40)
        await relay.wait_idle()
    stats = client.stats()
    assert seqs == list(range(1, 41))
    assert (stats.bytes_sent, stats.bytes_received) == (relay.bytes_upstream, relay.bytes_downstream)
    assert stats.response_header_bytes + stats.body_bytes + stats.framing_bytes + (
        stats.tls_received_bytes) == stats.bytes_received
    assert stats.request_header_bytes + stats.sent_frame_bytes + stats.tls_sent_bytes == (
        stats.bytes_sent)
    assert stats.body_bytes == sum(len(m.json) for m in lab.hub["prices"].since(0).messages)
    assert (stats.tls_sent_bytes > 0) == (way != "h2c")
    assert (stats.messages, stats.gaps, stats.duplicates, stats.reconnects) == (40, 0, 0, 0)


@needs_nginx
async def test_http2_short_poll_headers_shrink_to_a_few_octets_per_request(make_lab) -> None:
    """Through nginx over h2, a repeated poll (no news: the same path each time) costs under
    15 % of HTTP/1.1's header octets: every field is a reference to HPACK's dynamic table."""
    lab, options = await lab_behind_nginx(make_lab)
    lab.publish(3)
    per_request: dict[bool, float] = {}
    async with proxy_in_front(lab, options):
        for http2 in (False, True):
            url = f"https://127.0.0.1:{options.port}"
            async with open_client("poll", url, interval=0.01, insecure=True, http2=http2) as c:
                first = c.stats().request_header_bytes
                async with asyncio.timeout(10):
                    while c.stats().requests < 11:
                        await c._receive()
                stats = c.stats()
            per_request[http2] = (stats.request_header_bytes - first) / (stats.requests - 1)
    assert per_request[True] < per_request[False] * 0.15, per_request


@needs_nginx
async def test_a_certificate_that_is_not_trusted_is_a_clear_error(make_lab) -> None:
    """Without --insecure the proxy's throw-away certificate fails verification, and says so."""
    lab, options = await lab_behind_nginx(make_lab)
    async with proxy_in_front(lab, options):
        client = open_client("sse", f"https://127.0.0.1:{options.port}", http2=True)
        with pytest.raises(ServerUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            async with client:
                pass


@needs_nginx
async def test_over_https_the_fallback_client_moves_off_a_refused_websocket(make_lab) -> None:
    """Through the default profile over HTTPS the upgrade is lost; auto lands on SSE."""
    options = free_ports("default")
    lab = await make_lab(QUIET.replace(rate=20.0))  # a live feed: SSE's first message comes
    async with proxy_in_front(lab, options):
        client = connect(f"https://127.0.0.1:{options.port}", insecure=True,
                         first_message_timeout=5.0)
        async with client:
            pass
    assert client.transport == "sse" and "upgrade refused" in client.choice_reason


def test_websocket_over_http2_is_refused_with_the_reason() -> None:
    """nginx offers no WebSocket over HTTP/2 (RFC 8441): the client says so."""
    with pytest.raises(ValueError, match="RFC 8441"):
        open_client("websocket", "https://127.0.0.1:8443", http2=True)
