"""The ``web`` group as one coroutine: the lab, nginx in front of it, every case and probe.

:func:`run_group` starts the lab (``python -m lab``) as a child process and nginx in front of
it (tuned, then each probe's default), runs the clients in this process, and returns the
document the report's two web chapters are built from (``results.json``'s ``web``; ``web.json``
of ``python -m benchmarks.web``), with WebSocket's permessage-deflate measured last
(:mod:`benchmarks.web.compression`). Every process it starts it stops by its PID. Without nginx,
:func:`skipped` is the document instead: the group's reason for not running.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from lab.proxy.nginx import ProxyError, find_nginx, start_proxy
from lab.proxy.options import ProxyOptions

from .cases import LONGEST_HOLD_S, PROBES, ROUTES, WebSize, measured_cases
from .compression import compression
from .measure import measure
from .probes import verdict
from .serving import start_lab, stop_lab


def skipped(reason: str) -> dict[str, Any]:
    """The document of a group that did not run, saying why."""
    return {"skipped": reason}


def nginx_missing() -> str | None:
    """Why the group cannot run here (nginx not found), or ``None`` when it can."""
    try:
        find_nginx()
    except ProxyError as exc:
        return str(exc)
    return None


def case_name(route: str, transport: str) -> str:
    """How samples.csv names a measured case's rows: ``web-<route>-<transport>``."""
    return f"web-{route}-{transport}"


async def run_group(size: WebSize) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    """Every measured case, every probe, then the compression cases: the group's document, and
    one samples.csv row (:data:`~benchmarks.results.files.SAMPLES_COLUMNS`) per message of a
    measured case's window.

    Raises :class:`~lab.proxy.nginx.ProxyError` when nginx or the lab cannot start.
    """
    lab, port = await start_lab(size.rate, size.plain)
    measured: dict[str, dict[str, dict[str, Any]]] = {}
    probes: dict[str, dict[str, dict[str, Any]]] = {}
    rows: list[tuple[Any, ...]] = []

    def say(text: str) -> None:
        print(f"web: {text}", flush=True)

    try:
        tuned = await start_proxy(ProxyOptions("tuned", 0).resolved("127.0.0.1"), "127.0.0.1",
                                  port, LONGEST_HOLD_S)
        try:
            for route, transport in measured_cases():
                url = (f"https://127.0.0.1:{tuned.plan.port}" if route.proxied
                       else f"http://127.0.0.1:{port}")
                say(f"{transport} via {route.label}")
                found, samples = await measure(url, transport, route.http2, size.clients,
                                               size.seconds, server_pid=lab.pid)
                measured.setdefault(transport, {})[route.name] = found
                rows.extend((case_name(route.name, transport), transport, client, seq, t, recv,
                             recv - t, "") for client, seq, t, recv in samples)
        finally:
            await tuned.stop()
        for probe in PROBES:
            options = ProxyOptions("default", 0, 0, read_timeout=probe.read_timeout,
                                   ignore_accel_buffering=probe.ignore_accel_buffering)
            proxy = await start_proxy(options.resolved("127.0.0.1"), "127.0.0.1", port,
                                      LONGEST_HOLD_S)
            try:
                url = f"http://127.0.0.1:{proxy.plan.cleartext_port}"
                seconds = max(size.seconds, 3 * (probe.read_timeout or 0))
                for transport in probe.transports:
                    say(f"{transport} via {probe.label}")
                    found = await verdict(url, probe, transport, seconds)
                    if found["verdict"] != "works":
                        found["fix"] = probe.fix
                    probes.setdefault(probe.name, {})[transport] = found
            finally:
                await proxy.stop()
    finally:
        await stop_lab(lab)
    say("websocket with and without permessage-deflate")
    compressed = await compression(size)
    return {
        **asdict(size), "serving": "plain" if size.plain else "engineered",
        "routes": {route.name: route.label for route in ROUTES},
        "probe_labels": {probe.name: probe.label for probe in PROBES},
        "measured": measured, "probes": probes, "compression": compressed,
    }, rows
