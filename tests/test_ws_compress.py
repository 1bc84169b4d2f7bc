"""WebSocket permessage-deflate (RFC 7692): the lab's ``--ws-compress`` and the client's
``compress``: negotiation, inflating with and without context takeover, and exact byte counts
through the relay in plain and fast serving alike."""

from __future__ import annotations

import zlib

import orjson
import pytest

from clients import RemoteProtocolError, open_client
from clients.deflate import TAIL, Inflater, accept, offer
from clients.websocket import FrameParser, handshake_headers
from lab.netem import Relay
from tests.conftest import QUIET
from tests.test_clients import collect

PRICES = [b'{"topic":"prices","seq":%d,"data":{"symbol":"ACME","price":101.%02d}}' % (n, n)
          for n in range(1, 6)]


def deflated(messages: list[bytes], takeover: bool) -> list[bytes]:
    """What a server sends for ``messages``: raw deflate, sync-flushed, the tail left off."""
    out, z = [], zlib.compressobj(wbits=-15)
    for data in messages:
        if not takeover:
            z = zlib.compressobj(wbits=-15)
        compressed = z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)
        assert compressed.endswith(TAIL)
        out.append(compressed[:-4])
    return out


@pytest.mark.parametrize("takeover", [True, False], ids=["takeover", "no-takeover"])
def test_inflating_follows_the_context_the_server_kept(takeover: bool) -> None:
    """With takeover one inflater serves the connection; without, each message stands alone;
    a later price compresses smaller when the context holds the earlier ones."""
    wire = deflated(PRICES, takeover)
    inflater = Inflater(15, takeover)
    assert [inflater.inflate(p) for p in wire] == PRICES
    if takeover:
        assert len(wire[-1]) < len(deflated(PRICES, False)[-1])
        with pytest.raises(RemoteProtocolError):  # out of its context, a later one is garbage
            Inflater(15, True).inflate(wire[-1])


@pytest.mark.parametrize(("answer", "takeover", "bits"), [
    ("permessage-deflate", True, 15),
    ("permessage-deflate; server_no_context_takeover", False, 15),
    ("permessage-deflate; server_max_window_bits=10; client_max_window_bits=12", True, 10),
])
def test_the_servers_answer_configures_the_inflater(answer: str, takeover: bool,
                                                    bits: int) -> None:
    """Parameters of the accepted extension set the window and the takeover."""
    inflater = accept(answer, offered=True)
    assert inflater is not None and (inflater.takeover, inflater.window_bits) == (takeover, bits)


@pytest.mark.parametrize(("answer", "offered"), [
    ("permessage-deflate", False),
    ("x-webkit-deflate-frame", True),
    ("permessage-deflate; server_max_window_bits=20", True),
    ("permessage-deflate; mystery", True),
])
def test_an_answer_the_client_cannot_honour_fails_the_connection(answer: str,
                                                                 offered: bool) -> None:
    """An extension not offered, or a parameter outside RFC 7692, is a protocol error."""
    with pytest.raises(RemoteProtocolError):
        accept(answer, offered)


def test_rsv1_only_on_a_negotiated_messages_first_frame() -> None:
    """RSV1 without the extension, or on a control or continuation frame, is refused."""
    compressed = bytes((0xC1, 1)) + b"x"
    with pytest.raises(RemoteProtocolError):
        FrameParser().feed(compressed)
    parser = FrameParser()
    parser.deflate = True
    assert parser.feed(compressed)[0].compressed
    with pytest.raises(RemoteProtocolError):
        parser.feed(bytes((0xC9, 0)))  # a ping with RSV1
    assert ("Sec-WebSocket-Extensions", offer()) in handshake_headers("k", compress=True)
    assert "server_no_context_takeover" in offer(context_takeover=False)
    assert "Sec-WebSocket-Extensions" not in dict(handshake_headers("k"))


@pytest.mark.parametrize(("server", "client", "compressed"), [
    (True, True, True), (True, False, False), (False, True, False),
], ids=["both", "server-only", "client-only"])
@pytest.mark.parametrize("serving", ["plain", "fast"])
async def test_compressed_bytes_match_the_relay_exactly(make_lab, serving: str, server: bool,
                                                        client: bool, compressed: bool) -> None:
    """Deflated only when both sides want it; either way the client's totals equal what the
    relay carried and every message arrives intact (body bytes are the wire's)."""
    lab = await make_lab(QUIET.replace(ws_compress=server, plain=serving == "plain"))
    async with Relay(upstream=("127.0.0.1", lab.port)) as relay:
        async with open_client("websocket", relay.url, since=0, compress=client) as ws:
            lab.publish(40)
            got = await collect(ws, count=40)
        await relay.wait_idle()
        stats = ws.stats()
    sent = lab.hub["prices"].since(0).messages
    assert [r.message for r in got] == [orjson.loads(m.json) for m in sent]
    assert stats.bytes_sent == relay.bytes_upstream
    assert stats.bytes_received == relay.bytes_downstream
    assert stats.response_header_bytes + stats.body_bytes + stats.framing_bytes == (
        stats.bytes_received)
    plain_body = sum(len(m.json) for m in sent)
    assert (stats.body_bytes < plain_body / 2) if compressed else stats.body_bytes == plain_body


async def test_asking_for_no_context_takeover_costs_bytes(make_lab) -> None:
    """A client that asks the server to compress each message alone gets that (the answer
    says so) and more body bytes for the same alike prices."""
    lab = await make_lab(QUIET.replace(ws_compress=True))
    bodies = {}
    for takeover in (True, False):
        async with open_client("websocket", lab.base, since=0, compress=True,
                               context_takeover=takeover) as ws:
            if takeover:
                lab.publish(30)
            await collect(ws, count=30)
            assert ws._inflater is not None and ws._inflater.takeover is takeover
        bodies[takeover] = ws.stats().body_bytes
    assert bodies[True] < bodies[False]
