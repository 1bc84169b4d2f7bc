// Short poll: GET /api/poll?topic=…&since=N every `interval` ms.
//
// Each answer carries every message newer than `since` still buffered, so a
// short poll loses nothing while it keeps up — it is only late. fetchBatch()
// is shared with the long poll, whose answers have the same body.

import { localNowUs } from "./clock.js";
import { requestHeaderEstimate, responseHeaderSize } from "./estimates.js";
import { Source, sleep } from "./source.js";

const decoder = new TextDecoder();

/** An answer that is not 200 as an Error, with the server's Retry-After (or null) on it. */
export function refusal(response, text = "") {
  const error = new Error(`HTTP ${response.status} ${text.slice(0, 120)}`.trim());
  error.retryAfter = response.headers.get("Retry-After");
  return error;
}

/** GET a poll-shaped body, meter it, deliver its messages; returns the body. */
export async function fetchBatch(source, path, signal) {
  source.awaiting();
  let response;
  try {
    response = await fetch(path, { cache: "no-store", signal });
  } finally {
    source.answered();
  }
  const raw = await response.arrayBuffer();
  const recvUs = localNowUs();
  source.meter({
    requests: 1,
    requestHeaderBytes: requestHeaderEstimate("GET", path),
    responseHeaderBytes: responseHeaderSize(response),
    bodyBytes: raw.byteLength,
  });
  const text = decoder.decode(raw);
  if (!response.ok) throw refusal(response, text);
  const body = JSON.parse(text);
  for (const msg of body.messages) source.deliver(msg, recvUs);
  return body;
}

export class PollSource extends Source {
  static kind = "poll";

  async open(signal) {
    while (!signal.aborted) {
      try {
        const body = await fetchBatch(this, this.path("/api/poll"), signal);
        if (this.lastSeq === null || this.lastSeq < body.head) this.lastSeq = body.head;
        this.opened(`every ${this.interval} ms`);
      } catch (err) {
        if (signal.aborted) return;
        if (!(await this.backoff(err.message, signal, err.retryAfter))) return;
        continue;
      }
      await sleep(this.interval, signal);
    }
  }
}
