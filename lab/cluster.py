"""Several server processes sharing one feed: ``python -m lab --workers N``.

The *primary* process owns the feed, the authoritative hub (so there is one
``seq`` order per topic) and the chat room (identities, presence, post limits). It serves no HTTP. It starts N
*worker* processes that all listen on the same port (``SO_REUSEPORT``: the
kernel spreads new connections over them) and connect back to the primary
over a Unix socket. Every message the primary publishes is sent to every
worker as its JSON bytes; each worker ingests it into a replica hub with the
same seq, time and bytes, so a client resumes on whichever worker it lands.

The link between them is :mod:`lab.backplane.workers`'s. With ``--broker``
the primary is this machine's node of the broker: its own hub is then a
replica of Redis's streams (see :mod:`lab.backplane`), and the workers follow
it as always.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import os
import signal
import socket
import tempfile
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import orjson

from lab.app import make_ticks
from lab.backplane import Backplane
from lab.backplane.workers import Link
from lab.chat.errors import ChatError, to_wire
from lab.hub import Hub, Message
from lab.serving import configure_logging, node_backplane, page_url, serve_worker
from lab.settings import Settings

log = logging.getLogger("lab.cluster")

MAX_LINK_BACKLOG = 32 * 1024 * 1024
"""Bytes the primary may hold unsent for one worker before it disconnects that worker."""


def worker_main(settings: Settings, link_path: str, index: int) -> None:
    """Entry point of a worker process (run by multiprocessing)."""
    configure_logging(settings.log_level, f"worker-{index}")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # until the worker's loop handles it
    try:
        asyncio.run(serve_worker(settings, link_path))
    except KeyboardInterrupt:
        pass


# ---------------------------------------------------------------- primary side


class Primary:
    """The hub the workers follow, the chat room, and the links to the workers.

    Its ``backplane`` sequences (in-process: the feed and the room are here;
    a broker: Redis, and this hub is its replica).
    """

    def __init__(self, settings: Settings, backplane: Backplane) -> None:
        self.settings = settings
        self.backplane = backplane
        self.hub = Hub(settings.history)
        self.chat = backplane.chat_room(self.hub, settings)
        self.links: list[Link] = []
        self.ready = 0
        self.all_ready = asyncio.Event()
        self._snapshots: dict[int, tuple[asyncio.Future[None], list[dict[str, Any]]]] = {}
        self._snapshot_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        for topic in self.hub.topics.values():
            topic.listeners.append(self._broadcast)

    def _broadcast(self, message: Message) -> None:
        for link in list(self.links):
            if link.writer.transport.get_write_buffer_size() > MAX_LINK_BACKLOG:
                # A worker this far behind cannot serve its clients fresh prices; cut it
                # loose (it shuts down, its clients reconnect elsewhere) rather than buffer.
                log.error("a worker fell %d bytes behind the feed; disconnecting it", MAX_LINK_BACKLOG)
                self.links.remove(link)
                link.writer.transport.abort()
                continue
            link.send_message(message)

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one worker's link: history first, then live messages and its requests."""
        link = Link(reader, writer)
        for topic in self.hub.topics.values():
            for message in topic.since(0).messages:
                link.send_message(message)
        self.links.append(link)
        try:
            async for line in link.lines():
                item = orjson.loads(line)
                op = item.get("op")
                if op == "ready":
                    self.ready += 1
                    if self.ready == self.settings.workers:
                        self.all_ready.set()
                elif op == "chat":
                    reply = await self._chat(item)
                    if "id" in item:
                        link.send(reply)
                elif op == "stats":
                    # In its own task: this loop must stay free to read the snapshots.
                    task = asyncio.create_task(self._answer_stats(link, item["id"]))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                elif op == "nodes":
                    task = asyncio.create_task(self._answer_nodes(link, item["id"]))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                elif op == "snapshot":
                    self._collect(item)
        finally:
            if link in self.links:
                self.links.remove(link)
            writer.close()

    async def _chat(self, item: dict[str, Any]) -> dict[str, Any]:
        """Carry out a worker's call of the room; the reply (see :mod:`lab.backplane.workers`)."""
        action, args = item.get("action"), item.get("args", [])
        try:
            if action == "join":
                joined = await self.chat.join(*args)
                result: Any = [joined.token, joined.message.json.decode()]
            elif action in ("leave", "say"):
                result = (await getattr(self.chat, action)(*args)).json.decode()
            elif action in ("hold", "release"):
                result = await getattr(self.chat, action)(*args)
            else:
                raise ChatError(f"unknown chat action {action!r}")
        except ChatError as exc:
            return {"id": item.get("id"), **to_wire(exc)}
        return {"id": item.get("id"), "result": result}

    async def _answer_nodes(self, link: Link, reply_to: int) -> None:
        link.send({"id": reply_to, "nodes": await self.backplane.nodes()})

    async def _answer_stats(self, link: Link, reply_to: int) -> None:
        link.send({"id": reply_to, "stats": await self._gather_stats()})

    async def _gather_stats(self) -> list[dict[str, Any]]:
        ident = next(self._snapshot_ids)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._snapshots[ident] = (done, [])
        for link in self.links:
            link.send({"op": "snapshot", "id": ident})
        try:
            await asyncio.wait_for(done, 2.0)
        except TimeoutError:
            log.warning("a worker did not report its counters in time")
        return self._snapshots.pop(ident)[1]

    def _collect(self, item: dict[str, Any]) -> None:
        entry = self._snapshots.get(item["id"])
        if entry is None:
            return
        done, got = entry
        got.append(item["stats"])
        if len(got) == len(self.links) and not done.done():
            done.set_result(None)


def worker_cpus(workers: int, allowed: Collection[int]) -> list[int] | None:
    """One CPU of ``allowed`` per worker, in order; None when there are fewer CPUs than workers."""
    cpus = sorted(allowed)
    return cpus[:workers] if workers <= len(cpus) else None


def pin_workers(pids: Sequence[int]) -> None:
    """Pin each worker process to a CPU of its own, if this process may use enough of them.

    Two workers left to the kernel's placement had a longer latency tail: p99
    at 5,000 clients over seven alternating runs here (WebSocket, SSE, stream)
    25.8 ms pinned vs 28.4 ms not, same p50 — most likely both fan-outs
    sharing one core until the kernel moved one. The primary, which does
    little, is not pinned.
    """
    cpus = worker_cpus(len(pids), os.sched_getaffinity(0))
    if cpus is None:
        log.info("%d workers, fewer CPUs: the kernel places them", len(pids))
        return
    for pid, cpu in zip(pids, cpus, strict=True):
        try:
            os.sched_setaffinity(pid, {cpu})
        except ProcessLookupError:
            pass  # it died at start-up, which run_primary reports


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (not listen) a SO_REUSEPORT socket, so workers can share the port it holds."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


async def run_primary(settings: Settings, announce: Callable[[int], None]) -> int:
    """Start the workers, feed them until a signal, then stop them; the exit status."""
    primary = Primary(settings, await node_backplane(settings))
    try:
        reserved = reserve_port(settings.host, settings.port)
    except OSError as exc:
        raise SystemExit(f"error: cannot listen on {settings.host}:{settings.port}: {exc.strerror}")
    port = reserved.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="rightnowlab-")
    link_path = str(Path(workdir) / "link.sock")
    server = await asyncio.start_unix_server(primary.accept, link_path)
    context = multiprocessing.get_context("spawn")
    worker_settings = settings.replace(port=port)
    workers = [
        context.Process(target=worker_main, args=(worker_settings, link_path, i), daemon=True)
        for i in range(1, settings.workers + 1)
    ]
    for worker in workers:
        worker.start()
    if settings.pin_workers:
        pin_workers([worker.pid for worker in workers if worker.pid is not None])
    feed = asyncio.create_task(primary.backplane.run(
        primary.hub, lambda last: make_ticks(settings, last), dict))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    status = 0
    try:
        ready = asyncio.create_task(primary.all_ready.wait())
        stopped = asyncio.create_task(stop.wait())
        while not ready.done() and not stop.is_set():
            await asyncio.wait({ready, stopped}, timeout=0.2)
            if any(w.exitcode not in (None, 0) for w in workers):
                log.error("a worker failed to start")
                status = 1
                stop.set()
        if primary.all_ready.is_set():
            reserved.close()
            primary.backplane.advertise(page_url(settings, port))
            announce(port)
            await stop.wait()
    finally:
        feed.cancel()
        server.close()
        for link in list(primary.links):
            link.writer.close()  # a worker whose link closes shuts itself down
        await asyncio.gather(*(asyncio.to_thread(w.join, 2.0) for w in workers))
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
        reserved.close()
        Path(link_path).unlink(missing_ok=True)
        os.rmdir(workdir)
    return status
