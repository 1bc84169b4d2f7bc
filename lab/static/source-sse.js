// Server-Sent Events: EventSource on /api/events.
//
// EventSource reconnects by itself after a dropped stream and sends
// Last-Event-ID, so the server resumes after the last id; only a fatal error
// (readyState CLOSED: an HTTP error or a wrong content type) makes this class
// open a new EventSource with ?since=. EventSource hides the response headers
// and heartbeat comments, so those bytes are estimates or not counted.

import { utf8Length, chunkFraming, requestHeaderEstimate, sseEventFraming,
  sseResponseHeaderEstimate } from "./estimates.js";
import { Source } from "./source.js";

export class SseSource extends Source {
  static kind = "sse";

  constructor(options) {
    super(options);
    this.events = null;
  }

  async open(signal) {
    const path = this.path("/api/events");
    const events = new EventSource(path);
    this.events = events;
    this.awaiting();
    let resumed = false;
    events.onopen = () => {
      this.answered();
      const extra = resumed && this.lastSeq !== null ? [["Last-Event-ID", String(this.lastSeq)]] : [];
      this.meter({
        requests: 1,
        requestHeaderBytes: requestHeaderEstimate("GET", path, { accept: "text/event-stream", extra }),
        responseHeaderBytes: sseResponseHeaderEstimate(),
      });
      this.opened(resumed ? "resumed with Last-Event-ID" : "");
    };
    events.onmessage = (event) => {
      const size = utf8Length(event.data);
      const framing = event.lastEventId ? sseEventFraming(event.lastEventId) : 8;
      this.meter({ bodyBytes: size, framingBytes: framing + chunkFraming(size + framing) });
      this.deliver(JSON.parse(event.data));
    };
    events.onerror = async () => {
      if (signal.aborted) return;
      resumed = true;
      if (events.readyState !== EventSource.CLOSED) {
        this.setState("retrying", "stream dropped; EventSource reconnects with Last-Event-ID");
        this.meter({ reconnects: 1 });
        this.awaiting();
        return;
      }
      this.answered();
      this.close();
      if (await this.backoff("EventSource failed", signal)) this.open(signal);
    };
  }

  close() {
    this.events?.close();
    this.events = null;
  }
}
