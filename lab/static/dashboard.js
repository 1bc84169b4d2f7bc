// The instructor's dashboard: /api/stats every second, shown as per-transport
// connections and rates (differences between two snapshots over the time
// between them). It keeps only the previous snapshot.

import { formatBytes } from "./format.js";
import { LABELS } from "./sources.js";

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

async function main() {
  let previous = null;
  let previousAt = 0;
  const problem = document.getElementById("problem");
  for (;;) {
    try {
      const response = await fetch("/api/stats", { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const stats = await response.json();
      const at = performance.now();
      render(stats, previous, (at - previousAt) / 1000);
      previous = { ...stats.transports, other: stats.other };
      previousAt = at;
      problem.hidden = true;
    } catch (err) {
      problem.textContent = `/api/stats failed (${err.message}); retrying`;
      problem.hidden = false;
    }
    await new Promise((resolve) => setTimeout(resolve, PERIOD_MS));
  }
}

main();
