// The five transport clients by name, so views can pick one by its contract name.

import { PollSource } from "./source-poll.js";
import { LongPollSource } from "./source-longpoll.js";
import { StreamSource } from "./source-stream.js";
import { SseSource } from "./source-sse.js";
import { WebSocketSource } from "./source-websocket.js";

/** Contract names → source classes, in the contract's order. */
export const SOURCES = Object.freeze({
  poll: PollSource,
  longpoll: LongPollSource,
  stream: StreamSource,
  sse: SseSource,
  websocket: WebSocketSource,
});

/** Human names for the transports. */
export const LABELS = Object.freeze({
  poll: "Short poll",
  longpoll: "Long poll",
  stream: "Chunked stream",
  sse: "Server-Sent Events (SSE)",
  websocket: "WebSocket",
});

/** A new, not yet started source for transport `kind`. */
export function createSource(kind, options) {
  const Kind = SOURCES[kind];
  if (!Kind) throw new Error(`unknown transport ${kind}`);
  return new Kind(options);
}
