// The dashboard's latency probe: one client of each transport on this page's
// origin (the class link, when the dashboard embeds it from there), posting
// every price's latency to the embedding dashboard as
// {probe: "latency", kind, tUs, latencyMs}. The dashboard names the origin it
// accepts; this page names the dashboard's (?parent=) so nothing else hears it.

import { fetchSnapshot } from "./api.js";
import { ServerClock } from "./clock.js";
import { createSource, SOURCES } from "./sources.js";

async function main() {
  const parentOrigin = new URLSearchParams(location.search).get("parent");
  if (!parentOrigin || window.parent === window) return;
  const clock = new ServerClock();
  await clock.start();
  const { head } = await fetchSnapshot("prices");
  for (const kind of Object.keys(SOURCES)) {
    const handlers = {
      message: (msg, recvUs) => {
        const latencyMs = (recvUs + clock.offsetUs - msg.t_us) / 1000;
        window.parent.postMessage({ probe: "latency", kind, tUs: msg.t_us, latencyMs }, parentOrigin);
      },
    };
    createSource(kind, { topic: "prices", since: head, handlers }).start();
  }
}

main();
