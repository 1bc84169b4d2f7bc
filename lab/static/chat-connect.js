// Which transport the chat receives on: the one chosen, or the next that works.
//
// Fallback order is WebSocket → SSE → chunked stream → long poll. Each
// candidate but the last must open within PROBE_MS or fail first; the reasons
// for skipping are returned so the page can say why it is where it is. Short
// poll has no fallback: choosing it is always deliberate.

import { LABELS } from "./sources.js";

/** Fallback order, best first. */
export const FALLBACK = Object.freeze(["websocket", "sse", "stream", "longpoll"]);

const PROBE_MS = 3000;

/**
 * Start the first transport from `preferred` on that opens; `makeSource(kind)`
 * builds an unstarted source. Resolves {source, skipped: [{kind, reason}]}.
 */
export async function connectWithFallback(preferred, makeSource) {
  const start = FALLBACK.indexOf(preferred);
  const chain = start === -1 ? [preferred] : FALLBACK.slice(start);
  const skipped = [];
  for (const [i, kind] of chain.entries()) {
    const source = makeSource(kind);
    if (i === chain.length - 1) {
      source.start();
      return { source, skipped };
    }
    const { ok, detail } = await source.startAndWait(PROBE_MS);
    if (ok) return { source, skipped };
    source.stop("idle");
    skipped.push({ kind, reason: detail });
  }
  throw new Error("no transport to try");
}

/** "WebSocket: upgrade failed; fell back to Server-Sent Events (SSE)". */
export function describeFallback(kind, skipped) {
  if (skipped.length === 0) return "";
  const why = skipped.map(({ kind: k, reason }) => `${LABELS[k]}: ${reason}`).join("; ");
  return `${why} — fell back to ${LABELS[kind]}`;
}
