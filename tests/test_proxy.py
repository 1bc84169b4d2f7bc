"""``--proxy nginx``: the generated config, the certificate, and a real nginx in front of the lab."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import sys
from pathlib import Path

import aiohttp
import pytest

from lab.proxy.certificate import fingerprint_of
from lab.proxy.config import ProxyPlan, render
from lab.proxy.nginx import last_error
from lab.proxy.options import ProxyOptions
from tests.conftest import QUIET, Lab
from tests.nginx import free_ports, needs_nginx, proxy_in_front

RUN_DIR = Path("/tmp/run-dir-of-test")


def plan(profile: str, **changes: object) -> ProxyPlan:
    """A plan in front of a lab on port 8080 whose longest long-poll hold is 120 s."""
    fields: dict = {"profile": profile, "host": "127.0.0.1", "port": 8443,
                    "upstream_port": 8080, "run_dir": RUN_DIR, "longest_hold": 120.0}
    fields.update(changes)
    return ProxyPlan(**fields)


def test_tuned_profile_follows_the_production_guides() -> None:
    """Tuned: keep-alive HTTP/1.1 upstream, Upgrade passed, no buffering, timeouts past the hold."""
    text = render(plan("tuned"))
    for directive in ("proxy_http_version 1.1;", "keepalive 64;", "proxy_buffering off;",
                      "proxy_set_header Upgrade $http_upgrade;",
                      "proxy_set_header Connection $connection_upgrade;",
                      "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"):
        assert directive in text
    timeout = int(re.search(r"proxy_read_timeout (\d+)s;", text).group(1))  # type: ignore[union-attr]
    assert timeout > 120


def test_default_profile_is_a_bare_proxy_pass() -> None:
    """Default: proxy_pass to the lab and nothing that changes nginx's defaults."""
    text = render(plan("default"))
    assert "proxy_pass http://127.0.0.1:8080;" in text
    for directive in ("proxy_http_version", "proxy_buffering", "Upgrade", "proxy_read_timeout",
                      "keepalive "):
        assert directive not in text


@pytest.mark.parametrize("profile", ["tuned", "default"])
def test_nginx_writes_only_inside_its_run_directory(profile: str) -> None:
    """Every path in the config (pid, logs, temporary files, certificate) is in the run dir."""
    text = render(plan(profile, cleartext_port=8081, h2c_port=8082))
    paths = re.findall(r"\s(/[^\s;]+)[\s;]", text)
    assert len(paths) >= 9
    assert all(path.startswith(f"{RUN_DIR}/") for path in paths), paths
    assert "daemon off;" in text


def test_listens_tls_with_http2_and_optional_cleartext_ports() -> None:
    """TLS with HTTP/2 on the port; cleartext HTTP/1.1 and h2c only when asked for."""
    assert "listen 127.0.0.1:8443 ssl http2;" in render(plan("tuned"))
    assert render(plan("tuned")).count("listen ") == 1
    text = render(plan("tuned", cleartext_port=8081, h2c_port=8082))
    assert "listen 127.0.0.1:8081;" in text and "listen 127.0.0.1:8082 http2;" in text
    assert "listen *:8443 ssl http2;" in render(plan("tuned", host="0.0.0.0"))


def test_an_unknown_profile_is_refused() -> None:
    """A profile that does not exist is a ValueError naming the choices."""
    with pytest.raises(ValueError, match="tuned or default"):
        ProxyOptions("fast")


def test_the_proxy_origins_are_its_https_and_cleartext_urls() -> None:
    """Pages served through the proxy (either port, any loopback name) are the lab's own."""
    origins = ProxyOptions("tuned", 8443, 8081).origins("127.0.0.1")
    for origin in ("https://127.0.0.1:8443", "https://localhost:8443", "https://[::1]:8443",
                   "http://127.0.0.1:8081"):
        assert origin in origins


async def lab_behind(make_lab, options: ProxyOptions) -> Lab:
    """A quiet lab that allows the proxy's origins, as ``python -m lab --proxy`` makes it."""
    return await make_lab(QUIET.replace(allow_origins=options.origins("127.0.0.1")))


async def first_data_line(response: aiohttp.ClientResponse) -> bytes:
    """The first SSE ``data:`` line of ``response`` (heartbeats skipped)."""
    async with asyncio.timeout(5):
        while True:
            line = await response.content.readline()
            assert line, "the stream ended"
            if line.startswith(b"data:"):
                return line


@needs_nginx
async def test_the_certificate_a_client_sees_has_the_printed_fingerprint(make_lab) -> None:
    """The TLS port serves the certificate whose SHA-256 the lab prints, with h2 by ALPN."""
    options = free_ports()
    lab = await lab_behind(make_lab, options)
    async with proxy_in_front(lab, options) as proxy:
        context = ssl.create_default_context(cafile=str(proxy.certificate.authority))
        context.set_alpn_protocols(["h2", "http/1.1"])
        _, writer = await asyncio.open_connection("127.0.0.1", options.port, ssl=context,
                                                  server_hostname="127.0.0.1")
        tls = writer.get_extra_info("ssl_object")
        der = tls.getpeercert(binary_form=True)
        assert tls.selected_alpn_protocol() == "h2"
        writer.close()
        pem = ssl.DER_cert_to_PEM_cert(der).encode()
        assert fingerprint_of(pem) == proxy.certificate.fingerprint
        assert hashlib.sha256(der).hexdigest().upper() == proxy.certificate.fingerprint.replace(":", "")


@needs_nginx
@pytest.mark.parametrize("profile", ["tuned", "default"])
async def test_polls_and_sse_pass_through_either_profile(make_lab, profile: str) -> None:
    """Short poll, a held long poll and an SSE stream all answer through nginx over TLS."""
    options = free_ports(profile)
    lab = await lab_behind(make_lab, options)
    lab.publish(1)
    base = f"https://127.0.0.1:{options.port}"
    async with proxy_in_front(lab, options), aiohttp.ClientSession() as session:
        async with session.get(f"{base}/api/poll?topic=prices", ssl=False) as response:
            assert response.status == 200 and (await response.json())["head"] == 1
        held = asyncio.create_task(session.get(f"{base}/api/longpoll?topic=prices&since=1",
                                               ssl=False))
        async with session.get(f"{base}/api/events?topic=prices&since=1", ssl=False) as stream:
            assert stream.status == 200
            lab.publish(1, start_price=7.0)
            assert b'"seq":2' in await first_data_line(stream)
        async with asyncio.timeout(5):
            async with await held as response:
                assert [m["seq"] for m in (await response.json())["messages"]] == [2]


@needs_nginx
async def test_websocket_upgrades_through_tuned_and_is_refused_by_default(make_lab) -> None:
    """Tuned passes the Upgrade on (a message arrives); the bare default loses it."""
    for profile, upgrades in (("tuned", True), ("default", False)):
        options = free_ports(profile)
        lab = await lab_behind(make_lab, options)
        url = f"wss://127.0.0.1:{options.port}/ws?topic=prices"
        async with proxy_in_front(lab, options), aiohttp.ClientSession() as session:
            if not upgrades:
                with pytest.raises(aiohttp.WSServerHandshakeError):
                    await session.ws_connect(url, ssl=False)
                continue
            async with session.ws_connect(url, ssl=False) as ws:
                lab.publish(1)
                async with asyncio.timeout(5):
                    message = await ws.receive_json()
                assert message["seq"] == 1


@needs_nginx
async def test_pages_served_through_the_proxy_pass_the_origin_check(make_lab) -> None:
    """The proxy's own https origin is allowed; a foreign one still gets 403."""
    options = free_ports()
    lab = await lab_behind(make_lab, options)
    base = f"https://127.0.0.1:{options.port}"
    async with proxy_in_front(lab, options), aiohttp.ClientSession() as session:
        for origin, status in ((base, 200), (f"https://localhost:{options.port}", 200),
                               ("https://elsewhere.example", 403)):
            async with session.get(f"{base}/api/poll?topic=prices", ssl=False,
                                   headers={"Origin": origin}) as response:
                assert response.status == status, origin


async def run_lab(*args: str, timeout: float = 20) -> tuple[int, str, str]:
    """Run ``python -m lab ARGS`` to completion: exit status, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lab", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, out.decode(), err.decode()


@pytest.mark.parametrize("profile", ["tuned", "default"])
async def test_print_config_prints_the_profile_and_exits(profile: str) -> None:
    """--proxy-print-config prints the config of the chosen profile and exits 0."""
    status, out, _ = await run_lab("--proxy", "nginx", "--proxy-profile", profile,
                                   "--proxy-print-config")
    assert status == 0
    assert out == render(plan(profile, run_dir=Path("/tmp/right-now-lab-nginx-XXXXXX"))) + "\n"


async def test_missing_nginx_is_one_line_saying_how_to_install_it() -> None:
    """No nginx: one line on stderr with the way to install it, exit 1, no traceback."""
    status, _, err = await run_lab("--port", "0", "--proxy", "nginx", "--proxy-port", "0",
                                   "--proxy-nginx", "/nonexistent/nginx")
    assert status == 1
    assert err.strip().count("\n") == 0 and "apt-get install nginx" in err
    assert "Traceback" not in err


@needs_nginx
async def test_a_busy_proxy_port_is_one_line_before_anything_is_announced() -> None:
    """The proxy port taken: one line naming it, exit 1, nothing announced."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status, out, err = await run_lab("--port", "0", "--proxy", "nginx",
                                         "--proxy-port", str(port))
    assert status == 1 and out == ""
    assert err == f"error: cannot listen on 127.0.0.1:{port} for the proxy: address already in use\n"


def test_the_reason_nginx_gives_is_its_first_emergency_line(tmp_path: Path) -> None:
    """From nginx's log: the first [emerg] line, without timestamp and process ids."""
    log = tmp_path / "error.log"
    log.write_text(
        "2026/12/08 01:27:55 [emerg] 1187#1187: bind() to 127.0.0.1:8443 failed (98: Address "
        "already in use)\n2026/12/08 01:27:58 [emerg] 1187#1187: still could not bind()\n")
    assert last_error(log) == "bind() to 127.0.0.1:8443 failed (98: Address already in use)"
    assert last_error(tmp_path / "missing.log") == "nothing in its error log"


def children_of(pid: int) -> list[int]:
    """The PIDs of ``pid``'s child processes (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


@needs_nginx
async def test_nginx_dying_stops_the_lab_with_a_reason() -> None:
    """nginx killed under the lab: the lab says so and exits non-zero."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lab", "--port", "0", "--proxy", "nginx", "--proxy-port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        lines = [await asyncio.wait_for(process.stdout.readline(), 20) for _ in range(3)]
        assert b"through nginx (tuned): https://" in lines[1] and b"SHA-256" in lines[2]
        (nginx,) = children_of(process.pid)
        assert Path(f"/proc/{nginx}/comm").read_text().startswith("nginx")
        os.kill(nginx, signal.SIGKILL)
        _, err = await asyncio.wait_for(process.communicate(), 20)
        assert process.returncode == 1
        assert "error: nginx was killed by signal 9" in err.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@needs_nginx
@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
async def test_nginx_does_not_outlive_a_killed_lab() -> None:
    """SIGKILL to the lab (no clean-up possible): the kernel stops its nginx too."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lab", "--port", "0", "--proxy", "nginx", "--proxy-port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        for _ in range(3):
            await asyncio.wait_for(process.stdout.readline(), 20)
        (nginx,) = children_of(process.pid)
        arguments = Path(f"/proc/{nginx}/cmdline").read_bytes().split(b"\0")
        run_dir = Path(arguments[arguments.index(b"-p") + 1].decode())
        process.kill()
        await process.wait()
        async with asyncio.timeout(10):
            while Path(f"/proc/{nginx}").exists() and "Z" not in status_of(nginx):
                await asyncio.sleep(0.05)  # the kernel's signal, then nginx's own exit
        shutil.rmtree(run_dir)  # the killed lab could not remove it
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def status_of(pid: int) -> str:
    """The state letter of ``pid`` in /proc (``Z``: exited, not yet reaped), or ``""``."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


@needs_nginx
async def test_stopping_the_lab_stops_nginx() -> None:
    """SIGTERM to the lab: it exits 0 and its nginx is gone."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lab", "--port", "0", "--proxy", "nginx", "--proxy-port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        for _ in range(3):
            await asyncio.wait_for(process.stdout.readline(), 20)
        (nginx,) = children_of(process.pid)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0
        assert not Path(f"/proc/{nginx}").exists()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
