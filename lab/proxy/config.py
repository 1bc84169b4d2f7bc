"""nginx's configuration for the lab, as pure functions: a :class:`ProxyPlan` in, text out.

Two profiles, so a class can see what a reverse proxy does to each transport:

- ``tuned`` follows the production guides for long-lived HTTP: the upstream is spoken to
  in HTTP/1.1 with keep-alive (``proxy_http_version 1.1``, a ``keepalive`` pool), the
  WebSocket handshake's ``Upgrade`` and ``Connection`` headers are passed on (nginx drops
  hop-by-hop headers otherwise), the client's address and scheme go along
  (``X-Forwarded-For``, ``X-Forwarded-Proto``: to the lab every request now comes from
  127.0.0.1), responses are not buffered (``proxy_buffering off``), and
  the read timeout is longer than the longest long-poll hold, so a quiet request is not cut;
- ``default`` is a bare ``proxy_pass``: HTTP/1.0 to the upstream, no ``Upgrade`` passed, every
  response buffered unless it says ``X-Accel-Buffering: no``, a 60 s read timeout.

Both listen with TLS on ``port`` (HTTP/2 and HTTP/1.1, chosen by ALPN) and, if asked, on a
cleartext HTTP/1.1 port and a cleartext HTTP/2 ("h2c", prior knowledge only: nginx 1.22
cannot offer both on one cleartext port) port for benchmark clients. Every path nginx writes
(pid, logs, temporary files) is inside ``run_dir``: nothing outside it is touched and no root
is needed. This module does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROFILES = ("tuned", "default")
"""The proxy profiles ``--proxy-profile`` offers."""

READ_TIMEOUT_MARGIN = 30.0
"""Seconds the tuned read timeout lies above the longest long-poll hold."""

UPSTREAM_KEEPALIVE = 64
"""Idle keep-alive connections to the lab each nginx worker keeps (tuned)."""


@dataclass(frozen=True, slots=True)
class ProxyPlan:
    """Everything the config depends on: where nginx listens, where the lab is, the profile.

    Two knobs of the ``default`` profile exist for experiments (the benchmarks' "what breaks"
    cases), not for the CLI: ``read_timeout`` sets ``proxy_read_timeout`` (nginx's own is
    60 s), and ``ignore_accel_buffering`` makes nginx ignore the lab's
    ``X-Accel-Buffering: no``, so it buffers the streams too.
    """

    profile: str
    host: str
    port: int
    upstream_port: int
    run_dir: Path
    longest_hold: float
    cleartext_port: int | None = None
    h2c_port: int | None = None
    read_timeout: float | None = None
    ignore_accel_buffering: bool = False

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown proxy profile {self.profile!r}; choose {' or '.join(PROFILES)}")

    @property
    def certificate(self) -> Path:
        """The certificate chain nginx serves."""
        return self.run_dir / "cert.pem"

    @property
    def private_key(self) -> Path:
        """The certificate's private key."""
        return self.run_dir / "key.pem"

    @property
    def config_file(self) -> Path:
        """Where the generated config is written."""
        return self.run_dir / "nginx.conf"

    @property
    def error_log(self) -> Path:
        """nginx's error log (start-up errors included, by ``-e``)."""
        return self.run_dir / "error.log"


def listen_address(host: str, port: int) -> str:
    """``host:port`` as nginx's ``listen`` wants it (IPv6 in brackets, every interface as ``*``)."""
    if host in ("", "0.0.0.0"):
        return f"*:{port}"
    if ":" in host:
        return f"[{host.strip('[]')}]:{port}"
    return f"{host}:{port}"


def render(plan: ProxyPlan) -> str:
    """The whole ``nginx.conf`` for ``plan``."""
    run = plan.run_dir
    listens = [f"listen {listen_address(plan.host, plan.port)} ssl http2;"]
    if plan.cleartext_port is not None:
        listens.append(f"listen {listen_address(plan.host, plan.cleartext_port)};")
    if plan.h2c_port is not None:
        listens.append(f"listen {listen_address(plan.host, plan.h2c_port)} http2;")
    body = _tuned(plan) if plan.profile == "tuned" else _default(plan)
    server = "\n".join(
        [
            *listens,
            f"ssl_certificate {plan.certificate};",
            f"ssl_certificate_key {plan.private_key};",
            "ssl_protocols TLSv1.2 TLSv1.3;",
            body,
        ]
    )
    return f"""\
# Right Now Lab: nginx in front of the lab ({plan.profile} profile), generated at start.
daemon off;
master_process off;
worker_processes 1;
pid {run}/nginx.pid;
error_log {plan.error_log} warn;

events {{
    worker_connections 16384;
}}

http {{
    access_log off;
    client_body_temp_path {run}/client_body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
{_upstream(plan)}
    server {{
{_indent(server, 8)}
    }}
}}
"""


def _upstream(plan: ProxyPlan) -> str:
    if plan.profile == "default":
        return ""
    return f"""
    upstream lab {{
        server 127.0.0.1:{plan.upstream_port};
        keepalive {UPSTREAM_KEEPALIVE};
    }}

    # A WebSocket handshake asks the lab to upgrade; any other request keeps the upstream
    # connection alive (an empty Connection header), so the keep-alive pool is used.
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' '';
    }}
"""


def _tuned(plan: ProxyPlan) -> str:
    timeout = int(plan.longest_hold + READ_TIMEOUT_MARGIN)
    return f"""\
location / {{
    proxy_pass http://lab;
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $connection_upgrade;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_buffering off;
    proxy_request_buffering off;
    proxy_read_timeout {timeout}s;
    proxy_send_timeout {timeout}s;
}}"""


def _default(plan: ProxyPlan) -> str:
    lines = [f"    proxy_pass http://127.0.0.1:{plan.upstream_port};"]
    if plan.read_timeout is not None:
        lines.append(f"    proxy_read_timeout {plan.read_timeout:g}s;")
    if plan.ignore_accel_buffering:
        lines.append("    proxy_ignore_headers X-Accel-Buffering;")
    return "location / {\n" + "\n".join(lines) + "\n}"


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.splitlines())
