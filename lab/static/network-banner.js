// The banner that tells students what the network is doing: the class link's
// conditions in force (from GET /api/network, every second) and the scripted
// demo's current step. On the direct URL nothing is impaired, and the banner
// says so and where the class link is.

import { sleep } from "./source.js";

const PERIOD_MS = 1000;

/** The class link's URL as this browser reaches it: the server's port, this page's host. */
export function classLinkHere(classLink) {
  if (!classLink) return null;
  const url = new URL(classLink);
  url.hostname = location.hostname;
  return url;
}

/** Whether this page was loaded through the class link. */
export function onClassLink(network) {
  const url = classLinkHere(network.class_link);
  return url !== null && url.port === location.port;
}

function render(root, network) {
  const onLink = onClassLink(network);
  const calm = network.summary.startsWith("calm");
  root.querySelector("[data-field=conditions]").textContent = onLink
    ? `Network now: ${network.summary}.`
    : `Direct link: no impairment here.${network.class_link
      ? ` The class link (${classLinkHere(network.class_link).href}) has: ${network.summary}.` : ""}`;
  const announcement = root.querySelector("[data-field=announcement]");
  announcement.textContent = network.announcement;
  announcement.hidden = !network.announcement;
  root.dataset.impaired = String(onLink && !calm);
  root.hidden = false;
}

/** Poll /api/network and keep `root` (the #network banner) up to date; `onChange(network)`
 *  is told each time the conditions change. Runs until the page closes. */
export async function followNetwork(root, onChange = () => {}) {
  const never = new AbortController().signal;
  let last = "";
  for (;;) {
    try {
      const response = await fetch("/api/network", { cache: "no-store" });
      if (response.ok) {
        const network = await response.json();
        render(root, network);
        const key = `${network.summary}|${network.announcement}`;
        if (key !== last) onChange(network);
        last = key;
      }
    } catch {
      // The server or the link is down for a moment: the panels say so; try again.
    }
    await sleep(PERIOD_MS, never);
  }
}
