"""A real nginx in front of an in-process lab, for the tests that need one (skipped without it)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from lab.proxy.nginx import RunningProxy, start_proxy
from lab.proxy.options import ProxyOptions
from lab.transports.common import SETTINGS_KEY
from tests.conftest import Lab

needs_nginx = pytest.mark.skipif(
    shutil.which("nginx") is None and shutil.which("nginx", path="/usr/sbin") is None,
    reason="nginx is not installed (apt-get install nginx)",
)
"""Mark a test that runs a real nginx."""


def free_ports(profile: str = "tuned") -> ProxyOptions:
    """Proxy options on free ports: TLS, cleartext HTTP/1.1 and h2c."""
    return ProxyOptions(profile, 0, 0, 0).resolved("127.0.0.1")


@asynccontextmanager
async def proxy_in_front(lab: Lab, options: ProxyOptions) -> AsyncIterator[RunningProxy]:
    """nginx with ``options`` in front of ``lab``, stopped by its PID afterwards."""
    hold = lab.app[SETTINGS_KEY].longpoll_max
    proxy = await start_proxy(options, "127.0.0.1", lab.port, hold)
    try:
        yield proxy
    finally:
        await proxy.stop()
