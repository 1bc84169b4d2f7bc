"""``python -m benchmarks.scale.swarm``: a lean load-generator process for thousands of connections.

One process holds up to
:data:`~benchmarks.scale.swarm_connections.MAX_CLIENTS` connections of one
transport (WebSocket, SSE, NDJSON stream, long poll or short poll; see
:mod:`benchmarks.scale.swarm_protocols`), spread over several loopback source
addresses (``--sources``, e.g. ``127.0.0.2,127.0.0.3``) so that no single address
runs out of ephemeral ports. It measures per-message latency (receive time minus
``t_us``) on a uniform subsample, exact counts, gaps and duplicates per
connection, failures, and its own CPU seconds. With ``--timed-every K`` (pushes
only) every K-th connection is timed — read every ``--timed-read-ms``, sampled
for latency — and the others are read in sweeps from their first message on,
seldom until the window is over (see
:mod:`benchmarks.scale.swarm_connections`). Each
latency sample carries two receive times: when the kernel queued the bytes on
the client's socket and when this process read them
(:mod:`benchmarks.scale.swarm_socket`). It measures nothing about the server.

Line protocol (JSON, one object per line on stdout):

1. ``{"event": "ready", ...}`` once every connection got a message (or failed,
   or ``--ready-timeout`` passed);
2. on ``{"catch_up": true}`` from stdin it reads every untimed connection once
   and answers ``{"event": "caught_up", "sweep_s": s}``
   (see :meth:`~benchmarks.scale.swarm_connections.Swarm.catch_up`);
3. the window comes either from stdin — ``{"window": [start_us, end_us],
   "drain_s": s}``, how :mod:`benchmarks.scale` runs several swarms on one
   clock — or, with ``--window-s W``, it catches up and opens ``--warmup-s`` later;
4. after the window, once every connection has seen a message published after
   it (or ``drain_s`` passed), the report: ``{"event": "report", ...}`` (see
   :func:`report`), and the process exits.

Bounded: at most :data:`~benchmarks.scale.swarm_connections.MAX_CLIENTS`
connections, ``--max-duration`` seconds in all (then it reports what it has).
End of stdin before a window stops it. This module speaks the line protocol,
times the window and writes the report; holding and reading the connections is
:mod:`benchmarks.scale.swarm_connections`'.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from benchmarks.scale.swarm_connections import (
    CONNECT_CONCURRENCY,
    HOLD_S,
    MAX_CLIENTS,
    SWEEP_AFTER_S,
    SWEEP_S,
    TIMED_READ_MS,
    Swarm,
)
from lab.contract import TRANSPORTS


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale.swarm", description=__doc__
                                     .splitlines()[0], formatter_class=argparse
                                     .ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8080")
    add("--transport", required=True, choices=TRANSPORTS)
    add("--clients", type=int, required=True, help=f"connections (1..{MAX_CLIENTS})")
    add("--client-offset", type=int, default=0, help="first client index (for sample rows)")
    add("--sources", default="127.0.0.1", help="comma-separated local addresses to bind")
    add("--interval", type=float, default=0.0, help="short poll: seconds between polls")
    add("--connect-concurrency", type=int, default=CONNECT_CONCURRENCY,
        help="TCP connects in flight at once (keep the sum over swarms below the server's "
        "backlog)")
    add("--timed-every", type=int, default=1,
        help="pushes: every K-th connection (by client index) is timed, read every "
        "--timed-read-ms and sampled for latency; the others are read in sweeps (every "
        f"{HOLD_S:g} s until {SWEEP_AFTER_S:g} s after the window, then every {SWEEP_S:g} s) "
        "and checked for order and loss only")
    add("--timed-read-ms", type=float, default=TIMED_READ_MS,
        help="pushes: how often timed connections are read, half a period after the latest "
        "publish time seen (set it to the time between two messages, or reads hold several; "
        "0 reads as data arrives)")
    add("--max-samples", type=int, default=20_000, help="latency samples kept (uniform)")
    add("--seed", type=int, default=1, help="seed of the subsample")
    add("--ready-timeout", type=float, default=60.0, help="seconds to connect everyone")
    add("--window-s", type=float, default=None, help="self-timed window (else read stdin)")
    add("--warmup-s", type=float, default=0.5, help="with --window-s: wait after ready")
    add("--drain-s", type=float, default=3.0, help="with --window-s: wait after the window")
    add("--max-duration", type=float, default=900.0, help="hard limit on the whole run")
    add("--idle-priority", action="store_true",
        help="run under SCHED_IDLE: the server always gets a core first, and this process "
        "reads later (latency is taken from the kernel's arrival time, so it still counts "
        "only the server's delay)")
    return parser


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout."""
    sys.stdout.buffer.write(orjson.dumps({"event": event, **fields}) + b"\n")
    sys.stdout.flush()


def report(swarm: Swarm, ready_s: float) -> dict[str, Any]:
    """The final report: what one process saw.

    ``ready_at_window`` counts connections that had their first message when the
    window was set (the rest were still connecting), ``window_late_ms`` how long
    after its start this process learnt of it (messages it read before then are not
    counted); ``delivered`` counts in-window messages, ``timed_delivered`` those of
    the ``timed_clients`` (``batched`` of them read together with an earlier one);
    ``min_seq``/``max_seq`` the seqs seen in the window;
    ``gaps``/``duplicates``/``missed`` are exact sums over connections over their
    whole life; ``incomplete`` counts connections that never saw a post-window
    message; ``cpu_window_s``/``window_wall_s`` the process's CPU over the window;
    ``samples`` rows are ``[client, seq, t_us, recv_us, arrival_us]`` of timed
    connections (a uniform subsample when ``sampled``): ``recv_us`` when this
    process read the message, ``arrival_us`` when the kernel queued it on the
    client's socket.
    """
    rec, conns = swarm.rec, swarm.conns
    for conn in conns:
        if conn.error:
            swarm.errors[conn.error.split(":")[0]] += 1
    cpu = swarm.cpu_window
    wall = swarm.wall_window
    start_us, end_us = rec.start_us, rec.end_us
    polls = [t for t in rec.poll_times if start_us <= t < end_us]
    return {
        "transport": swarm.args.transport, "clients": swarm.args.clients,
        "client_offset": swarm.args.client_offset, "ready": rec.ready,
        "ready_s": round(ready_s, 3), "ready_at_window": swarm.ready_at_window,
        "window_late_ms": round(swarm.window_late_ms, 1),
        "failed": rec.failed, "errors": dict(swarm.errors),
        "incomplete": sum(1 for c in conns if not c.finished),
        "window": [start_us, end_us], "delivered": rec.delivered, "batched": rec.batched,
        "timed_clients": sum(1 for c in conns if c.timed),
        "timed_delivered": rec.timed_delivered,
        "min_seq": rec.min_seq, "max_seq": rec.max_seq,
        "gaps": sum(c.gaps for c in conns), "duplicates": sum(c.duplicates for c in conns),
        "missed": sum(c.missed for c in conns),
        "clients_with_gaps": sum(1 for c in conns if c.gaps),
        "requests": sum(c.requests for c in conns), "window_requests": len(polls),
        "cpu_window_s": round(cpu[1] - cpu[0], 4) if len(cpu) == 2 else None,
        "window_wall_s": round(wall[1] - wall[0], 4) if len(wall) == 2 else None,
        "cpu_total_s": round(time.process_time(), 4),
        "maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "sampled": rec.timed_delivered > len(rec.samples),
        "samples": [list(s) for s in rec.samples],
    }


async def read_command(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next JSON object on stdin, or None at end of input."""
    while True:
        line = await reader.readline()
        if not line:
            return None
        with contextlib.suppress(orjson.JSONDecodeError):
            command = orjson.loads(line)
            if isinstance(command, dict):
                return command


async def stdin_reader() -> asyncio.StreamReader:
    """stdin as an asyncio stream."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def run(args: argparse.Namespace) -> dict[str, Any] | None:
    """Connect, wait for the window, measure it, and return the report (None if stopped)."""
    swarm = Swarm(args)
    started = time.monotonic()
    reader = None if args.window_s is not None else await stdin_reader()
    bring_up = asyncio.ensure_future(swarm.connect_all())
    sweeper = asyncio.ensure_future(swarm.sweep_untimed())
    timed_reader = asyncio.ensure_future(swarm.read_timed_every())
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(swarm.rec.all_ready.wait(), args.ready_timeout)
        ready_s = time.monotonic() - started
        emit("ready", clients=args.clients, ready=swarm.rec.ready, failed=swarm.rec.failed,
             ready_s=round(ready_s, 3))
        if reader is None:
            await swarm.catch_up()
            await asyncio.sleep(args.warmup_s)
            start_us = time.time_ns() // 1000 + 50_000
            end_us, drain_s = start_us + int(args.window_s * 1e6), args.drain_s
        else:
            command = await read_command(reader)
            if command is not None and command.get("catch_up"):
                emit("caught_up", sweep_s=round(await swarm.catch_up(), 3))
                command = await read_command(reader)
            if command is None or "window" not in command:
                return None
            (start_us, end_us), drain_s = command["window"], float(command.get("drain_s", 3.0))
        swarm.rec.open_window(start_us, end_us)
        swarm.ready_at_window = swarm.rec.ready
        swarm.window_late_ms = max(0.0, (time.time_ns() // 1000 - start_us) / 1000)
        swarm.at_edge(start_us)
        swarm.at_edge(end_us)
        wait_s = (end_us - time.time_ns() // 1000) / 1e6 + drain_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(swarm.rec.all_finished.wait(), max(wait_s, 0.1))
        if not swarm.rec.all_finished.is_set():
            await swarm.final_sweep()
        while len(swarm.cpu_window) < 2:  # every connection failed before the window ended
            await asyncio.sleep(0.05)
        return report(swarm, ready_s)
    finally:
        bring_up.cancel()
        sweeper.cancel()
        timed_reader.cancel()
        swarm.close_all()


def lower_priority() -> None:
    """SCHED_IDLE for this process, and the lowest weight for its session's autogroup.

    Each swarm runs in its own session, and with ``sched_autogroup`` (Linux's
    default) every session is a scheduling group of its own that competes as a
    whole: without the second step a swarm's session would weigh as much as
    the server's, whatever its threads' policy.
    """
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    with contextlib.suppress(OSError):  # no autogroups on this kernel
        Path("/proc/self/autogroup").write_text("19")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 with a report, 1 on bad arguments or no window, 130 on Ctrl-C."""
    args = build_parser().parse_args(argv)
    if args.idle_priority:
        try:
            lower_priority()
        except (AttributeError, OSError) as exc:
            print(f"error: cannot run under SCHED_IDLE here: {exc}", file=sys.stderr)
            return 1

    async def bounded() -> dict[str, Any] | None:
        return await asyncio.wait_for(run(args), args.max_duration)

    try:
        result = asyncio.run(bounded())
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"error: gave up after --max-duration {args.max_duration:g} s", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if result is None:
        return 1
    emit("report", **result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
