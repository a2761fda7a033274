// The page's pieces: one card per proxy (impairment, time left, charts, figures), the
// connection table and the event feed. Agent data only ever goes in through textContent.
import { LineChart } from "./chart.js";
import { bytes, clock, duration, rate, ruleText, specSummary } from "./format.js";

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

const UP = "#1f6feb";
const DOWN = "#e36209";
const CONNS = "#2da44e";

export class ProxyCard {
  constructor(name, onSelect) {
    this.name = name;
    this.expiresAt = null;
    this.root = el("article", { class: "proxy", "aria-label": `proxy ${name}`, "data-proxy": name });
    this.root.addEventListener("click", () => onSelect(name));
    this.protocol = el("span", { class: "badge protocol", title: "protocol" });
    this.disabled = el("span", { class: "badge off", text: "disabled" });
    this.route = el("span", { class: "route" });
    this.root.append(el("header", { class: "proxy-head" }, el("h2", { class: "proxy-name", text: name }), this.protocol, this.disabled, this.route));

    this.impName = el("span", { class: "name" });
    this.impDetail = el("span", { class: "detail" });
    this.impLeft = el("span", { class: "left time-left" });
    this.impairment = el("div", { class: "impairment", "aria-label": `impairment of ${name}` }, this.impName, this.impDetail, this.impLeft);
    this.root.append(this.impairment);
    this.impaired = false;
    // the request rules in force (protocol proxies), one line each as events name them
    this.rules = el("ul", { class: "rules", "aria-label": `request rules of ${name}` });
    this.rules.hidden = true;
    this.root.append(this.rules);

    const tpCanvas = el("canvas", { role: "img", "aria-label": `${name} throughput, up and down` });
    const cnCanvas = el("canvas", { role: "img", "aria-label": `${name} open connections` });
    this.tpNow = el("span", { class: "now throughput-now" });
    this.cnNow = el("span", { class: "now connections-now" });
    const swatch = (color) => {
      const s = el("span", { class: "swatch" });
      s.style.background = color;
      return s;
    };
    this.root.append(
      el(
        "div",
        { class: "charts" },
        el("div", { class: "chart" }, el("div", { class: "chart-title" }, el("span", {}, swatch(UP), "up"), el("span", {}, swatch(DOWN), "down"), this.tpNow), tpCanvas),
        el("div", { class: "chart" }, el("div", { class: "chart-title" }, el("span", {}, swatch(CONNS), "connections"), this.cnNow), cnCanvas),
      ),
    );
    this.throughput = new LineChart(tpCanvas, { series: [{ color: UP }, { color: DOWN }], format: rate, minMax: 1000 });
    this.connections = new LineChart(cnCanvas, { series: [{ color: CONNS }], format: (v) => String(Math.round(v)) });

    this.figures = el("div", { class: "figures" });
    this.root.append(this.figures);
    this.setThroughput(0, 0);
  }

  /** Applies a ProxyInfo from proxy.list. */
  update(info) {
    this.protocol.textContent = info.protocol ?? "tcp";
    this.disabled.hidden = info.enabled !== false;
    this.route.textContent = `${info.listen} → ${info.upstream}`;
    const imp = info.impairment;
    this.impaired = !!imp;
    this.root.classList.toggle("impaired", !!imp);
    this.impairment.classList.toggle("on", !!imp);
    this.impName.textContent = imp ? imp.profile : "clean";
    const extra = [];
    if (imp && imp.percent !== undefined && imp.percent < 100) extra.push(`${imp.percent}% of connections`);
    if (imp && imp.clients && imp.clients.length) extra.push(`clients ${imp.clients.join(", ")}`);
    this.impDetail.textContent = imp ? [specSummary(imp.spec), ...extra].join(" · ") : "no impairment";
    this.expiresAt = imp && imp.expiresAt ? Date.parse(imp.expiresAt) : null;
    this.root.dataset.impairment = imp ? imp.profile : "";
    this.tick(Date.now());
    const rules = imp && Array.isArray(imp.spec?.requests) ? imp.spec.requests : [];
    this.rules.replaceChildren(...rules.map((r, i) => el("li", { class: "mono", text: ruleText(r, i) })));
    this.rules.hidden = rules.length === 0;
    const s = info.stats;
    const faults = Object.entries(s.faults ?? {}).filter(([, n]) => n > 0);
    const requests = Object.entries(s.requests ?? {}).filter(([, n]) => n > 0);
    const onProtocol = (info.protocol ?? "tcp") !== "tcp";
    const requestFaults = requests.some(([k]) => k !== "forwarded");
    this.figures.replaceChildren(
      el("span", {}, "open ", el("b", { text: String(s.connectionsActive) })),
      el("span", {}, "total ", el("b", { text: String(s.connectionsTotal) })),
      el("span", {}, "sent up ", el("b", { text: bytes(s.bytesUp) })),
      el("span", {}, "sent down ", el("b", { text: bytes(s.bytesDown) })),
      el("span", {}, "queued ", el("b", { text: bytes(s.queueUp + s.queueDown) })),
      el("span", { class: faults.length ? "faults some" : "faults" }, "faults ", el("b", { text: faults.length ? faults.map(([k, n]) => `${k} ${n}`).join(", ") : "none" })),
    );
    // requests by outcome (a protocol proxy's request layer): forwarded, failed, delayed, lost, reset
    if (onProtocol)
      this.figures.append(
        el("span", { class: requestFaults ? "requests some" : "requests" }, "requests ", el("b", { text: requests.length ? requests.map(([k, n]) => `${k} ${n}`).join(", ") : "none" })),
      );
  }

  /** Time left of a timed impairment. */
  tick(now) {
    if (!this.impaired) this.impLeft.textContent = "";
    else this.impLeft.textContent = this.expiresAt === null ? "until cleared" : `${duration(Math.max(0, this.expiresAt - now))} left`;
  }

  /** One stats event (throughput since the last tick, connections now). */
  pushStats(data) {
    this.throughput.push([data.throughputUp, data.throughputDown]);
    this.connections.push([data.connectionsActive]);
    this.setThroughput(data.throughputUp, data.throughputDown);
    this.cnNow.textContent = `${data.connectionsActive} open`;
    this.root.dataset.connections = String(data.connectionsActive);
    this.draw();
  }

  setThroughput(up, down) {
    this.tpNow.textContent = `↑ ${rate(up)}  ↓ ${rate(down)}`;
    this.root.dataset.throughputUp = String(up);
    this.root.dataset.throughputDown = String(down);
  }

  select(on) {
    this.root.classList.toggle("selected", on);
  }

  draw() {
    this.throughput.draw();
    this.connections.draw();
  }
}

/** Fills the connection table from conn.list {proxy: "*"}. */
export function renderConnections(body, empty, count, conns, now) {
  const MAX_ROWS = 200;
  const rows = conns.slice(0, MAX_ROWS).map((c) =>
    el(
      "tr",
      {},
      el("td", { text: c.proxy ?? "" }),
      el("td", { class: "mono", text: c.client }),
      el("td", { text: duration(now - Date.parse(c.openedAt)) }),
      el("td", { class: "num", text: bytes(c.bytesUp) }),
      el("td", { class: "num", text: bytes(c.bytesDown) }),
      el("td", { text: c.impaired ? "yes" : "no" }),
    ),
  );
  body.replaceChildren(...rows);
  empty.hidden = conns.length > 0;
  count.textContent = conns.length > MAX_ROWS ? `(${conns.length}, first ${MAX_ROWS} shown)` : `(${conns.length})`;
}

/** The event feed, newest first, bounded. */
export class EventFeed {
  constructor(list, empty, max = 200) {
    this.list = list;
    this.empty = empty;
    this.max = max;
  }

  /** kind: fault | request | conn | impairment-change | agent */
  add(kind, label, proxy, text) {
    const li = el(
      "li",
      { class: kind },
      el("span", { class: "time", text: clock(new Date()) }),
      el("span", { class: "kind", text: label }),
      el("span", { class: "text", text: proxy ? `${proxy}: ${text}` : text }),
    );
    this.list.prepend(li);
    while (this.list.children.length > this.max) this.list.lastElementChild.remove();
    this.empty.hidden = true;
  }

  clear() {
    this.list.replaceChildren();
    this.empty.hidden = false;
  }
}
