// WebSocket: one socket on /ws, one text frame per message.
//
// Frame sizes follow RFC 6455 from the payload length (the browser hides the
// frames themselves and answers pings by itself, so ping/pong bytes are not
// counted). If the server negotiated permessage-deflate, payloads on the wire
// are smaller than counted here, and the status line says so.
//
// With options.user the socket opens on a bare /ws and subscribes by command
// ({"type": "subscribe", …, "user"}), which joins the chat: the socket is then
// that chat identity, and closing it leaves. A command the server refuses is
// answered {"type": "error", "error", ["retry_after"]}: handed to handlers.refused.

import { localNowUs } from "./clock.js";
import { utf8Length, websocketFrameHeader, websocketHandshakeEstimate } from "./estimates.js";
import { Source } from "./source.js";

export class WebSocketSource extends Source {
  static kind = "websocket";

  constructor(options) {
    super(options);
    this.user = options.user ?? null;
    this.socket = null;
  }

  /** The subscribe command that resumes the topic and joins as options.user. */
  subscribeCommand() {
    const command = { type: "subscribe", topic: this.topic, user: this.user };
    if (this.lastSeq !== null) command.since = this.lastSeq;
    return command;
  }

  open(signal) {
    const path = this.user === null ? this.path("/ws") : "/ws";
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let socket;
    try {
      socket = new WebSocket(`${scheme}//${location.host}${path}`);
    } catch (err) {
      this.backoff(`WebSocket refused: ${err.message}`, signal).then((awake) => {
        if (awake) this.open(signal);
      });
      return;
    }
    this.socket = socket;
    let wasOpen = false;
    socket.onopen = () => {
      wasOpen = true;
      const [request, response] = websocketHandshakeEstimate(path);
      this.meter({ requests: 1, requestHeaderBytes: request, responseHeaderBytes: response });
      this.opened(socket.extensions ? `${socket.extensions}: payloads counted uncompressed` : "");
      if (this.user !== null) this.send(this.subscribeCommand());
    };
    socket.onmessage = (event) => {
      const recvUs = localNowUs();
      const size = utf8Length(event.data);
      this.meter({ bodyBytes: size, framingBytes: websocketFrameHeader(size) });
      const msg = JSON.parse(event.data);
      if (msg.type === "error") this.handlers.refused?.(msg);
      else this.deliver(msg, recvUs);
    };
    socket.onclose = async (event) => {
      if (signal.aborted || this.socket !== socket) return;
      this.socket = null;
      const reason = wasOpen
        ? `closed ${event.code}${event.reason ? `: ${event.reason}` : ""}`
        : "upgrade failed (refused by the server or a proxy, or unreachable)";
      if (await this.backoff(reason, signal)) this.open(signal);
    };
  }

  /** Send one JSON object as a text frame; false when the socket is not open. */
  send(obj) {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    const text = JSON.stringify(obj);
    const size = utf8Length(text);
    this.socket.send(text);
    this.meter({ sentBytes: size + websocketFrameHeader(size, true) });
    return true;
  }

  close() {
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, "closed by the page");
  }
}
