"""The load generator: one worker process holding many clients of one transport.

The runner starts one or more of these (``python -m benchmarks.suite.loadgen --job JSON``)
so that receiving messages never shares a process, or a GIL, with the server or
the relay. Each worker speaks a line protocol, JSON on stdin/stdout:

1. it prints ``{"event": "loaded"}`` once imported, then waits for
   ``{"url": URL}`` (the server or relay to connect to, known only once it runs);
2. it then connects its clients (at most :data:`CONNECT_CONCURRENCY` at a
   time) and prints ``{"event": "ready", ...}`` once every client has received a
   message (or the ready timeout passed; failures are counted, not hidden);
3. on ``{"window": [start_us, end_us], "drain_s": s}`` it records every message
   whose publish time ``t_us`` falls inside the window, its own CPU seconds over
   the window and the clients' wire counters at both edges;
4. each client stops right after its first message published *after* the
   window: messages arrive in seq order, so by then every in-window message is
   in, and stopping between messages leaves nothing of its own in flight (the
   close handshake then makes the byte counts final). A client still waiting
   ``drain_s`` after the window is cancelled instead;
5. it writes its report (:func:`run` docstring) to the job's ``out`` file and
   prints ``{"event": "done"}``.

End of stdin before the window ends stops the worker early. The worker measures
nothing about the server; it does not retry a client that failed to connect.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from clients import open_client
from clients.metrics import StalenessSampler

CONNECT_CONCURRENCY = 200
"""Clients connecting at once; keeps the server's listen backlog from overflowing."""


@dataclass(slots=True)
class Window:
    """The timed window in wall-clock microseconds, and what was measured at its edges."""

    start_us: int = 2**62
    end_us: int = 2**62
    cpu_start: float | None = None
    cpu_end: float | None = None
    wall_s: float | None = None
    wire_start: dict[str, int] | None = None
    wire_end: dict[str, int] | None = None


@dataclass(slots=True)
class Worker:
    """State of one worker: its clients, what they received, and the window."""

    job: dict[str, Any]
    window: Window = field(default_factory=Window)
    clients: dict[int, Any] = field(default_factory=dict)
    ready: set[int] = field(default_factory=set)
    errors: dict[int, str] = field(default_factory=dict)
    received: list[tuple[int, int, int, int]] = field(default_factory=list)
    samplers: dict[int, StalenessSampler] = field(default_factory=dict)
    staleness: list[tuple[int, int, int]] = field(default_factory=list)
    final_stats: dict[int, dict[str, int]] = field(default_factory=dict)
    transports: set[str] = field(default_factory=set)
    finished: set[int] = field(default_factory=set)
    all_ready: asyncio.Event = field(default_factory=asyncio.Event)

    def on_message(self, idx: int, received: Any) -> None:
        """Record one received message of client ``idx``."""
        if idx not in self.ready:
            self.ready.add(idx)
            if len(self.ready) + len(self.errors) >= self.job["clients"]:
                self.all_ready.set()
        sampler = self.samplers.get(idx)
        if sampler is not None:
            sampler.observe(received)
        if received.t_us >= self.window.end_us:
            self.finished.add(idx)
        # Everything is kept and cut to the window at the end: a busy worker may read
        # the window command after the first in-window messages arrived.
        self.received.append((idx, received.seq, received.t_us, received.recv_us))

    def wire_totals(self) -> dict[str, int]:
        """Wire counters summed over every client right now."""
        totals: dict[str, int] = {}
        for idx, client in self.clients.items():
            stats = self.final_stats.get(idx) or client.stats().to_dict()
            for key, value in stats.items():
                totals[key] = totals.get(key, 0) + value
        return totals


async def _client(worker: Worker, idx: int, gate: asyncio.Semaphore) -> None:
    """Run client ``idx`` until cancelled; record why if it fails.

    The final wire counters are read after the client closed, so that bytes of
    the goodbye (a WebSocket close frame) count as the relay counts them.
    """
    job = worker.job
    interval = job.get("interval_s") or 1.0
    client = None
    try:
        async with contextlib.AsyncExitStack() as stack:
            async with gate:
                client = await stack.enter_async_context(
                    open_client(job["transport"], job["url"], topic="prices", interval=interval)
                )
            worker.clients[idx] = client
            worker.transports.add(client.transport)
            async for received in client:
                worker.on_message(idx, received)
                if idx in worker.finished:
                    break  # in seq order, so every in-window message is in; nothing in flight
        if idx not in worker.finished:
            worker.errors[idx] = "the message stream ended"
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - a client's failure is a result, not a crash
        worker.errors[idx] = f"{type(exc).__name__}: {exc}"
    finally:
        if client is not None:
            worker.final_stats[idx] = client.stats().to_dict()
    if len(worker.ready) + len(worker.errors) >= job["clients"]:
        worker.all_ready.set()


async def _staleness_ticker(worker: Worker, period_s: float) -> None:
    """Sample the age of the newest price held, on a fixed clock, inside the window."""
    window = worker.window
    tick = window.start_us
    period_us = int(period_s * 1e6)
    while tick < window.end_us:
        delay = (tick - time.time_ns() // 1000) / 1e6
        if delay > 0:
            await asyncio.sleep(delay)
        now = time.time_ns() // 1000
        for idx, sampler in worker.samplers.items():
            age = sampler.sample(now)
            if age is not None:
                worker.staleness.append((idx, now, age))
        tick += period_us
        while tick <= now:  # a late tick is skipped, not bunched
            tick += period_us


async def _edge(worker: Worker, at_us: int, start: bool) -> None:
    """At a window edge, note this process's CPU seconds and the clients' wire counters."""
    delay = (at_us - time.time_ns() // 1000) / 1e6
    if delay > 0:
        await asyncio.sleep(delay)
    cpu, wire = time.process_time(), worker.wire_totals()
    if start:
        worker.window.cpu_start, worker.window.wire_start = cpu, wire
        worker.window.wall_s = time.monotonic()
    else:
        worker.window.cpu_end, worker.window.wire_end = cpu, wire
        worker.window.wall_s = time.monotonic() - (worker.window.wall_s or time.monotonic())


def _say(event: str, **data: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps({"event": event, **data}) + b"\n")
    sys.stdout.flush()


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    line = await reader.readline()
    if not line:
        raise EOFError("the runner closed stdin")
    return line


async def run(job: dict[str, Any]) -> dict[str, Any]:
    """Do one job (see the module docstring) and return the report written to ``job['out']``.

    Report keys: ``clients``, ``ready``, ``errors`` (client index → reason),
    ``transports`` (names actually in use), ``delivered``, ``min_seq``/``max_seq``
    (in-window), ``samples`` (``[client, seq, t_us, recv_us]``), ``sampled``,
    ``staleness`` (``[client, t_us, staleness_us]``), ``arrivals`` (``[client, seq,
    recv_us]`` over the whole run, if ``keep_arrivals``), ``cpu_window_s``,
    ``window_wall_s``, ``cpu_total_s``, ``wire`` (whole run), ``wire_window``.
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    worker = Worker(job)
    offset = job.get("client_offset", 0)
    for idx in range(offset, offset + min(job["clients"], job.get("staleness_clients", 0))):
        worker.samplers[idx] = StalenessSampler(period_s=job.get("staleness_period_s", 0.01))
    _say("loaded")
    job["url"] = orjson.loads(await _read_line(reader))["url"]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    tasks = [asyncio.create_task(_client(worker, offset + i, gate)) for i in range(job["clients"])]
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(worker.all_ready.wait(), job.get("ready_timeout_s", 20.0))
        first_error = next(iter(worker.errors.values()), None)
        _say("ready", ready=len(worker.ready), failed=len(worker.errors), error=first_error)
        command = orjson.loads(await _read_line(reader))
        worker.window.start_us, worker.window.end_us = command["window"]
        side = [
            asyncio.create_task(_edge(worker, worker.window.start_us, True)),
            asyncio.create_task(_staleness_ticker(worker, job.get("staleness_period_s", 0.01))),
        ]
        await _edge(worker, worker.window.end_us, False)
        await asyncio.gather(*side)
        eof = asyncio.create_task(reader.read())  # end of stdin = stop now
        all_stopped = asyncio.create_task(asyncio.wait(tasks))
        await asyncio.wait([eof, all_stopped], timeout=command.get("drain_s", 1.0),
                           return_when=asyncio.FIRST_COMPLETED)
        eof.cancel()
        all_stopped.cancel()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return _report(worker)


def _report(worker: Worker) -> dict[str, Any]:
    job, window = worker.job, worker.window
    samples = [r for r in worker.received if window.start_us <= r[2] < window.end_us]
    delivered = len(samples)
    seqs = [s[1] for s in samples]
    limit = job.get("max_samples")
    sampled = limit is not None and len(samples) > limit
    if limit is not None and sampled:
        samples = sorted(random.Random(job.get("seed", 1)).sample(samples, limit))
    cpu_window = None
    if window.cpu_start is not None and window.cpu_end is not None:
        cpu_window = window.cpu_end - window.cpu_start
    return {
        "clients": job["clients"],
        "ready": len(worker.ready),
        "errors": {str(k): v for k, v in sorted(worker.errors.items())[:20]},
        "error_count": len(worker.errors),
        "transports": sorted(worker.transports),
        "delivered": delivered,
        "min_seq": min(seqs) if seqs else None,
        "max_seq": max(seqs) if seqs else None,
        "samples": samples,
        "sampled": sampled,
        "staleness": worker.staleness,
        "arrivals": [(c, seq, recv) for c, seq, _t, recv in worker.received]
        if job.get("keep_arrivals") else [],
        "cpu_window_s": cpu_window,
        "window_wall_s": window.wall_s,
        "cpu_total_s": time.process_time(),
        "wire": worker.wire_totals(),
        "wire_window": _delta(window.wire_start, window.wire_end),
    }


def _delta(start: dict[str, int] | None, end: dict[str, int] | None) -> dict[str, int] | None:
    if start is None or end is None:
        return None
    return {key: end[key] - start.get(key, 0) for key in end}


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m benchmarks.suite.loadgen --job JSON``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", required=True, help="the job as a JSON object")
    args = parser.parse_args(argv)
    job = orjson.loads(args.job)
    try:
        report = asyncio.run(run(job))
    except (EOFError, KeyboardInterrupt):
        return 1
    with open(job["out"], "wb") as f:
        f.write(orjson.dumps(report))
    _say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
