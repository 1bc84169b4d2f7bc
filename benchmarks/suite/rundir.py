"""What both suites write into a run directory besides their results: where the run ran.

:func:`environment` is the record every results.json starts with (Python,
aiohttp, the OS, the cores, the host name only as a short hash), read the same
way by the standard runner (:mod:`benchmarks.suite.runner`) and the scale
suite (:mod:`benchmarks.scale.output`). It measures no figure.
"""

from __future__ import annotations

import hashlib
import os
import platform
import socket

import aiohttp

from benchmarks.results.model import Environment


def environment() -> Environment:
    """What the run ran on; the host name only as a short hash."""
    return Environment(
        python=platform.python_version(), aiohttp=aiohttp.__version__, os=platform.platform(),
        cpu_count=os.cpu_count() or 1, machine=platform.machine(),
        hostname_hash=hashlib.sha256(socket.gethostname().encode()).hexdigest()[:12],
    )
