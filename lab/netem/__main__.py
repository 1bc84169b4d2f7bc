"""``python -m lab.netem``: run the relay in front of a server until Ctrl-C.

Prints one line with the relay's URL once listening and one summary line when
stopped (Ctrl-C or SIGTERM). Bad flags or a port in use give a one-line error
and exit code 2 or 1, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from lab.netem.config import NetemConfig, is_loopback, parse_duration, parse_rate, parse_size
from lab.netem.relay import Relay

PROG = "python -m lab.netem"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: message`` and exit 2."""
        self.exit(2, f"{PROG}: error: {message} (see --help)\n")


def _typed(parse: Callable[[str], object]) -> Callable[[str], object]:
    def convert(text: str) -> object:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise ValueError(f"bad port {text!r}: expected 0-65535")
    return int(text)


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"bad address {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), _port(port)


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser."""
    parser = _Parser(
        prog=PROG,
        description="Relay TCP bytes to a server, adding delay, jitter, a bandwidth cap, "
        "periodic cuts, a buffering proxy or a proxy that refuses WebSocket upgrades.",
        epilog="Units: durations us/ms/s; sizes B/KB/KiB/MB/MiB; rates kbit/mbit/gbit "
        "(bits/s) or KB/s, MB/s (bytes/s).",
    )
    add = parser.add_argument
    add("--listen", type=_typed(_port), default=0, metavar="PORT",
        help="port to listen on (default: 0, any free port)")
    add("--upstream", type=_typed(_host_port), default=("127.0.0.1", 8080),
        metavar="HOST:PORT", help="server to relay to (default: 127.0.0.1:8080)")
    add("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    add("--allow-remote", action="store_true", help="allow a non-loopback --host")
    add("--delay", metavar="TIME", type=_typed(parse_duration), default=0.0, help="one-way delay, e.g. 50ms")
    add("--jitter", metavar="TIME", type=_typed(parse_duration), default=0.0,
        help="extra random delay per chunk, up to this, e.g. 5ms")
    add("--bandwidth", metavar="RATE", type=_typed(parse_rate), default=None,
        help="cap per direction per connection, e.g. 1mbit")
    add("--cut-every", metavar="TIME", type=_typed(parse_duration), default=None,
        help="reset every open connection this often, e.g. 1s")
    add("--buffer", metavar="SIZE", type=_typed(parse_size), default=None,
        help="hold responses until this many bytes or their end, e.g. 8KB")
    add("--no-upgrade", action="store_true", help="answer WebSocket upgrades with 403")
    add("--seed", type=int, default=0, help="jitter seed (default: 0)")
    return parser


async def _serve(relay: Relay) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await relay.start()
    host, port = relay.upstream
    print(f"Right Now Lab relay on {relay.url}/ → {host}:{port} ({relay.config.describe()})",
          flush=True)
    try:
        await stop.wait()
    finally:
        await relay.close()
        print(f"relay stopped: {relay.connections} connections, {relay.bytes_upstream} B up, "
              f"{relay.bytes_downstream} B down, {relay.cuts} cuts", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run the relay until stopped; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.allow_remote and not is_loopback(args.host):
        parser.error(f"--host {args.host} is not a loopback address; add --allow-remote")
    try:
        config = NetemConfig(
            delay_s=args.delay, jitter_s=args.jitter, bandwidth_bps=args.bandwidth,
            cut_every_s=args.cut_every, buffer_bytes=args.buffer,
            no_upgrade=args.no_upgrade, seed=args.seed,
        )
    except ValueError as exc:
        parser.error(str(exc))
    relay = Relay(args.upstream, config, host=args.host, port=args.listen,
                  allow_remote=args.allow_remote)
    try:
        asyncio.run(_serve(relay))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"{PROG}: error: cannot listen on {args.host}:{args.listen}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
