"""Who may talk to the lab from a browser: the origin policy.

A browser tells the server which page a request comes from with the ``Origin``
header (RFC 6454 §7; the WHATWG Fetch standard sends it on every WebSocket
handshake, every POST and every cross-origin request). Without a check, any
page a student opens could open a WebSocket to the lab or post to its chat in
that student's name. :class:`OriginPolicy` allows:

- the origins the server itself is reachable at: ``http://HOST:PORT`` for the
  host it listens on, for ``127.0.0.1``, ``localhost`` and ``[::1]``, and in
  classroom mode (``--host 0.0.0.0``) for every LAN address it prints;
- every ``--allow-origin URL`` (a relay, a proxy, another page of yours).

A request without ``Origin`` (curl, the lab's own clients, a same-origin GET) is
not a browser page acting on someone's behalf, and passes. What a refused
request gets is the transports' business (:func:`lab.transports.common.refuse_foreign`:
403 with a JSON reason, before any WebSocket upgrade). This module does no
network I/O but read this machine's addresses.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

CLASSROOM_HOSTS = ("0.0.0.0", "::", "")
"""Listening addresses that mean "every interface": classroom mode."""

LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
"""The names a browser on this machine reaches the lab by."""


def origin_of(url: str) -> str:
    """``url`` as an origin, ``scheme://host[:port]`` in lower case (the default port dropped,
    as browsers send it); ValueError if it is not an http(s) URL of a host."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"not an origin: {url!r} (a bad port)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname \
            or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"not an origin: {url!r} (expected http://host[:port] or https://…)")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


class OriginPolicy:
    """The origins whose pages may talk to the lab (see the module docstring)."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.allowed: set[str] = {origin_of(url) for url in extra}

    def serve_at(self, host: str, port: int) -> None:
        """Allow the origins of the server listening on ``host``:``port``."""
        hosts = set(LOCAL_HOSTS)
        if host in CLASSROOM_HOSTS:
            hosts.update(lan_addresses())
        else:
            hosts.add(f"[{host}]" if ":" in host else host)
        self.allowed.update(origin_of(f"http://{name}:{port}") for name in hosts)

    def allows(self, origin: str | None) -> bool:
        """Whether a request carrying ``origin`` (None: no ``Origin`` header) may be served."""
        if origin is None:
            return True
        try:
            return origin_of(origin) in self.allowed
        except ValueError:  # "null" (a file or a sandboxed page), or garbage
            return False


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback (for classroom URLs)."""
    found: set[str] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.add(str(info[4][0]))
    except OSError:
        pass
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # UDP connect sends nothing; it picks a route
        found.add(probe.getsockname()[0])
    except OSError:
        pass
    finally:
        probe.close()
    return sorted(a for a in found if not a.startswith("127."))


