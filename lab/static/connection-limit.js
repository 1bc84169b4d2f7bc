// Why a panel can wait without any error: the browser's connection limit.
//
// Over HTTP/1.1 a browser opens at most six connections to one server (one
// scheme, host and port), shared by every tab open on it, and one request at
// a time uses each. A chunked stream, an SSE stream and a held long poll each
// keep one for as long as they last, so with a few tabs of the lab open every
// connection is taken and the next request waits in the browser, unsent and
// silent. HTTP/2 carries every request of every tab as streams of one
// connection, so the limit goes away (WebSocket has a pool of its own).
//
// The browser does not say that a request is queued; a panel infers it: a
// request unanswered for STALL_MS on a page loaded over HTTP/1.x, while (for a
// long poll, which may legitimately wait for news) other panels got news.

/** How long a request may go unanswered before its panel says why it may wait. */
export const STALL_MS = 4000;

/** Whether this page came over HTTP/1.x, whose connections per server are limited. */
export function connectionLimited() {
  const [navigation] = performance.getEntriesByType("navigation");
  return !/^h[23]/.test(navigation?.nextHopProtocol ?? "");
}

/** What a waiting panel says: the cause and the ways out. */
export const WAITING_TEXT =
  "no answer yet: probably waiting for a free connection. Over HTTP/1.1 a browser opens at " +
  "most 6 connections to one server, shared by all its tabs, and streams and held polls keep " +
  "theirs. Close other tabs of the lab, show fewer panels (?panels=sse,websocket), or open " +
  "the lab over HTTP/2 (python -m lab --proxy nginx).";
