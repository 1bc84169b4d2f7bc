// The instructor's controls: read the class link's conditions into the form,
// and PUT changes to /api/network with the key from the dashboard's URL
// (?key=…). Without a key the form stays hidden and the page is read-only.
// The key leaves the address bar at once (a projected dashboard must not show
// it to the class) and is kept for this tab only, in sessionStorage.

const NUMBERS = ["delay_ms", "jitter_ms", "bandwidth_kbps", "cut_every_s"];
const SWITCHES = ["refuse_upgrade", "buffering_proxy"];
const CALM = { delay_ms: 0, jitter_ms: 0, bandwidth_kbps: 0, cut_every_s: 0,
  refuse_upgrade: false, buffering_proxy: false };

const KEY_STORAGE = "right-now-lab.instructor-key";

/** The instructor key: from ?key= (then removed from the address bar), else this tab's. */
export function instructorKey() {
  const params = new URLSearchParams(location.search);
  const given = params.get("key");
  if (given !== null) {
    params.delete("key");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
  }
  try {
    if (given) sessionStorage.setItem(KEY_STORAGE, given);
    return given || sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return given; // storage off: the key lasts as long as the page
  }
}

export class Console {
  constructor(form, key) {
    this.form = form;
    this.key = key;
    this.dirty = false; // the instructor is editing: don't overwrite the form
    this.status = form.querySelector("#console-status");
  }

  start() {
    document.getElementById("read-only").hidden = Boolean(this.key);
    if (!this.key) return;
    this.form.hidden = false;
    this.form.addEventListener("input", () => (this.dirty = true));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send(this.values());
    });
    this.form.querySelector("#cut-now").addEventListener("click", () => this.send({ cut_now: true }));
    this.form.querySelector("#calm").addEventListener("click", () => {
      this.dirty = false;
      this.send(CALM);
    });
  }

  values() {
    const body = {};
    for (const name of NUMBERS) body[name] = Number(this.form.elements[name].value || 0);
    for (const name of SWITCHES) body[name] = this.form.elements[name].checked;
    return body;
  }

  /** Show the conditions in force (unless the instructor is mid-edit). */
  show(network) {
    if (this.dirty) return;
    for (const name of NUMBERS) this.form.elements[name].value = String(network[name] ?? 0);
    for (const name of SWITCHES) this.form.elements[name].checked = network[name];
  }

  async send(body) {
    this.status.textContent = "sending…";
    try {
      const response = await fetch("/api/network", {
        method: "PUT",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${this.key}` },
        body: JSON.stringify(body),
        cache: "no-store",
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(answer.error ?? `HTTP ${response.status}`);
      this.dirty = false;
      this.show(answer);
      this.status.textContent = `in force: ${answer.summary}${body.cut_now ? " (every connection cut)" : ""}`;
    } catch (err) {
      this.status.textContent = `not changed: ${err.message}`;
    }
  }
}
