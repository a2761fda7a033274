// A small canvas line chart: a fixed window of samples, one or more series, auto-scaled y axis
// with a round top, drawn crisp at the device's pixel ratio. No dependencies.

function niceCeil(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export class LineChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{ series: { color: string }[], points?: number, format?: (v: number) => string, fill?: boolean, minMax?: number }} options
   */
  constructor(canvas, options) {
    this.canvas = canvas;
    this.series = options.series;
    this.points = options.points ?? 60;
    this.format = options.format ?? String;
    this.fill = options.fill ?? true;
    this.minMax = options.minMax ?? 1;
    this.data = this.series.map(() => []);
  }

  /** Adds one sample per series (the oldest falls off the window). */
  push(values) {
    values.forEach((v, i) => {
      const d = this.data[i];
      d.push(Number.isFinite(v) ? v : 0);
      if (d.length > this.points) d.shift();
    });
  }

  draw() {
    const c = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (w === 0 || h === 0) return;
    if (c.width !== Math.round(w * ratio) || c.height !== Math.round(h * ratio)) {
      c.width = Math.round(w * ratio);
      c.height = Math.round(h * ratio);
    }
    const g = c.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    const max = niceCeil(Math.max(this.minMax, ...this.data.flat()));
    const left = 0;
    const top = 14;
    const bottom = h - 2;
    const plotH = bottom - top;
    // grid: top, middle, base
    g.strokeStyle = "#e6ebf0";
    g.lineWidth = 1;
    g.font = "10px system-ui, sans-serif";
    g.fillStyle = "#8492a6";
    g.textBaseline = "bottom";
    for (const f of [0, 0.5, 1]) {
      const y = Math.round(bottom - f * plotH) + 0.5;
      g.beginPath();
      g.moveTo(left, y);
      g.lineTo(w, y);
      g.stroke();
    }
    g.fillText(this.format(max), 2, top - 2);
    const step = w / (this.points - 1);
    this.series.forEach((s, i) => {
      const d = this.data[i];
      if (d.length === 0) return;
      const x0 = w - (d.length - 1) * step;
      const y = (v) => bottom - (v / max) * plotH;
      g.beginPath();
      d.forEach((v, j) => (j === 0 ? g.moveTo(x0 + j * step, y(v)) : g.lineTo(x0 + j * step, y(v))));
      g.strokeStyle = s.color;
      g.lineWidth = 1.8;
      g.lineJoin = "round";
      g.stroke();
      if (this.fill) {
        g.lineTo(x0 + (d.length - 1) * step, bottom);
        g.lineTo(x0, bottom);
        g.closePath();
        g.globalAlpha = 0.08;
        g.fillStyle = s.color;
        g.fill();
        g.globalAlpha = 1;
        g.fillStyle = "#8492a6";
      }
    });
  }
}
