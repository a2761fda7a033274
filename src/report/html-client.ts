// The HTML report's own style and script (plain browser JavaScript, no template literals inside),
// run after the inlined uPlot. It reads the run's figures from <script id="run-data">.

export const HTML_STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px; color: #1d2330; background: #fff; }
h1 { font-size: 22px; margin: 0 0 6px; } h2 { font-size: 16px; margin: 26px 0 8px; }
.verdict { display: inline-block; padding: 4px 10px; border-radius: 4px; font-weight: 600; }
.verdict.passed { background: #e3f6e8; color: #176a2f; } .verdict.failed { background: #fde7e7; color: #a11d1d; } .verdict.aborted { background: #fff1d6; color: #8a5300; }
.strip { position: relative; height: 34px; background: #f3f4f7; border-radius: 4px; margin-left: 60px; margin-right: 10px; overflow: hidden; }
.band { position: absolute; top: 0; bottom: 0; border-right: 1px solid #fff; overflow: hidden; white-space: nowrap; font-size: 12px; }
.band span { display: block; padding: 8px 4px; text-overflow: ellipsis; overflow: hidden; }
.b0 { background: #dbe7fb; } .b1 { background: #fbe3d3; } .b2 { background: #dcf3e2; } .b3 { background: #eee0f8; } .b4 { background: #f8f1cf; } .b5 { background: #d6f2f4; }
.band.failed span { color: #a11d1d; font-weight: 600; }
.band.steady { background: #e5e7eb; color: #4b5563; }
.chart { margin: 6px 0; min-height: 40px; }
.legend { color: #5b6375; font-size: 12px; margin: 2px 0; }
table { border-collapse: collapse; margin: 6px 0; font-size: 13px; }
th, td { border: 1px solid #dde1e8; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f4f7; }
.status.failed { color: #a11d1d; font-weight: 600; } .status.aborted { color: #8a5300; font-weight: 600; } .status.done { color: #176a2f; }
footer { margin-top: 30px; color: #8a90a0; font-size: 12px; }
`;

export const HTML_CLIENT_SCRIPT = String.raw`
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("run-data").textContent);
  var BAND = ["rgba(59,130,246,0.13)", "rgba(234,88,12,0.13)", "rgba(22,163,74,0.13)", "rgba(147,51,234,0.13)", "rgba(202,138,4,0.14)", "rgba(8,145,178,0.13)"];
  var LINE = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#ca8a04", "#0891b2", "#db2777", "#4b5563"];
  function width() { return Math.max(480, Math.min(1200, document.documentElement.clientWidth - 60)); }
  function sec(ms) { return ms / 1000; }
  var minX = Math.min(0, D.steadyBefore ? D.steadyBefore.from : 0);
  var maxX = D.durationMs;
  Object.keys(D.samples).forEach(function (k) { D.samples[k].forEach(function (s) { if (s.atMs > maxX) maxX = s.atMs; }); });
  if (maxX <= minX) maxX = minX + 1000;

  // step bands behind every chart, fault marks and the abort on top
  function bands() {
    return {
      hooks: {
        drawClear: [function (u) {
          var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
          ctx.save();
          if (D.steadyBefore) {
            var a = u.valToPos(sec(D.steadyBefore.from), "x", true), b = u.valToPos(0, "x", true);
            ctx.fillStyle = "rgba(100,116,139,0.10)"; ctx.fillRect(a, top, b - a, h);
          }
          D.steps.forEach(function (s) {
            var x0 = u.valToPos(sec(s.start), "x", true), x1 = u.valToPos(sec(s.end), "x", true);
            ctx.fillStyle = BAND[s.index % BAND.length]; ctx.fillRect(x0, top, Math.max(1, x1 - x0), h);
          });
          ctx.restore();
        }],
        draw: [function (u) {
          var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
          ctx.save();
          ctx.strokeStyle = "rgba(220,38,38,0.75)"; ctx.lineWidth = 2 * devicePixelRatio;
          D.faults.forEach(function (f) {
            var x = u.valToPos(sec(f.atMs), "x", true);
            ctx.beginPath(); ctx.moveTo(x, top + h - 10 * devicePixelRatio); ctx.lineTo(x, top + h); ctx.stroke();
          });
          if (D.abortedAtMs !== null) {
            var x = u.valToPos(sec(D.abortedAtMs), "x", true);
            ctx.strokeStyle = "#111"; ctx.setLineDash([6, 4]); ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
          }
          ctx.restore();
        }]
      }
    };
  }

  function chart(id, height, series, data, yLabel, yValues, yRange, onDraw) {
    var el = document.getElementById(id);
    if (!el) return null;
    var plugins = [bands()];
    if (onDraw) plugins.push({ hooks: { draw: [onDraw] } });
    var opts = {
      width: width(), height: height, plugins: plugins,
      scales: yRange ? { x: { time: false, range: [sec(minX), sec(maxX)] }, y: { range: yRange } } : { x: { time: false, range: [sec(minX), sec(maxX)] } },
      axes: [{ label: "seconds from the run's start" }, { label: yLabel, size: 70, values: yValues || null }],
      series: [{ label: "t (s)" }].concat(series),
      legend: { show: true, live: false }
    };
    return new uPlot(opts, data, el);
  }

  // the timeline: faults counted by the agents per poll, per proxy
  (function () {
    var proxies = [];
    D.faults.forEach(function (f) { if (proxies.indexOf(f.proxy) < 0) proxies.push(f.proxy); });
    var xs = [sec(minX)];
    D.steps.forEach(function (s) { xs.push(sec(s.start), sec(s.end)); });
    D.faults.forEach(function (f) { xs.push(sec(f.atMs)); });
    xs.push(sec(maxX));
    xs = xs.filter(function (v, i, a) { return a.indexOf(v) === i; }).sort(function (a, b) { return a - b; });
    var data = [xs];
    var series = [];
    proxies.forEach(function (p, i) {
      data.push(xs.map(function (x) {
        var n = 0;
        D.faults.forEach(function (f) { if (f.proxy === p && sec(f.atMs) === x) Object.keys(f.kinds).forEach(function (k) { n += f.kinds[k]; }); });
        return n || null;
      }));
      var red = ["#dc2626", "#9f1239", "#ea580c", "#7c2d12"][i % 4];
      series.push({ label: p + " faults", stroke: red, fill: red, width: 1, paths: uPlot.paths.bars({ size: [0.9, 14], align: 0 }), points: { show: false } });
    });
    // the step strip above the chart, lined up with its x axis once the chart has its size
    var strip = document.querySelector(".strip");
    chart("chart-timeline", 160, series, data, "faults", null, null, function (u) {
      if (!strip || strip.getAttribute("data-aligned")) return;
      strip.setAttribute("data-aligned", "1");
      var dpr = devicePixelRatio || 1;
      strip.style.marginLeft = (u.over.offsetLeft || u.bbox.left / dpr) + "px";
      strip.style.width = u.bbox.width / dpr + "px";
      strip.style.marginRight = "0";
      Array.prototype.forEach.call(strip.querySelectorAll(".band"), function (b) {
        var x0 = u.valToPos(sec(Number(b.getAttribute("data-start"))), "x"), x1 = u.valToPos(sec(Number(b.getAttribute("data-end"))), "x");
        b.style.left = x0 + "px";
        b.style.width = Math.max(2, x1 - x0) + "px";
      });
      if (D.steadyBefore) {
        var pre = document.createElement("div");
        pre.className = "band steady";
        pre.title = "steady state before";
        var a = u.valToPos(sec(D.steadyBefore.from), "x"), z = u.valToPos(0, "x");
        pre.style.left = a + "px"; pre.style.width = Math.max(2, z - a) + "px";
        pre.innerHTML = "<span>steady state</span>";
        strip.appendChild(pre);
      }
    });
  })();

  var probes = Object.keys(D.samples);

  // probe latency: successes as a line, failures as red points at the time they took to fail
  (function () {
    if (!probes.length) return;
    var xs = [];
    probes.forEach(function (p) { D.samples[p].forEach(function (s) { xs.push(sec(s.atMs)); }); });
    xs = xs.filter(function (v, i, a) { return a.indexOf(v) === i; }).sort(function (a, b) { return a - b; });
    var data = [xs], series = [];
    probes.forEach(function (p, i) {
      var ok = {}, bad = {};
      D.samples[p].forEach(function (s) { (s.ok ? ok : bad)[sec(s.atMs)] = s.ms; });
      data.push(xs.map(function (x) { return x in ok ? ok[x] : null; }));
      data.push(xs.map(function (x) { return x in bad ? bad[x] : null; }));
      series.push({ label: p + " ms", stroke: LINE[i % LINE.length], width: 1.5, spanGaps: false, points: { show: true, size: 4 } });
      series.push({ label: p + " failed", stroke: "#dc2626", width: 0, points: { show: true, size: 6, fill: "#dc2626" } });
    });
    chart("chart-latency", 220, series, data, "ms");
  })();

  // availability over time: share of successes per bucket
  (function () {
    if (!probes.length) return;
    var slowest = 0;
    probes.forEach(function (p) { slowest = Math.max(slowest, D.every[p] || 1000); });
    var bucket = Math.max(500, 2 * slowest);
    var first = Math.floor(minX / bucket) * bucket, xs = [];
    for (var t = first; t <= maxX; t += bucket) xs.push(sec(t));
    var data = [xs], series = [];
    probes.forEach(function (p, i) {
      var n = xs.map(function () { return 0; }), ok = xs.map(function () { return 0; });
      D.samples[p].forEach(function (s) {
        var k = Math.floor((s.atMs - first) / bucket);
        if (k >= 0 && k < xs.length) { n[k]++; if (s.ok) ok[k]++; }
      });
      data.push(n.map(function (c, k) { return c ? (100 * ok[k]) / c : null; }));
      series.push({ label: p + " %", stroke: LINE[i % LINE.length], width: 2, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } });
    });
    chart("chart-availability", 200, series, data, "% ok", null, [0, 100]);
  })();

  // throughput per proxy as polled
  (function () {
    var names = [];
    D.throughput.forEach(function (t) { Object.keys(t.perProxy).forEach(function (n) { if (names.indexOf(n) < 0) names.push(n); }); });
    var xs = D.throughput.map(function (t) { return sec(t.atMs); });
    var data = [xs], series = [];
    names.forEach(function (n, i) {
      ["up", "down"].forEach(function (dir, j) {
        data.push(D.throughput.map(function (t) { var v = t.perProxy[n]; return v ? v[dir] : null; }));
        series.push({ label: n + " " + dir, stroke: LINE[(2 * i + j) % LINE.length], width: 2, dash: j ? [5, 3] : undefined, points: { show: true, size: 4 } });
      });
    });
    function rate(u, vals) { return vals.map(function (v) { return v >= 1e6 ? (v / 1e6).toFixed(1) + " MB/s" : v >= 1e3 ? (v / 1e3).toFixed(1) + " kB/s" : Math.round(v) + " B/s"; }); }
    if (!xs.length) { data = [[sec(minX), sec(maxX)]]; }
    chart("chart-throughput", 200, series, data, "bytes/s", rate);
  })();
})();
`;
