// The view of one transport: price, live line, latency and its strip over
// time, requests, bytes, missed updates, status, the last message as it
// crossed the wire (an estimate), and a pause/resume button.
//
// It draws what its source reports and keeps the last prices of every symbol,
// so following another symbol redraws at once. It never talks to the network.

import { formatBytes } from "./format.js";
import { LABELS } from "./sources.js";
import { Sparkline } from "./sparkline.js";
import { wireView } from "./wire.js";

const HISTORY = 120;
const LATENCY_WINDOW = 100;
const AGE_TICK_MS = 500;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

export class Panel {
  /** root: a clone of #panel-template; clock: a ServerClock. */
  constructor(root, kind, clock) {
    this.root = root;
    this.kind = kind;
    this.clock = clock;
    this.symbol = null;
    this.histories = new Map();
    this.latencies = [];
    this.counts = null;
    this.renderScheduled = false;
    this.source = null;
    root.dataset.transport = kind;
    this.field("name").textContent = LABELS[kind];
    this.chart = new Sparkline(this.field("chart"), HISTORY);
    this.latencyChart = new Sparkline(this.field("latency-chart"), HISTORY);
    this.lastMessage = null;
    this.lastMessageMs = null; // when the last message arrived (performance.now())
    // A frozen panel (a buffering proxy, a stalled connection) keeps its last latency on
    // show: the age of that message says it is old.
    setInterval(() => this.showAge(), AGE_TICK_MS);
    this.wire = root.querySelector("details.wire");
    this.wire.addEventListener("toggle", () => this.showWire());
    this.pauseButton = root.querySelector('[data-action="pause"]');
    this.pauseButton.setAttribute("aria-label", `Pause ${LABELS[kind]}`);
    this.pauseButton.addEventListener("click", () => this.togglePause());
  }

  field(name) {
    return this.root.querySelector(`[data-field="${name}"]`);
  }

  /** Handlers to pass to the source this panel shows. */
  handlers() {
    return {
      message: (msg, recvUs) => this.onMessage(msg, recvUs),
      meter: (counts) => this.onMeter(counts),
      status: (state, detail) => this.onStatus(state, detail),
      notice: (text) => this.onStatus(this.source?.state ?? "", text),
    };
  }

  attach(source) {
    this.source = source;
  }

  /** Show `symbol` from now on, redrawing its line from what is already held. */
  follow(symbol) {
    this.symbol = symbol;
    this.field("symbol").textContent = symbol;
    const history = this.histories.get(symbol) ?? [];
    this.field("price").textContent = history.length ? history.at(-1).toFixed(4) : "—";
    this.latencies = [];
    this.field("latency").textContent = "—";
    this.field("latency-median").textContent = "—";
    this.chart.reset(history);
    this.latencyChart.reset([]);
  }

  onMessage(msg, recvUs) {
    const { symbol, price } = msg.data;
    let history = this.histories.get(symbol);
    if (!history) this.histories.set(symbol, (history = []));
    history.push(price);
    if (history.length > HISTORY) history.shift();
    if (symbol !== this.symbol) return;
    const latencyMs = (recvUs + this.clock.offsetUs - msg.t_us) / 1000;
    this.latencies.push(latencyMs);
    if (this.latencies.length > LATENCY_WINDOW) this.latencies.shift();
    this.field("price").textContent = price.toFixed(4);
    this.field("latency").textContent = `${latencyMs.toFixed(1)} ms`;
    this.field("latency-median").textContent = `${median(this.latencies).toFixed(1)} ms`;
    this.chart.push(price);
    this.latencyChart.push(latencyMs);
    this.lastMessage = msg;
    this.lastMessageMs = performance.now();
    this.showAge();
    if (this.wire.open) this.showWire();
  }

  showAge() {
    if (this.lastMessageMs === null) return;
    const seconds = (performance.now() - this.lastMessageMs) / 1000;
    const age = this.field("age");
    age.textContent = seconds < 1 ? "just now" : `${seconds.toFixed(0)} s ago`;
    age.dataset.stale = String(seconds >= 3);
  }

  /** Rebuild the wire view from the last message (only while it is open). */
  showWire() {
    if (this.lastMessage === null) return;
    const { title, text } = wireView(this.kind, this.lastMessage);
    this.field("wire-title").textContent = title;
    this.field("wire").textContent = text;
  }

  onMeter(counts) {
    this.counts = counts;
    if (this.renderScheduled) return;
    this.renderScheduled = true;
    requestAnimationFrame(() => {
      this.renderScheduled = false;
      this.renderCounts();
    });
  }

  renderCounts() {
    const c = this.counts;
    const headers = c.requestHeaderBytes + c.responseHeaderBytes;
    const total = headers + c.bodyBytes + c.framingBytes + c.sentBytes;
    this.field("requests").textContent = String(c.requests);
    this.field("header-bytes").textContent = formatBytes(headers);
    this.field("bytes").textContent = formatBytes(total);
    this.field("bytes").title =
      `headers ${formatBytes(headers)} (estimate), body ${formatBytes(c.bodyBytes)}, ` +
      `framing ${formatBytes(c.framingBytes)} (estimate), sent ${formatBytes(c.sentBytes)}`;
    this.field("missed").textContent = String(c.missed);
    this.field("messages").textContent = String(c.messages);
  }

  onStatus(state, detail) {
    const status = this.field("status");
    status.textContent = detail ? `${state} — ${detail}` : state;
    status.dataset.state = state;
  }

  togglePause() {
    const paused = this.pauseButton.getAttribute("aria-pressed") === "true";
    if (paused) this.source.start();
    else this.source.stop();
    this.pauseButton.setAttribute("aria-pressed", String(!paused));
    this.pauseButton.textContent = paused ? "Pause" : "Resume";
    this.pauseButton.setAttribute("aria-label", `${paused ? "Pause" : "Resume"} ${LABELS[this.kind]}`);
  }
}
