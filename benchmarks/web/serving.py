"""The lab as a child process on a free port, for the web group (stopped by its caller)."""

from __future__ import annotations

import asyncio
import re
import sys

from lab.proxy.nginx import ProxyError


async def start_lab(rate: float, plain: bool = False,
                    ws_compress: bool = False) -> tuple[asyncio.subprocess.Process, int]:
    """``python -m lab`` on a free port (``--plain``, ``--ws-compress`` if asked); the process
    and its port."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lab", "--no-class-link", "--port", "0", "--rate", str(rate),
        "--log-level", "WARNING",
        *(["--plain"] if plain else []), *(["--ws-compress"] if ws_compress else []),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
    match = re.search(r"serving on http://[^:]+:(\d+)/", line)
    if match is None:
        process.kill()
        await process.wait()
        raise ProxyError(f"the lab did not start: {line.strip()!r}")
    return process, int(match.group(1))


async def stop_lab(process: asyncio.subprocess.Process) -> None:
    """Stop the lab started by :func:`start_lab` (by its PID) and wait for it."""
    if process.returncode is None:
        process.terminate()
    await process.wait()
