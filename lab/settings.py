"""Server settings: one frozen record, built by the CLI or by tests."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from lab.limits import Rate
from lab.origins import origin_of

DEFAULT_SYMBOLS: tuple[str, ...] = ("ACME", "GLOBEX", "INITECH")
FEED_MODES: tuple[str, ...] = ("auto", "always", "never")
"""With a broker: which node runs the price feed (see :mod:`lab.backplane.broker`)."""
CHAT_RATE = Rate(1.0, 5)
"""Chat posts: bursts of 5, then one a second, per identity and per client address."""
WS_COMMAND_RATE = Rate(10.0, 20)
"""WebSocket commands of one socket: bursts of 20, then ten a second."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the server can be told; defaults are the embedded classroom setup.

    ``volatility`` and ``drift`` are annualised (per √year / per year of 252
    trading days of 6.5 hours), as quoted for real stocks. A connection cap of 0
    (``max_connections_per_ip`` for LAN addresses, ``max_loopback_connections``
    for this machine's own) means no cap. ``class_port`` None serves no class link
    (see :mod:`lab.classlink`); an empty ``instructor_key`` lets nobody change the network.
    ``ws_compress`` accepts a WebSocket client's offer of permessage-deflate (RFC 7692).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    rate: float = 10.0
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    seed: int = 1
    volatility: float = 0.2
    drift: float = 0.05
    start_price: float = 100.0
    steady: bool = False
    replay: Path | None = None
    speed: float = 1.0
    history: int = 10_000
    mailbox_size: int = 1_000
    heartbeat: float = 15.0
    longpoll_default: float = 30.0
    longpoll_max: float = 120.0
    max_body: int = 64 * 1024
    max_ws_message: int = 4 * 1024
    ws_compress: bool = False
    workers: int = 1
    pin_workers: bool = True
    plain: bool = False
    allow_origins: tuple[str, ...] = ()
    refusal_pause_s: float = 1.0  # a post over the chat's limit waits this long for its 429
    behind_proxy: bool = False  # a class link or nginx of its own forwards to it (X-Forwarded-For)
    chat_rate: Rate = CHAT_RATE
    ws_command_rate: Rate = WS_COMMAND_RATE
    presence_timeout: float = 60.0
    max_connections_per_ip: int = 64
    max_loopback_connections: int = 0
    log_level: str = "INFO"
    broker: str | None = None
    feed: str = "auto"
    class_port: int | None = None
    instructor_key: str = ""
    demo: bool = False

    def __post_init__(self) -> None:
        checks = (
            (self.rate > 0, "rate must be positive"),
            (len(self.symbols) > 0, "at least one symbol is needed"),
            (self.volatility >= 0, "volatility must not be negative"),
            (self.start_price > 0, "start price must be positive"),
            (self.speed > 0, "speed must be positive"),
            (self.history >= 1, "history must be at least 1"),
            (self.mailbox_size >= 1, "mailbox size must be at least 1"),
            (self.heartbeat > 0, "heartbeat must be positive"),
            (0 <= self.port <= 65535, "port must be 0..65535"),
            (self.class_port is None or 0 <= self.class_port <= 65535,
             "class port must be 0..65535"),
            (not self.demo or self.class_port is not None, ("--demo runs on the class link: "
             "leave out --no-class-link")),
            (1 <= self.workers <= 64, "workers must be 1..64"),
            (self.feed in FEED_MODES, f"feed must be one of {', '.join(FEED_MODES)}"),
            (self.feed == "auto" or self.broker is not None,
             "--feed always or never needs --broker (without one, this process runs the feed)"),
            (self.presence_timeout > 0, "presence timeout must be positive"),
            (self.refusal_pause_s >= 0, "refusal pause must not be negative"),
            (self.max_connections_per_ip >= 0, "max connections per IP must not be negative"),
            (self.max_loopback_connections >= 0, "max loopback connections must not be negative"),
        )
        for ok, reason in checks:
            if not ok:
                raise ValueError(reason)
        for url in self.allow_origins:
            origin_of(url)  # a ValueError names the bad one

    def replace(self, **changes: object) -> Settings:
        """A copy with ``changes`` applied (and checked)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
