"""nginx as the lab's child process: write the config, start it, notice if it dies, stop it.

nginx runs in the foreground (``daemon off``) as one process (``master_process off``), with
``-p`` pointing at a temporary directory that holds everything it writes and ``-e`` sending
even its start-up errors to the log there. The lab stops it by its PID (SIGTERM, then SIGKILL
after :data:`STOP_TIMEOUT`) and removes the directory; on Linux the kernel also stops it if
the lab dies without doing so (a SIGKILL, a crash). nginx not installed, or failing to
start, is a :class:`ProxyError` whose message is one line a user can act on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import re
import shutil
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .certificate import Certificate, make_certificate
from .config import ProxyPlan, render
from .options import ProxyOptions

START_TIMEOUT = 10.0
"""Seconds nginx gets to accept connections on its TLS port."""

PR_SET_PDEATHSIG = 1
"""Linux's prctl option: a signal the kernel sends a process when its parent dies."""

STOP_TIMEOUT = 5.0
"""Seconds nginx gets to exit after SIGTERM before it is killed."""

INSTALL_HINT = "nginx is not installed: install it (Debian/Ubuntu: apt-get install nginx)"


class ProxyError(Exception):
    """nginx is missing, did not start, or exited while the lab was serving."""


def find_nginx(chosen: str | None = None) -> str:
    """The nginx executable: ``chosen`` if given, else nginx on PATH, else Debian's
    ``/usr/sbin/nginx``; ProxyError with the way to install it if there is none."""
    if chosen is not None:
        found = shutil.which(chosen)
        if found is None:
            raise ProxyError(f"no nginx at {chosen}; {INSTALL_HINT}")
        return found
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found is None:
        raise ProxyError(INSTALL_HINT)
    return found


def last_error(log: Path) -> str:
    """What nginx logged about why it stopped: its first emergency (or alert, or critical)
    line, else its last line, without timestamp and process ids."""
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    if not lines:
        return "nothing in its error log"
    severe = [line for line in lines if re.search(r"\[(emerg|alert|crit)\]", line)]
    line = (severe or lines)[0 if severe else -1]
    return re.sub(r"^.*?\[\w+\] \d+#\d+: (\*\d+ )?", "", line)


def die_with_parent() -> None:
    """Run in the child before nginx starts (Linux): SIGTERM to nginx when the lab dies, even
    by SIGKILL, so no nginx outlives its lab."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def check_free(host: str, ports: list[int]) -> None:
    """ProxyError naming the first of ``ports`` that cannot be listened on right now."""
    for port in ports:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host.strip("[]") or "0.0.0.0", port))
            except OSError as exc:
                raise ProxyError(f"cannot listen on {host}:{port} for the proxy: "
                                 f"{(exc.strerror or str(exc)).lower()}") from None


@dataclass
class RunningProxy:
    """A started nginx: its plan, certificate, process, and a task that ends when it exits."""

    plan: ProxyPlan
    certificate: Certificate
    process: asyncio.subprocess.Process
    exited: asyncio.Task[int]
    run_dir: tempfile.TemporaryDirectory[str]

    @property
    def url(self) -> str:
        """The ``https://`` URL to open."""
        host = self.plan.host if self.plan.host not in ("", "0.0.0.0") else "127.0.0.1"
        return f"https://{host}:{self.plan.port}/"

    def failure(self) -> ProxyError:
        """Why nginx exited (call once ``exited`` is done)."""
        status = self.exited.result()
        how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
        return ProxyError(f"nginx {how}: {last_error(self.plan.error_log)}")

    async def stop(self) -> None:
        """Stop nginx by its PID (SIGTERM, then SIGKILL) and remove its directory."""
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(asyncio.shield(self.exited), STOP_TIMEOUT)
            except TimeoutError:
                self.process.kill()
        with contextlib.suppress(asyncio.CancelledError):
            await self.exited
        self.run_dir.cleanup()


def plan_for(
    options: ProxyOptions, host: str, upstream_port: int, run_dir: Path, longest_hold: float
) -> ProxyPlan:
    """The config plan of ``options`` in front of a lab on ``upstream_port``."""
    return ProxyPlan(
        profile=options.profile, host=host, port=options.port, upstream_port=upstream_port,
        run_dir=run_dir, longest_hold=longest_hold, cleartext_port=options.cleartext_port,
        h2c_port=options.h2c_port, read_timeout=options.read_timeout,
        ignore_accel_buffering=options.ignore_accel_buffering,
    )


async def start_proxy(
    options: ProxyOptions, host: str, upstream_port: int, longest_hold: float,
    extra_names: tuple[str, ...] = (),
) -> RunningProxy:
    """Start nginx in front of the lab and wait until it accepts connections."""
    executable = find_nginx(options.nginx)
    ports = [options.port, options.cleartext_port, options.h2c_port]
    check_free(host, [port for port in ports if port is not None])
    run_dir = tempfile.TemporaryDirectory(prefix="right-now-lab-nginx-")
    plan = plan_for(options, host, upstream_port, Path(run_dir.name), longest_hold)
    certificate = make_certificate(plan.certificate, plan.private_key, extra_names)
    plan.config_file.write_text(render(plan))
    process = await asyncio.create_subprocess_exec(
        executable, "-p", str(plan.run_dir), "-e", str(plan.error_log), "-c", str(plan.config_file),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,  # all of it is in the error log as well
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )
    proxy = RunningProxy(plan, certificate, process, asyncio.create_task(process.wait()), run_dir)
    try:
        await _until_listening(proxy)
    except BaseException:
        await proxy.stop()
        raise
    return proxy


async def _until_listening(proxy: RunningProxy) -> None:
    """Return once nginx accepts a connection; ProxyError if it exits or takes too long."""
    host = proxy.plan.host if proxy.plan.host not in ("", "0.0.0.0") else "127.0.0.1"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    while loop.time() < deadline:
        if proxy.exited.done():
            raise proxy.failure()
        try:
            _, writer = await asyncio.open_connection(host.strip("[]"), proxy.plan.port)
        except OSError:
            await asyncio.wait({proxy.exited}, timeout=0.05)  # not listening yet
            continue
        writer.close()
        return
    raise ProxyError(f"nginx did not accept connections on port {proxy.plan.port} "
                     f"within {START_TIMEOUT:.0f} s")
