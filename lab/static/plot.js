// A small SVG time-series plotter for the dashboard: a few named lines over
// the last minutes, a y scale that fits them, and a dashed marker wherever
// something happened (the network was changed). No library, no build step.
//
// Times are server microseconds (t_us, as in the wire contract), so markers
// stamped by the server and samples taken by the page share one axis.

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const HEIGHT = 180;
const PAD = { left: 44, right: 8, top: 8, bottom: 18 };

/** One colour per series name (the five transports first). */
export const COLORS = Object.freeze({
  poll: "#0b62d6", longpoll: "#d97706", stream: "#059669", sse: "#7c3aed",
  websocket: "#db2777", other: "#6b7280", subscribers: "#0891b2",
});

function element(name, attributes = {}) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

function round(value) {
  return Math.round(value * 10) / 10;
}

export class TimePlot {
  /**
   * figure: an element holding an <svg> and a <ul class="legend">; labels: series name →
   * label; format(value) writes the y axis's top value; windowS: seconds shown.
   */
  constructor(figure, labels, { format = (v) => v.toFixed(0), windowS = 300 } = {}) {
    this.svg = figure.querySelector("svg");
    this.svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
    this.labels = labels;
    this.format = format;
    this.windowUs = windowS * 1e6;
    this.series = new Map(Object.keys(labels).map((name) => [name, []]));
    this.markers = [];
    this.nowUs = 0;
    this.scheduled = false;
    const legend = figure.querySelector(".legend");
    for (const [name, label] of Object.entries(labels)) {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.style.background = COLORS[name] ?? "currentColor";
      item.append(swatch, label);
      legend.append(item);
    }
  }

  /** Add one sample of series `name` at server time `tUs`. */
  add(name, tUs, value) {
    const points = this.series.get(name);
    if (!points || !Number.isFinite(value)) return;
    points.push([tUs, value]);
    this.nowUs = Math.max(this.nowUs, tUs);
    while (points.length && points[0][0] < this.nowUs - this.windowUs) points.shift();
    this.schedule();
  }

  /** Replace the markers: [{t_us, summary}], oldest first. */
  mark(changes) {
    this.markers = changes;
    this.schedule();
  }

  /** Move the time axis to `tUs` even if no sample arrived. */
  advance(tUs) {
    this.nowUs = Math.max(this.nowUs, tUs);
    this.schedule();
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.draw();
    });
  }

  draw() {
    const start = this.nowUs - this.windowUs;
    let top = 0;
    for (const points of this.series.values()) for (const [, v] of points) top = Math.max(top, v);
    top = top > 0 ? top * 1.1 : 1;
    const innerW = WIDTH - PAD.left - PAD.right;
    const innerH = HEIGHT - PAD.top - PAD.bottom;
    const x = (tUs) => round(PAD.left + ((tUs - start) / this.windowUs) * innerW);
    const y = (v) => round(PAD.top + innerH - (v / top) * innerH);
    const nodes = [
      element("line", { class: "axis", x1: PAD.left, y1: PAD.top + innerH, x2: WIDTH - PAD.right, y2: PAD.top + innerH }),
      element("line", { class: "axis", x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: PAD.top + innerH }),
    ];
    const text = (content, attributes) => {
      const node = element("text", attributes);
      node.textContent = content;
      nodes.push(node);
    };
    text(this.format(top), { x: PAD.left - 4, y: PAD.top + 8, "text-anchor": "end" });
    text("0", { x: PAD.left - 4, y: PAD.top + innerH, "text-anchor": "end" });
    text(`−${Math.round(this.windowUs / 60e6)} min`, { x: PAD.left, y: HEIGHT - 4 });
    text("now", { x: WIDTH - PAD.right, y: HEIGHT - 4, "text-anchor": "end" });
    for (const change of this.markers) {
      if (change.t_us < start) continue;
      const line = element("line", { class: "marker", x1: x(change.t_us), y1: PAD.top,
        x2: x(change.t_us), y2: PAD.top + innerH });
      const title = element("title");
      title.textContent = change.summary;
      line.append(title);
      nodes.push(line);
    }
    for (const [name, points] of this.series) {
      if (points.length < 2) continue;
      const d = points.map(([t, v], i) => `${i ? "L" : "M"}${x(t)} ${y(v)}`).join("");
      nodes.push(element("path", { d, fill: "none", stroke: COLORS[name] ?? "currentColor",
        "stroke-width": 1.5, "data-series": name }));
    }
    this.svg.replaceChildren(...nodes);
  }
}
