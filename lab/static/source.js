// What every transport's browser client shares: lifecycle, resume point,
// gap and duplicate accounting, retry with back-off, and the byte meter.
//
// A subclass only opens and closes its own kind of connection and hands
// decoded messages to deliver(). It holds no view code: whoever creates a
// source passes handlers (message, status, meter) and draws what it likes.

import { localNowUs } from "./clock.js";

/** Connection states, one at a time. */
export const State = Object.freeze({
  IDLE: "idle",
  CONNECTING: "connecting",
  OPEN: "open",
  RETRYING: "retrying",
  PAUSED: "paused",
});

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 5000;

/** Sleep that ends early (resolving false) once `signal` aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => resolve(true), ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

export class Source {
  /**
   * options: topic, since (resume after this seq; null = live only),
   * interval (ms, short poll), token (a chat identity's: sent as ?token= so that the
   * connection keeps it present), handlers: {message(msg, recvUs), status(state, detail),
   * meter(counts)}.
   */
  constructor({ topic = "prices", since = null, interval = 1000, token = null, handlers = {} }) {
    this.topic = topic;
    this.token = token;
    this.lastSeq = since;
    this.interval = interval;
    this.handlers = handlers;
    this.state = State.IDLE;
    this.controller = null;
    this.retryMs = FIRST_RETRY_MS;
    this.waiters = new Set();
    this.counts = {
      requests: 0,
      requestHeaderBytes: 0,
      responseHeaderBytes: 0,
      bodyBytes: 0,
      framingBytes: 0,
      sentBytes: 0,
      messages: 0,
      missed: 0,
      duplicates: 0,
      reconnects: 0,
    };
  }

  /** The transport name, as in the contract. */
  get kind() {
    return this.constructor.kind;
  }

  /** Open the connection (again), resuming after the last seq seen. */
  start() {
    if (this.controller !== null) return;
    this.controller = new AbortController();
    this.setState(State.CONNECTING);
    this.open(this.controller.signal);
  }

  /** Close the connection; start() resumes without loss while the server still buffers. */
  stop(state = State.PAUSED, detail = "") {
    if (this.controller === null) return;
    this.controller.abort();
    this.controller = null;
    this.close();
    this.setState(state, detail);
  }

  /** Subclasses: open the connection; stop when `signal` aborts. */
  open(_signal) {
    throw new Error("open() not implemented");
  }

  /** Subclasses: release whatever open() holds (sockets, event sources). */
  close() {}

  /** The path and query of the next request, resuming after the last seq. */
  path(endpoint, extra = "") {
    const since = this.lastSeq === null ? "" : `&since=${this.lastSeq}`;
    const token = this.token === null ? "" : `&token=${encodeURIComponent(this.token)}`;
    return `${endpoint}?topic=${encodeURIComponent(this.topic)}${since}${token}${extra}`;
  }

  /** Hand one decoded message (or missed notice) to the handlers, counting gaps and duplicates. */
  deliver(msg, recvUs = localNowUs()) {
    if (msg.seq === undefined) {
      // A {"topic", "missed"} notice: the seq jump that follows is what counts.
      if (msg.missed) this.setState(this.state, `server: ${msg.missed} no longer buffered`);
      return;
    }
    if (this.lastSeq !== null && msg.seq <= this.lastSeq) {
      this.meter({ duplicates: 1 });
      return;
    }
    const missed = this.lastSeq === null ? 0 : msg.seq - this.lastSeq - 1;
    this.lastSeq = msg.seq;
    this.meter({ messages: 1, missed });
    this.handlers.message?.(msg, recvUs);
  }

  /** Add to the byte and request counters and tell the meter handler. */
  meter(delta) {
    for (const [key, value] of Object.entries(delta)) this.counts[key] += value;
    this.handlers.meter?.(this.counts);
  }

  /** The connection works: reset the back-off. */
  opened(detail = "") {
    this.retryMs = FIRST_RETRY_MS;
    this.setState(State.OPEN, detail);
  }

  /**
   * Something failed: wait (growing back-off) and report; resolves false if stopped meanwhile.
   * Each wait is drawn between half the current ceiling and the ceiling, so a class whose
   * server restarted does not come back in the same instants.
   */
  async backoff(reason, signal) {
    this.setState(State.RETRYING, reason);
    const ms = this.retryMs / 2 + Math.random() * (this.retryMs / 2);
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
    const awake = await sleep(ms, signal);
    if (awake) this.meter({ reconnects: 1 });
    return awake;
  }

  setState(state, detail = "") {
    this.state = state;
    this.handlers.status?.(state, detail);
    for (const waiter of this.waiters) waiter(state, detail);
  }

  /** Start and resolve {ok, detail}: ok once open, not ok on the first failure or timeout. */
  startAndWait(timeoutMs) {
    return new Promise((resolve) => {
      const finish = (ok, detail) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve({ ok, detail });
      };
      const waiter = (state, detail) => {
        if (state === State.OPEN) finish(true, detail);
        else if (state === State.RETRYING) finish(false, detail);
      };
      const timer = setTimeout(() => finish(false, `no answer within ${timeoutMs / 1000} s`), timeoutMs);
      this.waiters.add(waiter);
      this.start();
    });
  }
}
