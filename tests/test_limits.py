"""Token buckets and the per-address connection count, on made-up clocks and transports."""

from __future__ import annotations

import asyncio

import pytest

from lab.admission import Admission, is_loopback, refusal_bytes
from lab.limits import PRUNE_AT, Buckets, Rate, TokenBucket, retry_after, take_all


@pytest.mark.parametrize(
    ("text", "rate"),
    [("1/5", Rate(1.0, 5)), ("2.5", Rate(2.5, 3)), ("0.5", Rate(0.5, 1)), ("10/1", Rate(10, 1))],
)
def test_a_rate_reads_rate_and_burst(text: str, rate: Rate) -> None:
    """``RATE/BURST``, or ``RATE`` alone with the burst rounded up from it."""
    assert Rate.parse(text) == rate


@pytest.mark.parametrize("text", ["", "x", "1/x", "0/5", "-1", "1/0", "inf/2"])
def test_a_bad_rate_is_refused_with_a_reason(text: str) -> None:
    """Nonsense, zero and negative rates and bursts are a ValueError that says what is wrong."""
    with pytest.raises(ValueError, match="rate|burst"):
        Rate.parse(text)


def test_a_bucket_passes_a_burst_then_one_per_interval() -> None:
    """Five at once, then the sixth waits a second; after the wait it passes."""
    bucket = TokenBucket(Rate(1.0, 5), now=100.0)
    assert [bucket.take(100.0) for _ in range(5)] == [0.0] * 5
    assert bucket.take(100.0) == pytest.approx(1.0)
    assert bucket.take(100.5) == pytest.approx(0.5)  # a refusal takes nothing
    assert bucket.take(101.0) == 0.0
    assert bucket.take(101.0) == pytest.approx(1.0)


def test_a_bucket_refills_only_up_to_its_burst() -> None:
    """An hour of silence buys a burst, not an hour of posts."""
    bucket = TokenBucket(Rate(1.0, 3), now=0.0)
    passed = sum(bucket.take(3600.0) == 0.0 for _ in range(10))
    assert passed == 3


def test_take_all_charges_every_bucket_or_none() -> None:
    """An action limited two ways passes only when both have a token, and a refusal by one
    leaves the other untouched."""
    identity, address = TokenBucket(Rate(1.0, 2), 0.0), TokenBucket(Rate(1.0, 1), 0.0)
    assert take_all([identity, address], 0.0) == 0.0
    assert take_all([identity, address], 0.0) == pytest.approx(1.0)
    assert identity.tokens == 1  # not charged for the refused action


def test_buckets_forget_full_ones_when_the_table_grows() -> None:
    """Past ``PRUNE_AT`` keys, buckets that refilled completely are dropped; busy ones stay."""
    buckets = Buckets(Rate(1.0, 1))
    buckets.bucket("busy", 0.0).take(0.0)
    for i in range(PRUNE_AT - 1):
        buckets.bucket(f"idle{i}", 0.0)
    assert len(buckets) == PRUNE_AT
    buckets.bucket("new", 0.5)
    assert len(buckets) == 2  # "busy" (still refilling) and "new"
    assert buckets.bucket("busy", 0.5).take(0.5) == pytest.approx(0.5)


@pytest.mark.parametrize(("wait", "seconds"), [(0.01, 1), (1.0, 1), (1.2, 2), (59.9, 60)])
def test_retry_after_is_whole_seconds_at_least_one(wait: float, seconds: int) -> None:
    """``Retry-After`` rounds the wait up, and never says 0."""
    assert retry_after(wait) == seconds


class FakeTransport(asyncio.Transport):
    """Just what :class:`Admission` asks of a transport: its peer and whether it is closing."""

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host
        self.closing = False
        self.protocol: object = None
        self.written = b""

    def get_extra_info(self, name: str, default: object = None) -> object:
        return (self.host, 40000) if name == "peername" else None

    def is_closing(self) -> bool:
        return self.closing

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def write(self, data: bytes) -> None:
        self.written += data

    def can_write_eof(self) -> bool:
        return False

    def abort(self) -> None:
        self.closing = True


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("192.168.1.20", False), ("10.0.0.1", False), ("::ffff:10.0.0.1", False), ("fe80::1", False),
])
def test_loopback_addresses_are_told_apart(host: str, loopback: bool) -> None:
    """Loopback is 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6; anything else is the LAN."""
    assert is_loopback(host) is loopback


async def test_a_lan_address_is_capped_and_loopback_is_not_by_default() -> None:
    """With the defaults (64 a LAN address, loopback free), the 65th LAN connection is refused
    with a 503 and a JSON reason, while a thousand loopback ones pass."""
    admission = Admission(per_ip=64, loopback=0)
    lan = [FakeTransport("192.168.1.20") for _ in range(65)]
    admitted = [admission.admit(t) for t in lan]
    assert admitted == [True] * 64 + [False]
    assert lan[-1].written.startswith(b"HTTP/1.1 503 ") and b'"error":"too many' in lan[-1].written
    assert all(admission.admit(FakeTransport("127.0.0.1")) for _ in range(1000))
    assert admission.admit(FakeTransport("192.168.1.21"))


async def test_a_closed_connection_frees_its_place() -> None:
    """Once one of an address's connections closes, a new one is admitted in its place; the
    count of an address never grows past its cap."""
    admission = Admission(per_ip=2, loopback=0)
    first, second = FakeTransport("10.0.0.5"), FakeTransport("10.0.0.5")
    assert admission.admit(first) and admission.admit(second)
    assert not admission.admit(FakeTransport("10.0.0.5"))
    first.closing = True
    assert admission.admit(FakeTransport("10.0.0.5"))
    assert admission.open_from("10.0.0.5") == 2


def test_the_refusal_is_a_complete_http_answer() -> None:
    """503, a JSON body of the stated length, and ``Connection: close``."""
    answer = refusal_bytes("too many")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"Connection: close" in head and b"Content-Length: %d" % len(body) in head
    assert body == b'{"error":"too many"}'
