// The chat room: everyone on the page sees it (messages, joins, leaves, the
// online count) before joining; a name is needed only to speak, and the page
// remembers it. It receives on a chosen transport, falling back by itself when
// WebSocket fails — at the start, or later when a proxy starts refusing it.
//
// Every piece of text from the network is put into the page with
// textContent, never as HTML, so "<img src=x onerror=alert(1)>" shows as typed.
// A visitor watches on an anonymous connection. Joining replaces it: on
// WebSocket the socket itself joins, sends and (by closing) leaves; on the
// HTTP transports those are POSTs to /api/chat/join, which gives a token, then
// /api/chat and /api/chat/leave with "Authorization: Bearer <token>". The
// token lives in this object's memory only: a reload is a new visitor (the
// name is kept in localStorage). The receiving connection carries it as
// ?token=, which keeps the name present; a user the server dropped after a
// silence (a laptop asleep) sees their own "left" and is asked to join again.
// Refusals — a name in use (409), a dropped token (401), too many posts (429) —
// are shown with the server's reason.

import { fetchSnapshot, postJson, refusalText } from "./api.js";
import { connectWithFallback, describeFallback } from "./chat-connect.js";
import { createSource, LABELS } from "./sources.js";

const State = Object.freeze({ OUT: "out", JOINING: "joining", IN: "in", LEAVING: "leaving" });
const HISTORY = 50;
const MAX_LOG = 200;
const POLL_MS = 500;
const NAME_KEY = "right-now-lab.chat-name";

/** The name this browser last joined with ("" if none, or storage is off). */
function rememberedName() {
  try {
    return localStorage.getItem(NAME_KEY) ?? "";
  } catch {
    return "";
  }
}

function rememberName(name) {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // Storage off (a private window's policy): the name is simply not remembered.
  }
}

export class Chat {
  constructor(root) {
    this.root = root;
    this.state = State.OUT;
    this.user = null;
    this.token = null;
    this.joinSeen = false; // our own join event arrived (a socket's join can still be refused)
    this.joinedAfter = 0;
    this.source = null;
    this.fallingBack = false;
    this.shownSeq = 0; // the log's newest event: a new connection's history is not shown twice
    const $ = (id) => root.querySelector(`#${id}`);
    this.el = {
      user: $("chat-user"), via: $("chat-via"), joinForm: $("chat-join-form"), join: $("chat-join"),
      leave: $("chat-leave"), form: $("chat-form"), text: $("chat-text"), log: $("chat-log"),
      online: $("chat-online"), transport: $("chat-transport"), reason: $("chat-reason"),
      status: $("chat-status"),
    };
  }

  start() {
    this.el.joinForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.join();
    });
    this.el.leave.addEventListener("click", () => this.leave());
    this.el.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    addEventListener("pagehide", () => this.leaveOnUnload());
    this.el.user.value ||= rememberedName();
    this.render();
    this.watch();
  }

  /** As a visitor (not joined): receive the room on an anonymous connection. */
  async watch() {
    if (this.state !== State.OUT || this.source !== null) return;
    const watcher = {}; // this attempt; a join meanwhile supersedes it
    this.watcher = watcher;
    try {
      const { head, messages } = await fetchSnapshot("chat");
      if (messages.length) this.el.online.textContent = String(messages.at(-1).data.online);
      else this.el.online.textContent = "0";
      const since = Math.max(0, head - HISTORY);
      const { source, skipped } = await connectWithFallback(this.el.via.value, (kind) =>
        this.makeSource(kind, since, null),
      );
      if (this.watcher !== watcher || this.state !== State.OUT) {
        source.stop("idle");
        return;
      }
      this.source = source;
      this.showTransport(source.kind, describeFallback(source.kind, skipped));
    } catch (err) {
      this.say(`Cannot show the room: ${err.message}`);
    }
  }

  /** Stop watching as a visitor (before joining). */
  unwatch() {
    this.watcher = null;
    if (this.state === State.OUT && this.source !== null) {
      this.source.stop("idle");
      this.source = null;
    }
  }

  /** The WebSocket failed after it had worked (a proxy refusing upgrades): go to a fallback. */
  async fallBack(reason) {
    if (this.fallingBack || this.source?.kind !== "websocket") return;
    this.fallingBack = true;
    const wasIn = this.state === State.IN;
    this.source.stop("idle");
    this.source = null;
    this.token = null;
    this.setState(State.OUT);
    this.say(`WebSocket failed (${reason}); trying the next transport…`);
    try {
      if (wasIn) {
        if (await this.join()) this.say(`WebSocket failed (${reason}); rejoined on another transport.`);
      } else {
        await this.watch();
        this.say("");
      }
    } finally {
      this.fallingBack = false;
    }
  }

  async join() {
    if (this.state !== State.OUT) return this.state === State.IN;
    const user = this.el.user.value.trim();
    if (!user) {
      this.say("Enter your name to join.");
      this.el.user.focus();
      return false;
    }
    this.unwatch();
    rememberName(user);
    this.setState(State.JOINING);
    this.say(`Connecting as ${user}…`);
    try {
      const { head } = await fetchSnapshot("chat");
      const since = Math.max(0, head - HISTORY);
      this.joinedAfter = head; // events up to here are history, not this visit's
      this.user = user;
      const { source, skipped } = await connectWithFallback(this.el.via.value, (kind) =>
        this.makeSource(kind, since, user),
      );
      this.source = source;
      this.showTransport(source.kind, describeFallback(source.kind, skipped));
      if (source.kind !== "websocket") {
        this.token = (await postJson("/api/chat/join", { user })).token;
        this.joinSeen = true;
        // Reconnect carrying the token (resuming where it was): this connection now keeps
        // the name present.
        source.stop("idle");
        source.token = this.token;
        source.start();
      }
      this.setState(State.IN);
      this.say("");
      if (document.activeElement === document.body || !document.activeElement) this.el.text.focus();
      return true;
    } catch (err) {
      this.source?.stop("idle");
      this.source = null;
      this.user = null;
      this.setState(State.OUT);
      this.say(`Could not join: ${err.message}`);
      this.watch();
      return false;
    }
  }

  makeSource(kind, since, user) {
    const source = createSource(kind, {
      topic: "chat",
      since,
      interval: POLL_MS,
      user,
      handlers: {
        message: (msg) => this.show(msg),
        status: (state, detail) => {
          if (source === this.source && kind === "websocket" && detail.startsWith("upgrade failed")) {
            this.fallBack(detail);
          } else if (source === this.source && this.state === State.IN && detail.startsWith("HTTP 401")) {
            this.dropped("you were signed out after a silence");
          } else if (source === this.source && this.state === State.IN) {
            this.say(state === "open" ? "" : `${state}${detail ? `: ${detail}` : ""}`);
          }
        },
        notice: (text) => this.say(text),
        refused: (msg) => this.refused(msg),
      },
    });
    return source;
  }

  async send() {
    const text = this.el.text.value;
    if (!text.trim()) return;
    if (!(await this.join())) return;
    try {
      if (this.source.kind === "websocket") {
        if (!this.source.send({ type: "chat", text })) {
          throw new Error("the socket is not open; try again in a moment");
        }
      } else {
        await postJson("/api/chat", { text }, this.token);
      }
      this.el.text.value = "";
    } catch (err) {
      this.say(`Not sent: ${err.message}`);
      if (err.status === 401) this.dropped("the server no longer knows you");
    }
  }

  /** The socket refused a command: before our own join arrived, that was the join. */
  refused(msg) {
    if (this.state === State.IN && !this.joinSeen) {
      this.dropped(`could not join: ${msg.error}`);
      return;
    }
    this.say(`Refused: ${refusalText(msg)}`);
  }

  /** The server ended our identity (or never took it): out, with the reason. */
  dropped(reason) {
    this.source?.stop("idle");
    this.source = null;
    this.token = null;
    this.showTransport(null, "");
    this.setState(State.OUT);
    this.say(`${reason} — join again to continue.`);
    this.watch();
  }

  async leave() {
    if (this.state !== State.IN) return;
    this.setState(State.LEAVING);
    try {
      if (this.source.kind !== "websocket") await postJson("/api/chat/leave", {}, this.token);
    } catch (err) {
      this.say(`Leave failed: ${err.message}`);
    }
    this.source.stop("idle");
    this.source = null;
    this.token = null;
    this.showTransport(null, "");
    this.setState(State.OUT);
    this.el.user.focus();
    this.watch();
  }

  leaveOnUnload() {
    if (this.state !== State.IN) {
      this.unwatch();
      return;
    }
    if (this.source.kind !== "websocket") {
      // A beacon cannot carry the token's header; a keepalive fetch outlives the page too.
      fetch("/api/chat/leave", {
        method: "POST", keepalive: true, headers: { Authorization: `Bearer ${this.token}` },
      }).catch(() => {});
      this.token = null;
    }
    // If the page comes back from the back/forward cache, it shows that it left.
    this.source.stop("idle");
    this.source = null;
    this.showTransport(null, "");
    this.setState(State.OUT);
  }

  /** Append one chat event to the log, as text, stamped with its publish time. */
  show(msg) {
    if (msg.seq <= this.shownSeq) return;
    this.shownSeq = msg.seq;
    const { data } = msg;
    const item = document.createElement("li");
    item.className = `entry-${data.kind}`;
    const time = document.createElement("time");
    const at = new Date(msg.t_us / 1000);
    time.dateTime = at.toISOString();
    time.textContent = at.toLocaleTimeString();
    const who = document.createElement("b");
    who.textContent = data.user;
    item.append(time, " ", who);
    if (data.kind === "message") {
      const text = document.createElement("span");
      text.className = "chat-text";
      text.textContent = data.text;
      item.append(": ", text);
    } else {
      item.append(data.kind === "join" ? " joined" : " left");
    }
    const log = this.el.log;
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(item);
    while (log.children.length > MAX_LOG) log.firstElementChild.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
    this.el.online.textContent = String(data.online);
    if (data.user === this.user && msg.seq > this.joinedAfter) {
      if (data.kind === "join") this.joinSeen = true;
      else if (data.kind === "leave" && this.joinSeen && this.state === State.IN) {
        this.dropped("you were signed out after a silence");
      }
    }
  }

  showTransport(kind, reason) {
    const watching = kind && this.state === State.OUT ? " (watching: join to speak)" : "";
    this.el.transport.textContent = kind ? LABELS[kind] + watching : "not connected";
    this.el.transport.dataset.transport = kind ?? "";
    this.el.reason.textContent = reason;
    this.el.reason.hidden = !reason;
  }

  say(text) {
    this.el.status.textContent = text;
  }

  setState(state) {
    if (state !== State.IN) this.joinSeen = false;
    this.state = state;
    this.render();
  }

  render() {
    const out = this.state === State.OUT;
    this.el.user.disabled = !out;
    this.el.via.disabled = !out;
    this.el.join.disabled = !out;
    this.el.leave.disabled = this.state !== State.IN;
    this.root.dataset.state = this.state;
  }
}
