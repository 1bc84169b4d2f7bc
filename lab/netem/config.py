"""Relay settings and the human units the CLI accepts.

`NetemConfig` is the whole description of one network condition; it is frozen
and validated on construction. The parsers turn ``50ms``, ``1mbit`` or ``8KB``
into seconds, bytes per second and bytes; they raise `ValueError` with a
message fit to show a user as is.

Units, deliberately few and unambiguous:

* durations: ``us``, ``ms``, ``s`` (``0`` alone is allowed; any other number
  needs a unit, since ``50`` could mean seconds or milliseconds);
* sizes: a bare number is bytes; ``KB``/``MB``/``GB`` are powers of 1000,
  ``KiB``/``MiB``/``GiB`` powers of 1024;
* rates: ``bit``/``kbit``/``mbit``/``gbit`` are bits per second (as in ``tc``),
  ``B/s``/``KB/s``/``MB/s`` bytes per second. ``kbps``/``mbps`` are refused:
  ``tc`` reads them as bytes, most people as bits.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass

__all__ = ["NetemConfig", "parse_duration", "parse_rate", "parse_size"]


@dataclass(frozen=True, slots=True)
class NetemConfig:
    """One network condition, applied per direction and per connection.

    delay_s: one-way delay added to every chunk in each direction.
    jitter_s: extra delay drawn uniformly from [0, jitter_s] per chunk (order kept).
    bandwidth_bps: cap in BYTES per second per direction per connection (None: no cap).
    cut_every_s: every this many seconds, abort every open connection (None: never).
    buffer_bytes: hold server→client bytes until this many have accumulated or the
        response / connection ends (None: forward at once).
    no_upgrade: answer ``Upgrade: websocket`` requests with 403 instead of forwarding.
    capture_bytes: keep the first N bytes of each direction of each connection.
    seed: seed of the jitter's random generator (runs repeat exactly).
    """

    delay_s: float = 0.0
    jitter_s: float = 0.0
    bandwidth_bps: float | None = None
    cut_every_s: float | None = None
    buffer_bytes: int | None = None
    no_upgrade: bool = False
    capture_bytes: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("delay_s", "jitter_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        for name in ("bandwidth_bps", "cut_every_s", "buffer_bytes"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0 or None, got {value!r}")
        if self.capture_bytes < 0:
            raise ValueError(f"capture_bytes must be >= 0, got {self.capture_bytes!r}")

    def describe(self) -> str:
        """A short human summary, e.g. ``delay 50ms, buffer 8192 B``."""
        parts = []
        if self.delay_s:
            parts.append(f"delay {self.delay_s * 1000:g}ms")
        if self.jitter_s:
            parts.append(f"jitter {self.jitter_s * 1000:g}ms")
        if self.bandwidth_bps:
            parts.append(f"bandwidth {self.bandwidth_bps * 8 / 1e6:g} mbit/s")
        if self.cut_every_s:
            parts.append(f"cut every {self.cut_every_s:g}s")
        if self.buffer_bytes:
            parts.append(f"buffer {self.buffer_bytes} B")
        if self.no_upgrade:
            parts.append("no upgrade")
        return ", ".join(parts) or "no impairment"


_NUMBER = r"(?P<num>\d+(?:\.\d*)?|\.\d+)\s*"
_DURATION_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
_SIZE_UNITS = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}
_BIT_RATE_UNITS = {"bit": 1, "kbit": 1000, "mbit": 1000**2, "gbit": 1000**3}


def _split(text: str, what: str, example: str) -> tuple[float, str]:
    match = re.fullmatch(_NUMBER + r"(?P<unit>[A-Za-z/]*)", text.strip())
    if not match:
        raise ValueError(f"bad {what} {text!r}: expected a number and a unit, e.g. {example}")
    return float(match["num"]), match["unit"].lower()


def parse_duration(text: str) -> float:
    """``50ms`` → 0.05 (seconds). A bare number other than 0 is refused."""
    value, unit = _split(text, "duration", "50ms or 1s")
    if unit == "" and value == 0:
        return 0.0
    if unit not in _DURATION_UNITS:
        raise ValueError(f"bad duration {text!r}: use us, ms or s, e.g. 50ms")
    return value * _DURATION_UNITS[unit]


def parse_size(text: str) -> int:
    """``8KB`` → 8000, ``8KiB`` → 8192, ``100`` → 100 (bytes)."""
    value, unit = _split(text, "size", "8KB or 64KiB")
    if unit not in _SIZE_UNITS:
        raise ValueError(f"bad size {text!r}: use B, KB, MB, GB, KiB, MiB or GiB")
    return int(value * _SIZE_UNITS[unit])


def parse_rate(text: str) -> float:
    """``1mbit`` → 125000.0, ``100KB/s`` → 100000.0 (bytes per second)."""
    value, unit = _split(text, "rate", "1mbit or 100KB/s")
    if unit in _BIT_RATE_UNITS:
        return value * _BIT_RATE_UNITS[unit] / 8
    if unit.endswith("/s") and unit[:-2] in _SIZE_UNITS and unit[:-2]:
        return value * _SIZE_UNITS[unit[:-2]]
    raise ValueError(
        f"bad rate {text!r}: use kbit, mbit, gbit (bits/s) or KB/s, MB/s (bytes/s)"
    )


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
