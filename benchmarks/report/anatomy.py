"""Wire anatomy: the relay's captured bytes of one exchange, taken apart for a reader.

Parsing is pure (bytes in, small records out): HTTP heads, chunked-encoding
chunks, Server-Sent Events and WebSocket frames (RFC 6455 §5.2). Rendering
turns them into Markdown: headers verbatim, a chunk and an SSE event with
their framing marked, a WebSocket frame in annotated hex. Nothing here
validates a peer's behaviour: a truncated capture is shown as far as it
goes, with a note, never an exception.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from benchmarks.results.transports import PATHS

OPCODES = {0x0: "continuation", 0x1: "text", 0x2: "binary", 0x8: "close", 0x9: "ping", 0xA: "pong"}
PREVIEW_BYTES = 160
"""Bodies longer than this are cut in the report (the byte counts stay exact)."""
CLOSE_CODES = {1000: "normal closure", 1001: "going away", 1003: "unsupported data",
               1008: "policy violation", 1009: "message too big"}


def split_head(data: bytes) -> tuple[bytes, bytes] | None:
    """HTTP head (start line + headers + blank line) and what follows, or None if incomplete."""
    end = data.find(b"\r\n\r\n")
    return None if end < 0 else (data[: end + 4], data[end + 4 :])


def header_value(head: bytes, name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive) in an HTTP head."""
    for line in head.decode("latin-1").split("\r\n")[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name.lower():
            return value.strip()
    return None


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk of ``Transfer-Encoding: chunked``: size line, data, trailing CRLF."""

    size_line: bytes
    data: bytes
    wire_len: int


def parse_chunk(body: bytes) -> Chunk | None:
    """The first complete chunk of a chunked body, or None."""
    end = body.find(b"\r\n")
    if end < 0:
        return None
    try:
        size = int(body[:end].split(b";")[0], 16)
    except ValueError:
        return None
    start = end + 2
    if len(body) < start + size + 2:
        return None
    return Chunk(body[: end + 2], body[start : start + size], start + size + 2)


@dataclass(frozen=True, slots=True)
class Frame:
    """One WebSocket frame header (RFC 6455 §5.2) and its payload as captured."""

    fin: bool
    rsv: int
    opcode: int
    masked: bool
    length: int
    header: bytes
    mask_key: bytes
    payload: bytes
    """Payload as on the wire (still masked if ``masked``); may be truncated."""

    @property
    def unmasked(self) -> bytes:
        """The payload with the masking key removed."""
        if not self.masked:
            return self.payload
        return bytes(b ^ self.mask_key[i % 4] for i, b in enumerate(self.payload))


def parse_frame(data: bytes) -> Frame | None:
    """The first WebSocket frame in ``data``, or None if even its header is incomplete."""
    if len(data) < 2:
        return None
    first, second = data[0], data[1]
    length, pos = second & 0x7F, 2
    if length in (126, 127):
        size = 2 if length == 126 else 8
        if len(data) < pos + size:
            return None
        length, pos = int.from_bytes(data[pos : pos + size], "big"), pos + size
    masked = bool(second & 0x80)
    key = data[pos : pos + 4] if masked else b""
    if masked:
        if len(key) < 4:
            return None
        pos += 4
    return Frame(
        fin=bool(first & 0x80),
        rsv=(first >> 4) & 0x7,
        opcode=first & 0x0F,
        masked=masked,
        length=length,
        header=data[:pos],
        mask_key=key,
        payload=data[pos : pos + length],
    )


def _content_length(head: bytes) -> int | None:
    value = header_value(head, "Content-Length")
    return int(value) if value and value.isdigit() else None


def _heads(data: bytes) -> list[tuple[bytes, bytes]]:
    """Successive (head, body) pairs on one keep-alive connection, as far as they are whole.

    A message with ``Content-Length`` ends there; anything else (chunked, an
    upgrade, a bodiless GET) ends the walk with the rest of the capture as its body.
    """
    pairs = []
    while (split := split_head(data)) is not None:
        head, rest = split
        length = _content_length(head)
        if length is None:
            if head.startswith((b"GET ", b"HEAD ")) and not head.startswith(b"GET /ws"):
                pairs.append((head, b""))
                data = rest
                continue
            pairs.append((head, rest))
            break
        pairs.append((head, rest[:length]))
        data = rest[length:]
    return pairs


def pick_exchange(
    transport: str, upstream: bytes, downstream: bytes
) -> tuple[tuple[bytes, bytes] | None, tuple[bytes, bytes] | None, int]:
    """The first request that shows ``transport`` and its response, plus its index.

    Requests and responses pair up in order (HTTP/1.1 without pipelining). The
    exchange that shows a transport is the first request to its own path (a
    capture may start with a plain poll); without one, the first exchange is used.
    """
    requests, responses = _heads(upstream), _heads(downstream)
    target = PATHS.get(transport, "")
    index = next((i for i, (head, _) in enumerate(requests)
                  if target and head.split(b" ")[1:2] and
                  head.split(b" ")[1].decode("latin-1").startswith(target)), 0)
    request = requests[index] if index < len(requests) else None
    response = responses[index] if index < len(responses) else None
    return request, response, index


def hex_bytes(data: bytes) -> str:
    """Space-separated lowercase hex."""
    return data.hex(" ")


def annotate_frame(frame: Frame) -> str:
    """A frame header and payload in hex, each field named (a code block's text)."""
    first, second = frame.header[0], frame.header[1]
    lines = [
        (f"{first:02x}  = {first:08b}: FIN={int(frame.fin)} RSV={frame.rsv:03b} "
        f"opcode=0x{frame.opcode:x} ({OPCODES.get(frame.opcode, 'reserved')})"),
        f"{second:02x}  = {second:08b}: MASK={int(frame.masked)} "
        f"payload len={second & 0x7F}" + _length_note(second & 0x7F),
    ]
    extended = frame.header[2 : len(frame.header) - len(frame.mask_key)]
    if extended:
        lines.append(
            f"{hex_bytes(extended)}  extended payload length ({len(extended) * 8}-bit) "
            f"= {frame.length}"
        )
    if frame.masked:
        lines.append(f"{hex_bytes(frame.mask_key)}  masking key")
    shown = frame.payload[:PREVIEW_BYTES]
    cut = "" if len(frame.payload) <= len(shown) else " …"
    rows = [hex_bytes(shown[i : i + 16]) for i in range(0, len(shown), 16)] or ["(empty)"]
    rows[0] = f"{rows[0]:<47}  payload ({frame.length} bytes, as sent)"
    lines.extend(rows)
    if cut:
        lines.append("…")
    clear = frame.unmasked[:PREVIEW_BYTES]
    label = "unmasked (payload XOR key)" if frame.masked else "payload"
    if frame.opcode == 0x8 and len(clear) >= 2:
        code = int.from_bytes(clear[:2], "big")
        meaning = CLOSE_CODES.get(code, "see RFC 6455 §7.4")
        reason = f" reason: {_text(clear[2:])}" if len(clear) > 2 else ""
        lines.append(f"{label}: {hex_bytes(clear[:2])} = close code {code} ({meaning}){reason}")
    elif frame.opcode == 0x1:
        lines.append(f"{label} as text: {_text(clear)}{cut}")
    else:
        lines.append(f"{label}: {hex_bytes(clear)}{cut}")
    lines.append(
        f"→ {len(frame.header)} bytes of framing for {frame.length} bytes of payload"
    )
    return "\n".join(lines)


def _length_note(length: int) -> str:
    if length == 126:
        return " (126: the real length follows in 16 bits)"
    if length == 127:
        return " (127: the real length follows in 64 bits)"
    return " (under 126: this is the length)"


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _visible(data: bytes) -> str:
    """Bytes as text with CR, LF shown as escapes, one line per LF."""
    text = data.decode("latin-1").replace("\r", "\\r").replace("\n", "\\n\n")
    return text.rstrip("\n")


def _fence(text: str) -> str:
    return f"```\n{text}\n```"


def _head_block(title: str, head: bytes) -> str:
    shown = head.decode("latin-1").rstrip("\r\n")
    return f"{title} ({len(head)} bytes, verbatim):\n\n{_fence(shown)}"


def _body_block(body: bytes, head: bytes) -> list[str]:
    """Describe what follows a response head: a chunk (stream, SSE) or a whole body."""
    if not body:
        return []
    if (header_value(head, "Transfer-Encoding") or "").lower() == "chunked":
        chunk = parse_chunk(body)
        if chunk is None:
            return [f"First bytes of the chunked body (incomplete):\n\n{_fence(_visible(body))}"]
        parts = [
            (f"One chunk ({chunk.wire_len} bytes on the wire): size line "
            f"`{_visible(chunk.size_line)}` = 0x{chunk.size_line.split(b';')[0].decode().strip()}"
            f" = {len(chunk.data)} bytes, the data, then `\\r\\n`:"),
            _fence(_visible(chunk.size_line + chunk.data + b"\r\n")),
        ]
        if (header_value(head, "Content-Type") or "").startswith("text/event-stream"):
            parts.append(_sse_block(chunk.data))
        return parts
    shown = body[:PREVIEW_BYTES]
    cut = f"\n… ({len(body) - len(shown)} more bytes)" if len(body) > len(shown) else ""
    return [f"Body ({len(body)} bytes):\n\n{_fence(_text(shown) + cut)}"]


def _sse_block(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
    named = []
    for line in lines:
        field, sep, value = line.partition(":")
        if not line:
            named.append("(blank line)  ends the event")
        elif not field:
            named.append(f"{line}  comment (heartbeat)")
        elif sep:
            named.append(f"{line}  field `{field}` = {value.strip()[:60]}")
    payload = sum(len(line[5:].lstrip().encode()) for line in lines if line.startswith("data:"))
    return (
        "The SSE event inside that chunk, field by field "
        f"({len(data) - payload} of its {len(data)} bytes are framing: everything "
        "but the `data` values):\n\n"
        + _fence("\n".join(named))
    )


def render_transport(name: str, upstream: bytes, downstream: bytes) -> str:
    """Markdown for one transport's exchange (request, response, then a frame or chunk)."""
    parts = [f"### {name}"]
    request, response, index = pick_exchange(name, upstream, downstream)
    if index:
        parts.append(f"Exchange {index + 1} on this connection (the earlier ones set it up):")
    if request is None:
        parts.append("No complete request head was captured.")
    else:
        parts.append(_head_block("Request", request[0]))
    if response is None:
        parts.append("No complete response head was captured.")
        return "\n\n".join(parts)
    head, rest = response
    parts.append(_head_block("Response", head))
    if head.startswith(b"HTTP/1.1 101"):
        frame = parse_frame(rest)
        if frame is not None:
            parts.append("First server frame, annotated:\n\n" + _fence(annotate_frame(frame)))
        if request is not None and (client := parse_frame(request[1])) is not None:
            parts.append("First client frame (masked, as RFC 6455 requires):\n\n"
                         + _fence(annotate_frame(client)))
    else:
        parts.extend(_body_block(rest, head))
    return "\n\n".join(parts)


def render_anatomy(anatomy: dict[str, dict[str, str]], order: list[str]) -> str:
    """Markdown for every captured transport in ``order``; bad base64 is reported, not raised."""
    sections = []
    for name in order:
        entry = anatomy.get(name) or {}
        try:
            upstream = base64.b64decode(entry.get("upstream_b64", ""), validate=True)
            downstream = base64.b64decode(entry.get("downstream_b64", ""), validate=True)
        except (binascii.Error, ValueError):
            sections.append(f"### {name}\n\nThe capture is not valid base64; nothing to show.")
            continue
        sections.append(render_transport(name, upstream, downstream))
    return "\n\n".join(sections)
