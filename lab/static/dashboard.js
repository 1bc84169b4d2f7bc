// The instructor's dashboard: every second, /api/stats shown as per-transport
// connections and rates (differences between two snapshots over the time
// between them), in a table and on live charts, and /api/network: the class
// link's conditions, the controls (with the key in the URL) and a marker on
// every chart wherever they changed. A hidden probe page on the class link
// measures latency per transport as a student sees it.

import { ServerClock } from "./clock.js";
import { Console, instructorKey } from "./dashboard-console.js";
import { formatBytes } from "./format.js";
import { classLinkHere } from "./network-banner.js";
import { TimePlot } from "./plot.js";
import { LABELS, SOURCES } from "./sources.js";

const PERIOD_MS = 1000;
const COLUMNS = ["open", "requests", "messages", "header", "payload", "total", "dropped"];

function headerBytes(c) {
  return c.request_header_bytes + c.response_header_bytes;
}

function payloadBytes(c) {
  return c.body_bytes + c.framing_bytes;
}

function row(tbody, name) {
  let tr = tbody.querySelector(`tr[data-transport="${name}"]`);
  if (tr) return tr;
  tr = document.createElement("tr");
  tr.dataset.transport = name;
  const th = document.createElement("th");
  th.scope = "row";
  th.textContent = LABELS[name] ?? name;
  tr.append(th);
  for (const field of COLUMNS) {
    const td = document.createElement("td");
    td.dataset.field = field;
    tr.append(td);
  }
  tbody.append(tr);
  return tr;
}

function render(stats, previous, seconds) {
  const tbody = document.getElementById("rows");
  const all = { ...stats.transports, other: stats.other };
  for (const [name, c] of Object.entries(all)) {
    if (!c) continue;
    const before = previous?.[name] ?? c;
    const rate = (now, then) => (seconds > 0 ? (now - then) / seconds : 0);
    const cells = {
      open: String(c.open_connections),
      requests: rate(c.requests, before.requests).toFixed(1),
      messages: rate(c.messages_sent, before.messages_sent).toFixed(1),
      header: `${formatBytes(Math.round(rate(headerBytes(c), headerBytes(before))))}/s`,
      payload: `${formatBytes(Math.round(rate(payloadBytes(c), payloadBytes(before))))}/s`,
      total: formatBytes(headerBytes(c) + payloadBytes(c)),
      dropped: String(c.slow_consumers_dropped),
    };
    const tr = row(tbody, name);
    for (const field of COLUMNS) tr.querySelector(`[data-field="${field}"]`).textContent = cells[field];
  }
  const { prices, chat } = stats.topics;
  document.getElementById("summary").textContent =
    `prices: ${prices.head} published, ${prices.subscribers} live subscribers · ` +
    `chat: ${chat.online ?? "?"} online · up ${Math.round(stats.uptime_s)} s`;
}

const TRANSPORT_LABELS = Object.fromEntries(Object.keys(SOURCES).map((kind) => [kind, LABELS[kind]]));

function makePlots() {
  const plot = (id, labels, format) => new TimePlot(document.getElementById(id), labels, { format });
  return {
    latency: plot("plot-latency", TRANSPORT_LABELS, (v) => `${v.toFixed(0)} ms`),
    requests: plot("plot-requests", { ...TRANSPORT_LABELS, other: "other" }, (v) => v.toFixed(1)),
    bytes: plot("plot-bytes", { ...TRANSPORT_LABELS, other: "other" }, (v) => `${formatBytes(Math.round(v))}`),
    clients: plot("plot-clients", { ...TRANSPORT_LABELS, subscribers: "price subscribers" },
      (v) => v.toFixed(0)),
  };
}

/** Per-second averages of the probe's latencies, per transport. */
class LatencyBuckets {
  constructor() {
    this.sums = new Map();
  }

  add(kind, latencyMs) {
    const [sum, count] = this.sums.get(kind) ?? [0, 0];
    this.sums.set(kind, [sum + latencyMs, count + 1]);
  }

  /** Plot each transport's average since the last flush at `tUs`, and start again. */
  flush(plot, tUs) {
    for (const [kind, [sum, count]] of this.sums) plot.add(kind, tUs, sum / count);
    this.sums.clear();
  }
}

function plotStats(plots, stats, previous, seconds, tUs) {
  const all = { ...stats.transports, other: stats.other };
  for (const [name, c] of Object.entries(all)) {
    const before = previous?.[name];
    if (before && seconds > 0) {
      plots.requests.add(name, tUs, (c.requests - before.requests) / seconds);
      const bytes = (c) => headerBytes(c) + payloadBytes(c);
      plots.bytes.add(name, tUs, (bytes(c) - bytes(before)) / seconds);
    }
    if (name !== "other") plots.clients.add(name, tUs, c.open_connections);
  }
  plots.clients.add("subscribers", tUs, stats.topics.prices.subscribers);
}

/** Embed the probe from the class link (this origin if there is none), once. */
function startProbe(network, buckets) {
  const frame = document.getElementById("probe");
  if (frame.src) return;
  const base = classLinkHere(network.class_link) ?? new URL(location.origin);
  addEventListener("message", (event) => {
    if (event.origin !== base.origin || event.data?.probe !== "latency") return;
    buckets.add(event.data.kind, event.data.latencyMs);
  });
  frame.src = `${base.origin}/static/probe.html?parent=${encodeURIComponent(location.origin)}`;
}

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

async function main() {
  let previous = null;
  let previousAt = 0;
  const problem = document.getElementById("problem");
  const controls = new Console(document.getElementById("console"), instructorKey());
  controls.start();
  const plots = makePlots();
  const buckets = new LatencyBuckets();
  const clock = new ServerClock();
  await clock.start();
  for (;;) {
    try {
      const [stats, network] = await Promise.all([getJson("/api/stats"), getJson("/api/network")]);
      const at = performance.now();
      const tUs = clock.nowUs();
      render(stats, previous, (at - previousAt) / 1000);
      plotStats(plots, stats, previous, (at - previousAt) / 1000, tUs);
      buckets.flush(plots.latency, tUs);
      for (const plot of Object.values(plots)) {
        plot.mark(network.changes);
        plot.advance(tUs);
      }
      document.getElementById("network-now").textContent = `${network.summary}` +
        (network.class_link ? ` — students open ${classLinkHere(network.class_link).href}` : " (no class link)") +
        (network.announcement ? ` — ${network.announcement}` : "");
      controls.show(network);
      startProbe(network, buckets);
      previous = { ...stats.transports, other: stats.other };
      previousAt = at;
      problem.hidden = true;
    } catch (err) {
      problem.textContent = `${err.message}; retrying`;
      problem.hidden = false;
    }
    await new Promise((resolve) => setTimeout(resolve, PERIOD_MS));
  }
}

main();
