"""What ``--proxy nginx`` was asked for, with free ports chosen and the proxy's own origins.

The lab must let pages served through the proxy talk to it (:class:`lab.origins.OriginPolicy`),
so the proxy's ports are fixed before the app is built: a port of 0 is replaced here by a
port that was free a moment ago. This module reads this machine's addresses and binds
throw-away sockets, nothing else.
"""

from __future__ import annotations

import dataclasses
import socket
from dataclasses import dataclass

from lab.origins import CLASSROOM_HOSTS, LOCAL_HOSTS, lan_addresses

from .config import PROFILES


@dataclass(frozen=True, slots=True)
class ProxyOptions:
    """The proxy's flags: its profile, its TLS port, the optional cleartext ports, which nginx."""

    profile: str = "tuned"
    port: int = 8443
    cleartext_port: int | None = None
    h2c_port: int | None = None
    nginx: str | None = None
    read_timeout: float | None = None
    ignore_accel_buffering: bool = False

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown proxy profile {self.profile!r}; choose {' or '.join(PROFILES)}")
        for port in (self.port, self.cleartext_port, self.h2c_port):
            if port is not None and not 0 <= port <= 65535:
                raise ValueError("proxy ports must be 0..65535")

    def resolved(self, host: str) -> ProxyOptions:
        """These options with every port of 0 replaced by a free one on ``host``."""
        def pick(port: int | None) -> int | None:
            return free_port(host) if port == 0 else port

        return dataclasses.replace(
            self, port=pick(self.port) or self.port, cleartext_port=pick(self.cleartext_port),
            h2c_port=pick(self.h2c_port),
        )

    def origins(self, host: str) -> tuple[str, ...]:
        """The origins of pages served through the proxy (``https://`` and cleartext ``http://``)."""
        names = list(LOCAL_HOSTS)
        if host in CLASSROOM_HOSTS:
            names += lan_addresses()
        elif host not in names:
            names.append(f"[{host}]" if ":" in host else host)
        found = [f"https://{name}:{self.port}" for name in names]
        if self.cleartext_port is not None:
            found += [f"http://{name}:{self.cleartext_port}" for name in names]
        return tuple(found)


def free_port(host: str) -> int:
    """A TCP port free on ``host`` right now (another process may take it before nginx does)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host.strip("[]") or "0.0.0.0", 0))
        return int(probe.getsockname()[1])
