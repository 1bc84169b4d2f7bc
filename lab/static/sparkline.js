// A small live price line on a <canvas>: the last N prices, stretched to fit.
//
// Drawing is batched to one repaint per animation frame however many prices
// arrive; the canvas follows its CSS size and the screen's pixel ratio.

export class Sparkline {
  constructor(canvas, capacity = 120) {
    this.canvas = canvas;
    this.capacity = capacity;
    this.points = [];
    this.scheduled = false;
  }

  /** Replace every point (e.g. after the followed symbol changed). */
  reset(points) {
    this.points = points.slice(-this.capacity);
    this.schedule();
  }

  push(price) {
    this.points.push(price);
    if (this.points.length > this.capacity) this.points.shift();
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
    const { canvas, points } = this;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, width, height);
    if (points.length < 2) return;
    const low = Math.min(...points);
    const span = Math.max(...points) - low || 1;
    const pad = 2 * ratio;
    const step = (width - 2 * pad) / (points.length - 1);
    ctx.beginPath();
    points.forEach((price, i) => {
      const y = height - pad - ((price - low) / span) * (height - 2 * pad);
      if (i === 0) ctx.moveTo(pad, y);
      else ctx.lineTo(pad + i * step, y);
    });
    ctx.lineWidth = 1.5 * ratio;
    ctx.strokeStyle = getComputedStyle(canvas).color;
    ctx.stroke();
  }
}
