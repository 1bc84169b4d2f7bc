// Long poll: GET /api/longpoll?topic=…&since=N, held by the server until a
// newer message exists (or a timeout), then asked again at once.
//
// The next request can only leave after the answer arrived, so every update
// costs a full round trip and a header block; that is the point of the panel.

import { fetchBatch } from "./source-poll.js";
import { Source } from "./source.js";

const HOLD_SECONDS = 25;

export class LongPollSource extends Source {
  static kind = "longpoll";
  static heldUntilNews = true;

  async open(signal) {
    if (this.lastSeq === null) this.lastSeq = 0;
    // Held requests only answer on news, so "open" means "a request is out".
    this.opened(`held up to ${HOLD_SECONDS} s`);
    while (!signal.aborted) {
      try {
        await fetchBatch(this, this.path("/api/longpoll", `&timeout=${HOLD_SECONDS}`), signal);
        if (this.state !== "open") this.opened(`held up to ${HOLD_SECONDS} s`);
      } catch (err) {
        if (signal.aborted) return;
        if (!(await this.backoff(err.message, signal, err.retryAfter))) return;
      }
    }
  }
}
