// What every transport's browser client shares: lifecycle, resume point,
// gap and duplicate accounting, retry with back-off, and the byte meter.
//
// A subclass only opens and closes its own kind of connection and hands
// decoded messages to deliver(). It holds no view code: whoever creates a
// source passes handlers (message, status, meter) and draws what it likes.

import { localNowUs } from "./clock.js";
import { STALL_MS, WAITING_TEXT, connectionLimited } from "./connection-limit.js";

/** Connection states, one at a time. */
export const State = Object.freeze({
  IDLE: "idle",
  CONNECTING: "connecting",
  OPEN: "open",
  RETRYING: "retrying",
  PAUSED: "paused",
  WAITING: "waiting",
});

/** Per topic, when any source of this page last delivered a message (performance.now()). */
const lastNewsMs = new Map();

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 5000;
const MAX_RETRY_AFTER_MS = 300_000;

/**
 * The longest wait before retry number `attempt` (0 for the first): 500 ms doubling, at most 5 s.
 */
export function retryCeilingMs(attempt) {
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(attempt, 64));
}

/**
 * The wait before retry `attempt`, "full jitter" (AWS Architecture Blog, "Exponential Backoff
 * And Jitter"): a uniform draw below the ceiling, `unit` being Math.random() or a test's value.
 * A class whose server restarted so comes back spread over the whole interval, not in the same
 * instants. A server's Retry-After (ms) is a floor added under the draw, so clients told the
 * same time do not all return together either.
 */
export function retryDelayMs(attempt, unit = Math.random(), retryAfterMs = null) {
  return (retryAfterMs ?? 0) + unit * retryCeilingMs(attempt);
}

/**
 * A Retry-After header value in ms (RFC 9110 §10.2.3: delay-seconds or an HTTP date), or null
 * when absent or neither; a past date is 0; at most 5 minutes.
 */
export function parseRetryAfterMs(value, nowMs = Date.now()) {
  if (value === null || value === undefined) return null;
  const text = String(value).trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  if (!/[A-Za-z]{3}, /.test(text)) return null;
  const when = Date.parse(text);
  if (Number.isNaN(when)) return null;
  return Math.min(Math.max(0, when - nowMs), MAX_RETRY_AFTER_MS);
}

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
    this.attempt = 0;
    this.lastTUs = 0;
    this.waiters = new Set();
    this.detail = "";
    this.stallTimer = null;
    this.beforeWaiting = null;
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
    this.answered();
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
    if (this.lastSeq !== null && msg.seq <= this.lastSeq && msg.t_us > this.lastTUs) {
      // An old seq published after the newest message held: the server restarted without its
      // history and began again at 1. The new sequence's earlier messages were never seen.
      this.meter({ missed: msg.seq - 1 });
      this.lastSeq = msg.seq - 1;
    }
    if (this.lastSeq !== null && msg.seq <= this.lastSeq) {
      this.meter({ duplicates: 1 });
      return;
    }
    lastNewsMs.set(this.topic, performance.now());
    const missed = this.lastSeq === null ? 0 : msg.seq - this.lastSeq - 1;
    this.lastSeq = msg.seq;
    this.lastTUs = msg.t_us;
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
    this.attempt = 0;
    this.setState(State.OPEN, detail);
  }

  /**
   * Something failed: wait (growing back-off, full jitter, see retryDelayMs) and report;
   * resolves false if stopped meanwhile. `retryAfter` is the failed answer's Retry-After
   * header, when it had one (a 429 or 503): the wait is then at least that.
   */
  async backoff(reason, signal, retryAfter = null) {
    this.setState(State.RETRYING, reason);
    const ms = retryDelayMs(this.attempt, Math.random(), parseRetryAfterMs(retryAfter));
    this.attempt += 1;
    const awake = await sleep(ms, signal);
    if (awake) this.meter({ reconnects: 1 });
    return awake;
  }

  /**
   * A request went out. If it is still unanswered after STALL_MS on an HTTP/1.x page (for a
   * source held until news, only once other panels had news), the panel says it is probably
   * waiting for a free connection, and how to get out (see connection-limit.js).
   */
  awaiting() {
    this.answered();
    const sentMs = performance.now();
    const check = () => {
      const quiet = this.constructor.heldUntilNews && !((lastNewsMs.get(this.topic) ?? 0) > sentMs);
      if (quiet) {
        this.stallTimer = setTimeout(check, STALL_MS);
        return;
      }
      this.stallTimer = null;
      this.beforeWaiting = [this.state, this.detail];
      this.setState(State.WAITING, WAITING_TEXT);
    };
    if (connectionLimited()) this.stallTimer = setTimeout(check, STALL_MS);
  }

  /** The request was answered (or given up): stop watching; undo the waiting notice. */
  answered() {
    clearTimeout(this.stallTimer);
    this.stallTimer = null;
    const before = this.beforeWaiting;
    this.beforeWaiting = null;
    if (before !== null && this.state === State.WAITING) this.setState(...before);
  }

  setState(state, detail = "") {
    this.state = state;
    this.detail = detail;
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
