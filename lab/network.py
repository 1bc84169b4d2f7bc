"""The network conditions of the class link: what the instructor sets, students get.

`Conditions` is one setting in the units of ``/api/network`` (milliseconds,
kilobits per second, seconds, two switches) and turns into the relay's
`lab.netem.NetemConfig`. `Network` is the one object the API changes: it holds
the conditions in force, remembers when they changed (the dashboard marks each
change on its charts), carries the announcement of the demo's current step,
and tells whoever listens (the class link's relay) about every change. It does
no I/O.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from lab.contract import now_us
from lab.netem import NetemConfig

BUFFERING_PROXY_BYTES = 8 * 1024
"""What the buffering proxy holds back: about 70 price messages, several seconds of feed."""

LIMITS = {"delay_ms": 10_000.0, "jitter_ms": 10_000.0, "bandwidth_kbps": 1_000_000.0,
          "cut_every_s": 3_600.0}
"""The largest value each number may take (a typo should not stall a class for hours)."""

MIN_CUT_EVERY_S = 1.0
"""Cutting more often than this would leave no connection time to say anything."""

SWITCHES = ("refuse_upgrade", "buffering_proxy")
CHANGES_KEPT = 100


@dataclass(frozen=True, slots=True)
class Conditions:
    """One network setting, as ``/api/network`` shows it.

    delay_ms / jitter_ms: one-way delay and extra random delay per chunk, each direction.
    bandwidth_kbps: cap in kilobits per second per direction per connection (None: none).
    cut_every_s: reset every open connection this often (None: never).
    refuse_upgrade: answer WebSocket upgrades 403, as some corporate proxies do.
    buffering_proxy: hold responses until 8 KiB or their end, as a buffering proxy does.
    """

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    bandwidth_kbps: float | None = None
    cut_every_s: float | None = None
    refuse_upgrade: bool = False
    buffering_proxy: bool = False

    def changed(self, body: dict[str, Any]) -> Conditions:
        """These conditions with the fields of `body` changed; ValueError names a bad one.

        ``cut_now`` is an action, not a condition: it is accepted and left to the caller.
        A number field may be null (0 for the delays) to remove that impairment.
        """
        unknown = set(body) - {*LIMITS, *SWITCHES, "cut_now"}
        if unknown:
            raise ValueError(f"unknown field {min(unknown)!r}; expected some of "
                             f"{', '.join([*LIMITS, *SWITCHES, 'cut_now'])}")
        changes: dict[str, Any] = {}
        for name in (*SWITCHES, "cut_now"):
            if name in body and not isinstance(body[name], bool):
                raise ValueError(f"{name} must be true or false, got {body[name]!r}")
        for name in SWITCHES:
            if name in body:
                changes[name] = body[name]
        for name, limit in LIMITS.items():
            if name in body:
                changes[name] = _number(name, body[name], limit)
        if changes.get("cut_every_s") is not None and changes["cut_every_s"] < MIN_CUT_EVERY_S:
            raise ValueError(f"cut_every_s must be at least {MIN_CUT_EVERY_S:g} (or null)")
        for name in ("delay_ms", "jitter_ms"):
            if name in changes and changes[name] is None:
                changes[name] = 0.0
        return replace(self, **changes)

    def netem(self) -> NetemConfig:
        """The relay's config for these conditions."""
        return NetemConfig(
            delay_s=self.delay_ms / 1000, jitter_s=self.jitter_ms / 1000,
            bandwidth_bps=self.bandwidth_kbps * 1000 / 8 if self.bandwidth_kbps else None,
            cut_every_s=self.cut_every_s or None,
            buffer_bytes=BUFFERING_PROXY_BYTES if self.buffering_proxy else None,
            no_upgrade=self.refuse_upgrade,
        )

    def summary(self) -> str:
        """A short line for the page's banner, e.g. ``delay 150 ms, WebSocket refused``."""
        parts = []
        if self.delay_ms:
            parts.append(f"delay {self.delay_ms:g} ms")
        if self.jitter_ms:
            parts.append(f"jitter up to {self.jitter_ms:g} ms")
        if self.bandwidth_kbps:
            parts.append(f"bandwidth {self.bandwidth_kbps:g} kbit/s")
        if self.cut_every_s:
            parts.append(f"connections cut every {self.cut_every_s:g} s")
        if self.buffering_proxy:
            parts.append("a buffering proxy holds responses back")
        if self.refuse_upgrade:
            parts.append("WebSocket upgrades refused")
        return ", ".join(parts) or "calm: no impairment"


def _number(name: str, value: object, limit: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number or null, got {value!r}")
    if not 0 <= value <= limit:
        raise ValueError(f"{name} must be between 0 and {limit:g}, got {value!r}")
    if value == 0 and name in ("bandwidth_kbps", "cut_every_s"):
        return None  # no cap, never cut
    return float(value)


Listener = Callable[["Conditions", bool], None]
"""Told (new conditions, cut every connection now) on every change."""


class Network:
    """The conditions in force on the class link, their history, and who to tell."""

    def __init__(self) -> None:
        self.conditions = Conditions()
        self.announcement = ""
        self.class_link: str | None = None
        self.changes: deque[dict[str, Any]] = deque(maxlen=CHANGES_KEPT)
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        """Call `listener` on every change from now on."""
        self._listeners.append(listener)

    def change(self, body: dict[str, Any], announcement: str | None = None) -> Conditions:
        """Apply the fields of `body` (see `Conditions.changed`); ValueError if one is bad."""
        conditions = self.conditions.changed(body)
        cut_now = bool(body.get("cut_now"))
        self.conditions = conditions
        if announcement is not None:
            self.announcement = announcement
        what = conditions.summary() + ("; every connection cut" if cut_now else "")
        self.changes.append({"t_us": now_us(), "summary": what})
        for listener in self._listeners:
            listener(conditions, cut_now)
        return conditions

    def snapshot(self) -> dict[str, Any]:
        """What ``GET /api/network`` answers."""
        return {
            **asdict(self.conditions),
            "summary": self.conditions.summary(),
            "announcement": self.announcement,
            "class_link": self.class_link,
            "changes": list(self.changes),
        }
