// Byte estimates for what a browser cannot see: header blocks and framing.
//
// A page never sees the raw bytes of its own connections. These functions
// rebuild them from what the page does know: the request line and the usual
// headers Chromium adds (with the real User-Agent, languages, referrer and
// cookies of this page), the response headers fetch() exposes, the SSE event
// text, and RFC 6455 frame-size arithmetic. Every figure they feed is labelled
// "estimate" on the page. They do no I/O and change nothing.

const encoder = new TextEncoder();

/** UTF-8 length of a string, in bytes. */
export function utf8Length(text) {
  return encoder.encode(text).length;
}

function headerLines(pairs) {
  let total = 0;
  for (const [name, value] of pairs) total += utf8Length(`${name}: ${value}\r\n`);
  return total;
}

// Chromium's request headers, as captured from Chromium 150 on the wire. It
// sends client hints and brotli/zstd only to secure origins (localhost counts).
function acceptLanguage() {
  const q = (i) => Math.max(0.1, 1 - i / 10).toFixed(1);
  return navigator.languages.map((lang, i) => (i === 0 ? lang : `${lang};q=${q(i)}`)).join(",");
}

function identityHeaders() {
  const pairs = [
    ["Host", location.host],
    ["Pragma", "no-cache"],
    ["Cache-Control", "no-cache"],
    ["User-Agent", navigator.userAgent],
    ["Accept-Encoding", isSecureContext ? "gzip, deflate, br, zstd" : "gzip, deflate"],
    ["Accept-Language", acceptLanguage()],
  ];
  if (document.cookie) pairs.push(["Cookie", document.cookie]);
  return pairs;
}

function clientHints() {
  if (!navigator.userAgentData) return [];
  const { brands, mobile, platform } = navigator.userAgentData;
  return [
    ["sec-ch-ua", brands.map((b) => `"${b.brand}";v="${b.version}"`).join(", ")],
    ["sec-ch-ua-mobile", mobile ? "?1" : "?0"],
    ["sec-ch-ua-platform", `"${platform}"`],
  ];
}

/**
 * Estimated request line + headers + blank line of a same-origin GET made by
 * fetch(…, {cache: "no-store"}) or EventSource (pass its Accept and, on a
 * reconnect, Last-Event-ID in `extra`).
 */
export function requestHeaderEstimate(method, pathAndQuery, { accept = "*/*", extra = [] } = {}) {
  const line = `${method} ${pathAndQuery} HTTP/1.1\r\n`;
  const pairs = [
    ...identityHeaders(),
    ...clientHints(),
    ["Connection", "keep-alive"],
    ["Accept", accept],
    ["Sec-Fetch-Site", "same-origin"],
    ["Sec-Fetch-Mode", "cors"],
    ["Sec-Fetch-Dest", "empty"],
    ["Referer", location.href],
    ...extra,
  ];
  return utf8Length(line) + headerLines(pairs) + 2;
}

/** Status line + headers + blank line of a fetch() response, from the headers it exposes. */
export function responseHeaderSize(response) {
  const statusText = response.statusText || "OK";
  let total = utf8Length(`HTTP/1.1 ${response.status} ${statusText}\r\n`) + 2;
  for (const [name, value] of response.headers) total += utf8Length(`${name}: ${value}\r\n`);
  return total;
}

// EventSource exposes no response headers: assume the ones the lab's server
// sends for a stream (Date and Server at their usual lengths).
const TYPICAL_STREAM_HEADERS = [
  ["Content-Type", "text/event-stream"],
  ["Cache-Control", "no-store"],
  ["X-Accel-Buffering", "no"],
  ["Transfer-Encoding", "chunked"],
  ["Date", "Thu, 27 Nov 2025 10:00:00 GMT"],
  ["Server", "Python/3.11 aiohttp/3.14.0"],
];

/** Estimated response header block of an SSE response. */
export function sseResponseHeaderEstimate() {
  return utf8Length("HTTP/1.1 200 OK\r\n") + headerLines(TYPICAL_STREAM_HEADERS) + 2;
}

/** Estimated bytes of the WebSocket opening handshake: [request, response]. */
export function websocketHandshakeEstimate(pathAndQuery) {
  const request =
    utf8Length(`GET ${pathAndQuery} HTTP/1.1\r\n`) +
    headerLines([
      ...identityHeaders(),
      ["Connection", "Upgrade"],
      ["Upgrade", "websocket"],
      ["Origin", location.origin],
      ["Sec-WebSocket-Version", "13"],
      ["Sec-WebSocket-Key", "x".repeat(24)],
      ["Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"],
    ]) +
    2;
  const response =
    utf8Length("HTTP/1.1 101 Switching Protocols\r\n") +
    headerLines([
      ["Upgrade", "websocket"],
      ["Connection", "upgrade"],
      ["Sec-WebSocket-Accept", "x".repeat(28)],
      ["Date", "Thu, 27 Nov 2025 10:00:00 GMT"],
      ["Server", "Python/3.11 aiohttp/3.14.0"],
      ["Cache-Control", "no-store"],
    ]) +
    2;
  return [request, response];
}

/** RFC 6455 §5.2 frame header size for a payload; client frames add a 4-byte mask. */
export function websocketFrameHeader(payloadLength, fromClient = false) {
  let size = 2;
  if (payloadLength > 65535) size += 8;
  else if (payloadLength > 125) size += 2;
  return fromClient ? size + 4 : size;
}

/** Bytes HTTP/1.1 chunked encoding adds around one chunk of `size` bytes. */
export function chunkFraming(size) {
  return size.toString(16).length + 4;
}

/** SSE framing around one event's data: "id: N\n", "data: ", and the blank line. */
export function sseEventFraming(id) {
  return utf8Length(`id: ${id}\n`) + "data: ".length + 2;
}
