// The "wire" view of a panel: the last message as it crossed the network, as
// far as the page can know it.
//
// A page never sees its own bytes: fetch() hides the request it sends and the
// chunk framing, EventSource hides everything but the event's data, and a
// WebSocket hides its frames. So every view here is rebuilt from the message
// and the transport's framing rules (see estimates.js), and is labelled an
// estimate; the byte-exact views are the lab's clients and the relay's captures.

import { utf8Length, websocketFrameHeader } from "./estimates.js";

const ENDPOINTS = { poll: "/api/poll", longpoll: "/api/longpoll" };

function hex(bytes) {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** RFC 6455 header bytes of an unmasked text frame carrying `length` bytes. */
function frameHeader(length) {
  if (length <= 125) return [0x81, length];
  if (length <= 65535) return [0x81, 126, length >> 8, length & 0xff];
  return [0x81, 127, 0, 0, 0, 0, length >>> 24, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff];
}

/** What `kind` most likely carried for `msg` on `topic`: {title, text}, an estimate. */
export function wireView(kind, msg, topic = "prices") {
  const json = JSON.stringify(msg);
  const size = utf8Length(json);
  if (kind in ENDPOINTS) {
    const body = `{"messages":[${json}],"head":${msg.seq},"missed":0}`;
    return {
      title: "last request and answer (estimate: the batch may hold more messages)",
      text: `GET ${ENDPOINTS[kind]}?topic=${topic}&since=${msg.seq - 1} HTTP/1.1\n` +
        `Host: ${location.host}\n…the browser's own headers…\n\n` +
        `HTTP/1.1 200 OK\nContent-Type: application/json\nCache-Control: no-store\n` +
        `Content-Length: ${utf8Length(body)}\n\n${body}`,
    };
  }
  if (kind === "stream") {
    return {
      title: "last chunk (estimate: one message per chunk)",
      text: `${(size + 1).toString(16)}\\r\\n\n${json}\\n\\r\\n`,
    };
  }
  if (kind === "sse") {
    return {
      title: "last event, inside a chunk (estimate: the browser hides the framing)",
      text: `id: ${msg.seq}\ndata: ${json}\n\n`,
    };
  }
  const header = frameHeader(size);
  return {
    title: `last frame (estimate: ${websocketFrameHeader(size)}-byte header + ${size}-byte payload)`,
    text: `${hex(header)}   FIN, text frame, unmasked, length ${size}\n${json}`,
  };
}
