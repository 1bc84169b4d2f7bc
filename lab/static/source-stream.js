// Chunked stream: one long GET /api/stream, read with fetch + ReadableStream.
//
// Messages are newline-delimited JSON; a blank line is a heartbeat. Lines are
// split on the newline byte, never on read() boundaries, because a chunk may
// end in the middle of a message. Body bytes are exact (the page reads them);
// chunk framing is estimated as one chunk per read().

import { localNowUs } from "./clock.js";
import { chunkFraming, requestHeaderEstimate, responseHeaderSize } from "./estimates.js";
import { Source } from "./source.js";
import { refusal } from "./source-poll.js";

const NEWLINE = 10;
const decoder = new TextDecoder();

function concat(a, b) {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

export class StreamSource extends Source {
  static kind = "stream";

  async open(signal) {
    while (!signal.aborted) {
      let reason = "server ended the stream";
      let retryAfter = null;
      try {
        await this.read(signal);
      } catch (err) {
        reason = err.message;
        retryAfter = err.retryAfter ?? null;
      }
      if (signal.aborted || !(await this.backoff(reason, signal, retryAfter))) return;
    }
  }

  async read(signal) {
    const path = this.path("/api/stream");
    this.awaiting();
    let response;
    try {
      response = await fetch(path, { cache: "no-store", signal });
    } finally {
      this.answered();
    }
    this.meter({
      requests: 1,
      requestHeaderBytes: requestHeaderEstimate("GET", path),
      responseHeaderBytes: responseHeaderSize(response),
    });
    if (!response.ok) throw refusal(response);
    this.opened();
    const reader = response.body.getReader();
    let pending = new Uint8Array(0);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const recvUs = localNowUs();
      this.meter({ framingBytes: chunkFraming(value.length) });
      pending = concat(pending, value);
      let start = 0;
      for (let end = pending.indexOf(NEWLINE); end !== -1; end = pending.indexOf(NEWLINE, start)) {
        const line = pending.subarray(start, end);
        start = end + 1;
        this.meter({ bodyBytes: line.length, framingBytes: 1 });
        if (line.length > 0) this.deliver(JSON.parse(decoder.decode(line)), recvUs);
      }
      pending = pending.slice(start);
    }
  }
}
