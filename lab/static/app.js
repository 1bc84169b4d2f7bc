// The classroom page: joins up the clock, one panel + source per transport, the
// controls and the chat together. Everything else lives in its own module.
//
// Every panel starts from the same snapshot head, so all five show the same
// messages from the same point on and differ only in how they travel. A page
// opened with ?since=N (another node of the lab sent it here) resumes after N.

import { fetchSnapshot } from "./api.js";
import { ServerClock } from "./clock.js";
import { Chat } from "./chat.js";
import { watchNodes } from "./nodes.js";
import { followNetwork } from "./network-banner.js";
import { Panel } from "./panel.js";
import { createSource, SOURCES } from "./sources.js";
import { sleep } from "./source.js";

const clock = new ServerClock();

/** The latest message per symbol and the head, retried until the server answers. */
async function snapshot(topic) {
  const never = new AbortController().signal;
  for (let wait = 500; ; wait = Math.min(wait * 2, 5000)) {
    try {
      return await fetchSnapshot(topic);
    } catch (err) {
      showProblem(`${err.message}; retrying`);
    }
    await sleep(wait, never);
  }
}

function showProblem(text) {
  const banner = document.getElementById("problem");
  banner.textContent = text;
  banner.hidden = !text;
}

function showClock() {
  const out = document.getElementById("clock");
  if (clock.error) {
    out.textContent = clock.error;
    return;
  }
  const sign = clock.offsetUs >= 0 ? "+" : "−";
  out.textContent =
    `clock offset to server ${sign}${(Math.abs(clock.offsetUs) / 1000).toFixed(1)} ms ` +
    `(± ${(clock.rttUs / 2000).toFixed(1)} ms)`;
}

function setUpSymbols(symbols, panels) {
  const select = document.getElementById("symbol");
  for (const symbol of symbols) select.add(new Option(symbol, symbol));
  const wanted = new URLSearchParams(location.search).get("symbol");
  if (symbols.includes(wanted)) select.value = wanted;
  const follow = () => panels.forEach((panel) => panel.follow(select.value));
  select.addEventListener("change", follow);
  follow();
}

function setUpPollInterval(source) {
  const input = document.getElementById("poll-interval");
  const apply = () => {
    const ms = Number(input.value);
    const ok = Number.isFinite(ms) && ms >= 100 && ms <= 10000;
    input.setCustomValidity(ok ? "" : "Between 100 and 10000 ms");
    input.reportValidity();
    if (ok) source.interval = ms;
  };
  input.addEventListener("change", apply);
  source.interval = Number(input.value);
}

/** The transports to show: all, or those listed in ?panels=sse,websocket ("none" for none). */
function chosenPanels() {
  const wanted = new URLSearchParams(location.search).get("panels");
  const all = Object.keys(SOURCES);
  if (wanted === null) return all;
  const names = wanted.split(",");
  return all.filter((kind) => names.includes(kind));
}

async function main() {
  // Wired before the first await, so the chat form never submits natively.
  new Chat(document.getElementById("chat")).start();
  followNetwork(document.getElementById("network"));
  clock.onChange(showClock);
  await clock.start();
  const prices = await snapshot("prices");
  showProblem("");
  const resume = Number.parseInt(new URLSearchParams(location.search).get("since") ?? "", 10);
  const since = Number.isInteger(resume) && resume >= 0 ? resume : prices.head;
  const symbols = [...new Set(prices.messages.map((m) => m.data.symbol))].sort();
  const grid = document.getElementById("panels");
  const template = document.getElementById("panel-template");
  const panels = [];
  const sources = {};
  for (const kind of chosenPanels()) {
    const root = template.content.firstElementChild.cloneNode(true);
    grid.append(root);
    const panel = new Panel(root, kind, clock);
    const source = createSource(kind, { topic: "prices", since, handlers: panel.handlers() });
    panel.attach(source);
    panels.push(panel);
    sources[kind] = source;
  }
  setUpSymbols(symbols, panels);
  if (sources.poll) setUpPollInterval(sources.poll);
  Object.values(sources).forEach((source) => source.start());
  const seqs = () => Object.values(sources).map((s) => s.lastSeq).filter((seq) => seq !== null);
  watchNodes(() => (seqs().length ? Math.min(...seqs()) : null));
}

main();
