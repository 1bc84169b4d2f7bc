// Moving to another node when this one stops answering (a lab spread over nodes by --broker).
//
// /api/stats lists the page of every live node. When it lists others, the page
// asks again every few seconds; if its own node fails to answer twice in a row,
// it opens the next node's page and asks it to resume every panel after the
// last seq shown here (?since=N), so nothing is lost and nothing repeated.

import { sleep } from "./source.js";

const CHECK_MS = 3000;
const FAILURES_BEFORE_MOVING = 2;

async function liveNodes() {
  const response = await fetch("/api/stats", { cache: "no-store" });
  if (!response.ok) throw new Error(`/api/stats answered HTTP ${response.status}`);
  return (await response.json()).nodes ?? [];
}

/** The node after this one in the (sorted) list, or null when there is no other. */
function nextNode(nodes) {
  const here = `${location.origin}/`;
  const others = nodes.filter((url) => url !== here);
  if (!others.length) return null;
  const after = nodes.indexOf(here);
  return after < 0 ? others[0] : nodes[(after + 1) % nodes.length];
}

/** Watch this node while other nodes serve the same lab; ``lastSeq()`` is where to resume. */
export async function watchNodes(lastSeq) {
  const never = new AbortController().signal;
  let nodes;
  try {
    nodes = await liveNodes();
  } catch {
    return;
  }
  if (nodes.length < 2) return; // this node is the lab: nowhere to move to
  for (let failures = 0; ; ) {
    await sleep(CHECK_MS, never);
    try {
      nodes = await liveNodes();
      failures = 0;
    } catch {
      failures += 1;
      const next = nextNode(nodes);
      if (failures >= FAILURES_BEFORE_MOVING && next !== null) {
        const params = new URLSearchParams(location.search);
        const seq = lastSeq();
        if (seq !== null) params.set("since", String(seq));
        location.replace(`${next}?${params}`);
        return;
      }
    }
  }
}
