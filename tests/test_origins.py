"""The origin policy: pages of a foreign origin get 403 on every route, the lab's own pass."""

from __future__ import annotations

import subprocess
import sys

import aiohttp
import pytest

from lab import origins
from lab.origins import OriginPolicy, origin_of
from lab.settings import Settings
from tests.conftest import QUIET, Lab

FOREIGN = "http://evil.example"

ROUTES = [
    ("GET", "/api/poll?topic=prices"), ("GET", "/api/longpoll?topic=prices&timeout=0.1"),
    ("GET", "/api/stream?topic=prices"), ("GET", "/api/events?topic=prices"),
    ("GET", "/api/stats"), ("GET", "/api/time"), ("GET", "/healthz"), ("GET", "/"),
    ("GET", "/dashboard"), ("GET", "/static/app.js"), ("POST", "/api/chat"),
    ("POST", "/api/chat/join"), ("POST", "/api/chat/leave"), ("GET", "/no/such/path"),
]
"""Every route the lab serves over plain HTTP (the WebSocket handshake is tested on its own)."""


@pytest.mark.parametrize(("url", "origin"), [
    ("HTTP://LocalHost:8080/", "http://localhost:8080"), ("http://h:80", "http://h"),
    ("https://h:443", "https://h"), ("http://[::1]:8080", "http://[::1]:8080"),
    ("https://class.example:8443", "https://class.example:8443"),
])
def test_an_origin_is_scheme_host_and_port(url: str, origin: str) -> None:
    """URLs become origins as a browser sends them: lower case, no default port, no path."""
    assert origin_of(url) == origin


@pytest.mark.parametrize("url", ["null", "ftp://h", "http://", "http://h/page", "h:8080",
                                 "http://h:99999", "http://u@h"])
def test_what_is_not_an_origin_is_refused(url: str) -> None:
    """A value that names no http(s) origin is a ValueError naming it."""
    with pytest.raises(ValueError, match="not an origin"):
        origin_of(url)


def test_the_policy_allows_the_servers_own_origins_and_the_extra_ones() -> None:
    """Loopback names at the server's port, the host it listens on, and ``--allow-origin``."""
    policy = OriginPolicy(["http://relay.example:9000/"])
    policy.serve_at("127.0.0.1", 8080)
    for allowed in (None, "http://127.0.0.1:8080", "http://localhost:8080",
                    "http://[::1]:8080", "http://relay.example:9000"):
        assert policy.allows(allowed), allowed
    for refused in (FOREIGN, "null", "http://127.0.0.1:8081", "https://127.0.0.1:8080", ""):
        assert not policy.allows(refused), refused


def test_classroom_mode_allows_every_lan_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """Listening on every interface, the LAN addresses the lab prints are allowed too."""
    monkeypatch.setattr(origins, "lan_addresses", lambda: ["192.168.1.20"])
    policy = OriginPolicy()
    policy.serve_at("0.0.0.0", 8080)
    assert policy.allows("http://192.168.1.20:8080") and policy.allows("http://localhost:8080")
    assert not policy.allows("http://192.168.1.21:8080")


@pytest.fixture
def lab_settings(serving: str) -> Settings:
    """Both ways of serving, with one extra origin allowed."""
    return QUIET.replace(plain=serving == "plain", allow_origins=("http://relay.example:9000",))


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_a_foreign_page_gets_403_with_a_reason(lab: Lab, method: str, path: str) -> None:
    """Every route refuses a foreign ``Origin`` with 403 and a JSON reason naming it."""
    async with lab.session.request(method, lab.base + path, headers={"Origin": FOREIGN},
                                   json={"user": "mallory", "text": "hi"}) as response:
        assert response.status == 403
        assert FOREIGN in (await response.json())["error"]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("origin", ["own", "http://relay.example:9000", None])
async def test_the_labs_own_pages_and_allowed_origins_pass(lab: Lab, method: str, path: str,
                                                           origin: str | None) -> None:
    """The lab's own origin, an ``--allow-origin`` one, or none at all: never 403."""
    headers = {} if origin is None else {"Origin": lab.base if origin == "own" else origin}
    async with lab.session.request(method, lab.base + path, headers=headers,
                                   json={"user": "ada", "text": "hi"}) as response:
        assert response.status != 403


async def test_a_foreign_websocket_handshake_is_refused_before_the_upgrade(lab: Lab) -> None:
    """403 instead of 101: no socket is opened for a foreign page; the lab's own page gets one."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await lab.session.ws_connect(f"{lab.base}/ws?topic=prices", origin=FOREIGN)
    assert refused.value.status == 403
    async with lab.session.ws_connect(f"{lab.base}/ws?topic=prices", origin=lab.base) as ws:
        assert not ws.closed


async def test_a_foreign_chat_post_publishes_nothing(lab: Lab) -> None:
    """A refused post reaches no one: the chat topic's head does not move."""
    head = lab.hub["chat"].head
    async with lab.session.post(f"{lab.base}/api/chat/join", json={"user": "teacher"},
                                headers={"Origin": FOREIGN}) as response:
        assert response.status == 403
    assert lab.hub["chat"].head == head


def test_a_bad_allow_origin_is_a_one_line_error() -> None:
    """``--allow-origin`` that is not an origin: one line on stderr, exit 1, no traceback."""
    done = subprocess.run([sys.executable, "-m", "lab", "--port", "0", "--allow-origin",
                           "ftp://x"], check=False, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: not an origin: 'ftp://x' (expected http://host[:port] or https://…)"]
