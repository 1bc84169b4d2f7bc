"""A network relay that puts realistic conditions between a client and the lab server.

The lab runs on loopback, where every transport looks instant. The relay sits
between clients and server and adds, per direction and per connection:

* a one-way delay applied to each chunk as it is read (a chunk read at t is
  written at t + delay; a stream of chunks each arrives delay later, delays do
  not add up), plus seeded jitter that never reorders bytes;
* a bandwidth cap (bytes per second; ``--bandwidth 1mbit`` = 125 000 B/s);
* a fault: every ``cut_every_s`` seconds, every open connection is reset on
  both sides;
* a buffering proxy (``buffer_bytes``): server→client bytes are held until N
  bytes or the end of a response (or of the connection), as some reverse
  proxies do to streams; a long-lived stream shows nothing until N bytes;
  upgraded (101) connections pass unbuffered, as nginx does;
* a "no upgrade" proxy (``no_upgrade``): a request with ``Upgrade: websocket``
  is answered 403 by the relay and never forwarded; plain HTTP passes;

and it counts the bytes that cross the client's socket in each direction (the
ground truth for every byte figure), connections and cuts, optionally keeping
the first N bytes of each direction for the report's wire anatomy.

It listens on loopback only unless told otherwise. It does not do TLS, packet
loss or reordering, or anything at the IP level: it is a TCP relay of bytes
(`relay`), with the timing in `link`, the HTTP framing in `http` and the
settings in `config`. Run it alone with ``python -m lab.netem --help``.
"""

from lab.netem.config import NetemConfig, parse_duration, parse_rate, parse_size
from lab.netem.relay import ConnectionStats, Relay

__all__ = ["ConnectionStats", "NetemConfig", "Relay", "parse_duration", "parse_rate", "parse_size"]
