"""A relay whose conditions change while it runs (the lab's class link).

`AdjustableRelay` is a `Relay` whose `reconfigure` applies a new `NetemConfig`
to the connections it accepts from then on *and* to those already open:

* delay, jitter and bandwidth: every open pipe's schedule takes the new
  values for the bytes it reads next (bytes already queued keep their time);
* buffering: every connection carries a `ResponseBuffer` from its first byte,
  holding nothing until a limit is set, so a stream already open starts being
  held back at once and is released when the limit goes away;
* refused upgrades: every connection carries an `UpgradeGate` that only scans
  until refusing is turned on; turning it on also ends every WebSocket tunnel
  already open, as a proxy restarted with that policy would, so clients must
  reconnect and meet the refusal;
* cuts every K s: the cut timer restarts with the new period (or stops).

Like a reverse proxy, it names each client's address in ``X-Forwarded-For``
(replacing whatever the client claimed), so the lab still tells students apart
for its per-address chat limit. Unlike the plain relay it forgets a connection
once closed: it runs for a whole class, and its byte totals count only the
connections still open.
"""

from __future__ import annotations

import asyncio

from lab.netem.config import NetemConfig
from lab.netem.http import ResponseBuffer, UpgradeGate
from lab.netem.relay import Relay, _Connection

__all__ = ["AdjustableRelay"]


class AdjustableRelay(Relay):
    """A `Relay` whose conditions `reconfigure` changes for new and open connections."""

    def filters(self, config: NetemConfig) -> tuple[UpgradeGate | None, ResponseBuffer | None]:
        """Both filters on every connection, switched on or off by the conditions."""
        return UpgradeGate(enabled=config.no_upgrade), ResponseBuffer(config.buffer_bytes)

    def reconfigure(self, config: NetemConfig) -> None:
        """Apply `config` from now on, to new connections and to every open one."""
        old, self.config = self.config, config
        for conn in list(self._active):
            for pipe in (conn.up, conn.down):
                pipe.link.delay_s = config.delay_s
                pipe.link.jitter_s = config.jitter_s
                pipe.link.rate = config.bandwidth_bps
            gate, buffer = conn._gate, conn._buffer
            if isinstance(gate, UpgradeGate):
                gate.enabled = config.no_upgrade
                if config.no_upgrade and gate.tunnelled:
                    conn.abort(cut=False)
            if isinstance(buffer, ResponseBuffer):
                buffer.limit = config.buffer_bytes
                if config.buffer_bytes is None and buffer.held and conn.open:
                    conn.down.send(buffer.finish())
        if config.cut_every_s != old.cut_every_s and self._server is not None:
            if self._cutter is not None:
                self._cutter.cancel()
            self._cutter = None
            if config.cut_every_s:
                self._cutter = asyncio.create_task(self._cut_loop(config.cut_every_s))

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super()._accept(reader, writer)
        peer = writer.get_extra_info("peername")
        gate = self._all[-1]._gate  # the connection's task has not run yet: no head passed
        if isinstance(gate, UpgradeGate) and peer:
            gate.forwarded_for = str(peer[0])

    def _finished(self, conn: _Connection) -> None:
        super()._finished(conn)
        self._all.remove(conn)
