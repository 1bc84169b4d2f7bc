"""permessage-deflate (RFC 7692) as the WebSocket client speaks it: the offer, the answer, and
inflating what the server compressed.

1. The offer (§5, §7.1): the handshake request carries ``Sec-WebSocket-Extensions:
   permessage-deflate; client_max_window_bits`` (and ``server_no_context_takeover`` when the
   client asks the server to compress each message alone). The server may accept it by naming the
   extension in its ``101`` answer, with parameters: ``server_no_context_takeover`` (it
   compresses every message from scratch) and ``server_max_window_bits=N`` (a window of 2^N
   bytes, 8 to 15). No answer header means no compression.
2. A compressed message (§6, §7.2): its first frame has RSV1 set; its payload, joined over
   continuation frames, is raw DEFLATE (RFC 1951: no zlib header or checksum, hence ``wbits``
   of −N in Python's ``zlib``) whose final ``00 00 ff ff`` (the empty stored block a sync
   flush ends with) the server left off: the client appends it back before inflating
   (§7.2.2).
3. Context takeover (§7.1.1): unless the server said ``server_no_context_takeover``, it
   compresses each message with the window of everything it compressed before on this socket,
   so a price can refer back to the last one's field names and digits; the client must then
   keep one inflater for the connection's whole life.

This client never compresses what it sends (pong and close frames are control frames, never
compressed; §6.1 lets each message choose).
"""

from __future__ import annotations

import zlib

from .errors import RemoteProtocolError


def offer(context_takeover: bool = True) -> str:
    """The ``Sec-WebSocket-Extensions`` value this client offers; without
    ``context_takeover`` it asks the server to compress every message from scratch."""
    return "permessage-deflate; " + (
        "client_max_window_bits" if context_takeover
        else "server_no_context_takeover; client_max_window_bits")

TAIL = b"\x00\x00\xff\xff"
"""What a sync flush ends with and the server leaves off each message (§7.2.1)."""


class Inflater:
    """One connection's decompressor, as the server's answer configured it."""

    def __init__(self, window_bits: int, takeover: bool) -> None:
        self.window_bits = window_bits
        self.takeover = takeover
        self._zlib = zlib.decompressobj(wbits=-window_bits)

    def inflate(self, payload: bytes) -> bytes:
        """The message a compressed ``payload`` (a whole message's, joined) stands for."""
        if not self.takeover:
            self._zlib = zlib.decompressobj(wbits=-self.window_bits)
        try:
            return self._zlib.decompress(payload + TAIL)
        except zlib.error as exc:
            raise RemoteProtocolError(f"permessage-deflate: cannot inflate ({exc})") from None


def accept(answer: str | None, offered: bool) -> Inflater | None:
    """The inflater the server's ``Sec-WebSocket-Extensions`` answer asks for, or ``None``.

    Raises :class:`RemoteProtocolError` for an extension that was not offered or a parameter
    this client does not know (§7.1: the client must fail the connection)."""
    if not answer:
        return None
    name, *parameters = (part.strip() for part in answer.split(";"))
    if name != "permessage-deflate" or not offered or "," in answer:
        raise RemoteProtocolError(f"websocket handshake: unexpected extension {answer!r}")
    window_bits, takeover = 15, True
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        key, value = key.strip(), value.strip().strip('"')
        if key == "server_no_context_takeover" and not value:
            takeover = False
        elif key == "server_max_window_bits" and value.isdigit() and 8 <= int(value) <= 15:
            window_bits = int(value)
        elif key == "client_no_context_takeover" and not value:
            pass  # about what the client sends: it never compresses
        elif key == "client_max_window_bits" and value.isdigit() and 8 <= int(value) <= 15:
            pass  # likewise
        else:
            raise RemoteProtocolError(f"permessage-deflate: unknown parameter {parameter!r}")
    return Inflater(window_bits, takeover)
