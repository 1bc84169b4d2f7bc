"""``python -m lab --demo``: three minutes of worsening network on the class link, then calm.

Each step changes the class link's conditions through the same `lab.network.Network`
the instructor's controls change, with an announcement the page shows in its
banner, so a class sees what changed and what to look for.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lab.network import Network

CALM: dict[str, Any] = {"delay_ms": 0, "jitter_ms": 0, "bandwidth_kbps": None,
                        "cut_every_s": None, "refuse_upgrade": False, "buffering_proxy": False}

STEPS: tuple[tuple[float, str, dict[str, Any]], ...] = (
    (20, ("Demo 1/7 — calm: on loopback every push transport looks instant; short poll lags "
          "by up to its interval."), CALM),
    (30, ("Demo 2/7 — 100 ms each way: pushes arrive 100 ms late; a long poll needs a new "
          "request after each answer, so its latency steps up."), {**CALM, "delay_ms": 100}),
    (30, ("Demo 3/7 — 300 ms with up to 100 ms of jitter: latency grows and wobbles; order is "
          "kept."), {**CALM, "delay_ms": 300, "jitter_ms": 100}),
    (30, ("Demo 4/7 — a buffering proxy: the chunked stream and SSE freeze, then arrive in "
          "bursts; polls still answer."), {**CALM, "buffering_proxy": True}),
    (25, ("Demo 5/7 — WebSocket refused by a proxy: the WebSocket panel fails and the chat falls "
          "back to another transport."), {**CALM, "refuse_upgrade": True}),
    (25, ("Demo 6/7 — every connection cut every 5 s: watch each transport reconnect and resume "
          "without losing a message."), {**CALM, "cut_every_s": 5}),
    (20, "Demo 7/7 — calm again: everything recovers.", CALM),
)
"""(seconds, announcement, conditions) of each step: 180 s in all."""

log = logging.getLogger("lab.demo")


async def run_demo(network: Network, steps: tuple[tuple[float, str, dict[str, Any]], ...]
                   = STEPS) -> None:
    """Play `steps` on `network`, then leave it calm with no announcement."""
    try:
        for seconds, announcement, conditions in steps:
            network.change(conditions, announcement)
            log.info("%s", announcement)
            await asyncio.sleep(seconds)
    finally:
        network.change(CALM, "")
