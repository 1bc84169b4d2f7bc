"""The class link: the whole lab again, through the network relay, on a second port.

Students open the class link; every byte they exchange with the lab crosses
an in-process `lab.netem.adjust.AdjustableRelay` whose conditions follow the
app's `lab.network.Network` (a change reaches new and open connections at
once). The direct URL is untouched, so what benchmarks measure there does not
change.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.netem.adjust import AdjustableRelay
from lab.netem.config import is_loopback
from lab.network import Conditions, Network
from lab.origins import CLASSROOM_HOSTS


@dataclass(frozen=True)
class ClassLink:
    """A running class link: its relay (listening) and the URL students open."""

    relay: AdjustableRelay

    @property
    def port(self) -> int:
        """The port students connect to."""
        return self.relay.port

    async def close(self) -> None:
        """Stop listening and reset every open connection."""
        await self.relay.close()


async def start_class_link(network: Network, host: str, port: int, lab_port: int) -> ClassLink:
    """Listen on `host`:`port` (0: any free port) in front of the lab on `lab_port`;
    OSError if the port cannot be had."""
    upstream = "127.0.0.1" if host in CLASSROOM_HOSTS or is_loopback(host) else host
    relay = AdjustableRelay((upstream, lab_port), network.conditions.netem(), host=host or "::",
                            port=port, allow_remote=True)
    await relay.start()

    def follow(conditions: Conditions, cut_now: bool) -> None:
        relay.reconfigure(conditions.netem())
        if cut_now:
            relay.cut_all()

    network.listen(follow)
    return ClassLink(relay)
