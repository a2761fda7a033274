// The dashboard's behaviour: find out whether a token is needed, open the control channel,
// follow the agent (events.subscribe for stats, connections, faults and request faults; proxy.list and
// conn.list each second for impairments, protocols and the connection list), drive it from the
// controls, and reconnect when the agent goes away. The token lives in memory only.
import { ControlChannel } from "./rpc.js";
import { EventFeed, ProxyCard, renderConnections } from "./view.js";

const POLL_MS = 1000;
const RETRY_MIN_MS = 300;
const RETRY_MAX_MS = 2000;
/** feed lines per second before the rest are counted instead of shown */
const FEED_PER_SECOND = 25;

const $ = (id) => document.getElementById(id);
const ui = {
  main: $("main"),
  login: $("login"),
  loginForm: $("login-form"),
  tokenInput: $("token-input"),
  loginError: $("login-error"),
  link: $("link-status"),
  meta: $("agent-meta"),
  proxies: $("proxies"),
  proxySelect: $("proxy-select"),
  profileSelect: $("profile-select"),
  duration: $("duration-input"),
  apply: $("apply-button"),
  clear: $("clear-button"),
  reset: $("reset-button"),
  panic: $("panic-button"),
  message: $("control-message"),
  connBody: $("conn-body"),
  connEmpty: $("conn-empty"),
  connCount: $("conn-count"),
};
const feed = new EventFeed($("event-list"), $("events-empty"));

/** The token, when the agent needs one: in this variable only (never a URL, log or storage). */
let token = null;
let channel = null;
let agentId = null;
let retryMs = RETRY_MIN_MS;
let retryTimer = null;
let pollTimer = null;
let polling = false;
let pollCount = 0;
/** proxy name -> card */
const cards = new Map();
/** proxy name -> "profile|expiresAt" as last seen ("" = clean); null before the first list */
let seenImpairments = null;
let feedSecond = 0;
let feedShown = 0;
let feedHidden = 0;

function setLink(text, state) {
  ui.link.textContent = text;
  ui.link.className = `link-status ${state}`;
}

function say(text, isError = false) {
  ui.message.textContent = text;
  ui.message.classList.toggle("error", isError);
}

function feedAdd(kind, label, proxy, text) {
  const second = Math.floor(Date.now() / 1000);
  if (second !== feedSecond) {
    if (feedHidden > 0) feed.add("agent", "busy", "", `${feedHidden} more events in one second were not listed`);
    feedSecond = second;
    feedShown = 0;
    feedHidden = 0;
  }
  if (feedShown >= FEED_PER_SECOND && kind !== "impairment-change" && kind !== "agent") return void feedHidden++;
  feedShown++;
  feed.add(kind, label, proxy, text);
}

function setControlsEnabled(on) {
  for (const b of [ui.apply, ui.clear, ui.reset, ui.panic]) b.disabled = !on;
}

/** Shows nothing of the agent: the state before a token is given. */
function forgetAgent() {
  stopPolling();
  for (const c of cards.values()) c.root.remove();
  cards.clear();
  seenImpairments = null;
  agentId = null;
  ui.meta.textContent = "";
  ui.proxySelect.replaceChildren();
  ui.profileSelect.replaceChildren();
  ui.connBody.replaceChildren();
  ui.connCount.textContent = "";
  feed.clear();
  say("");
  ui.main.hidden = true;
}

function showLogin(error) {
  forgetAgent();
  setLink("token needed", "down");
  ui.loginError.textContent = error;
  ui.login.hidden = false;
  ui.tokenInput.value = "";
  ui.tokenInput.focus();
}

/** 204 ok, 401 token needed or wrong, 0 unreachable, other: refused. */
async function authStatus() {
  try {
    const res = await fetch("/dashboard/auth", { headers: token ? { Authorization: `Bearer ${token}` } : {}, cache: "no-store" });
    return { status: res.status, text: res.status === 204 ? "" : await res.text() };
  } catch {
    return { status: 0, text: "" };
  }
}

function scheduleRetry() {
  if (retryTimer) return;
  retryTimer = setTimeout(() => {
    retryTimer = null;
    void connect();
  }, retryMs);
  retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
}

async function connect() {
  if (channel) return;
  const auth = await authStatus();
  if (auth.status === 401) {
    const hadToken = token !== null;
    token = null;
    return showLogin(hadToken ? "The agent refused that token." : "");
  }
  if (auth.status !== 204) {
    setLink(auth.status === 0 ? "agent unreachable, retrying…" : `refused (${auth.status}), retrying…`, "down");
    if (auth.status !== 0) say(auth.text.trim(), true);
    return scheduleRetry();
  }
  let ch;
  try {
    ch = await ControlChannel.open(token, { onEvent, onClose: () => onClose(ch) });
  } catch {
    setLink("agent unreachable, retrying…", "down");
    return scheduleRetry();
  }
  channel = ch;
  retryMs = RETRY_MIN_MS;
  ui.login.hidden = true;
  ui.loginError.textContent = "";
  try {
    await loadAgent();
  } catch (err) {
    say(`loading the agent failed: ${err.message}`, true);
  }
}

function onClose(ch) {
  if (channel !== ch) return;
  channel = null;
  stopPolling();
  setControlsEnabled(false);
  setLink("disconnected, reconnecting…", "down");
  if (!ui.main.hidden) feedAdd("agent", "agent", "", "control channel closed; reconnecting");
  scheduleRetry();
}

async function loadAgent() {
  const ch = channel;
  const info = await ch.call("agent.info");
  const reconnect = agentId !== null;
  if (agentId !== null && info.id !== agentId) {
    forgetAgent();
    feedAdd("agent", "agent", "", `a different agent answers now (${info.id})`);
  }
  agentId = info.id;
  const labels = Object.entries(info.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  ui.meta.textContent = [`agent ${info.id}`, `v${info.version}`, ...labels].join(" · ");
  await loadProfiles();
  // requests: the request faults (requests: "faults", the default: forwarded ones are not sent)
  await ch.call("events.subscribe", { topics: ["stats", "connections", "faults", "requests"], intervalMs: POLL_MS });
  applyProxies(info.proxies);
  ui.main.hidden = false;
  setControlsEnabled(true);
  setLink("connected", "up");
  if (reconnect) feedAdd("agent", "agent", "", "reconnected");
  startPolling();
}

async function loadProfiles() {
  const names = await channel.call("profile.list");
  const chosen = ui.profileSelect.value;
  const options = names.map((n) => new Option(n, n));
  ui.profileSelect.replaceChildren(...options);
  ui.profileSelect.value = names.includes(chosen) ? chosen : names.includes("3g") ? "3g" : (names[0] ?? "");
}

function selectProxy(name) {
  ui.proxySelect.value = name;
  for (const [n, c] of cards) c.select(n === name);
}

function applyProxies(list) {
  const names = list.map((p) => p.name);
  for (const p of list) {
    let card = cards.get(p.name);
    if (!card) {
      card = new ProxyCard(p.name, selectProxy);
      cards.set(p.name, card);
      ui.proxies.append(card.root);
      if (seenImpairments) feedAdd("impairment-change", "proxy", p.name, `added (${p.listen} → ${p.upstream})`);
    }
    card.update(p);
  }
  for (const [name, card] of cards)
    if (!names.includes(name)) {
      card.root.remove();
      cards.delete(name);
      feedAdd("impairment-change", "proxy", name, "removed");
    }
  // impairment changes, whoever made them (this page, the CLI, a scenario, a ttl)
  const now = new Map(list.map((p) => [p.name, p.impairment ? `${p.impairment.profile}|${p.impairment.expiresAt ?? ""}` : ""]));
  if (seenImpairments)
    for (const p of list) {
      const before = seenImpairments.get(p.name);
      if (before === undefined || before === now.get(p.name)) continue;
      if (p.impairment) feedAdd("impairment-change", "applied", p.name, p.impairment.expiresAt ? `${p.impairment.profile} until ${new Date(p.impairment.expiresAt).toTimeString().slice(0, 8)}` : p.impairment.profile);
      else feedAdd("impairment-change", "cleared", p.name, "clean");
    }
  seenImpairments = now;
  // the Proxy chooser: every proxy, then all of them
  const chosen = ui.proxySelect.value;
  const want = [...names, "*"];
  const have = [...ui.proxySelect.options].map((o) => o.value);
  if (want.join("\n") !== have.join("\n")) ui.proxySelect.replaceChildren(...names.map((n) => new Option(n, n)), new Option("all proxies", "*"));
  selectProxy(want.includes(chosen) && chosen !== "" ? chosen : (names[0] ?? "*"));
}

async function poll() {
  if (!channel || polling) return;
  polling = true;
  const ch = channel;
  try {
    const [proxies, conns] = await Promise.all([ch.call("proxy.list"), ch.call("conn.list", { proxy: "*" })]);
    if (ch !== channel) return;
    applyProxies(proxies);
    renderConnections(ui.connBody, ui.connEmpty, ui.connCount, conns, Date.now());
    if (++pollCount % 10 === 0) await loadProfiles();
  } catch (err) {
    if (ch === channel) say(`refresh failed: ${err.message}`, true);
  } finally {
    polling = false;
  }
}

function startPolling() {
  stopPolling();
  void poll();
  pollTimer = setInterval(() => void poll(), POLL_MS);
}

function stopPolling() {
  if (pollTimer) clearInterval(pollTimer);
  pollTimer = null;
}

function describeFault(d) {
  const extra = Object.entries(d)
    .filter(([k, v]) => !["conn", "client", "kind", "detail"].includes(k) && v !== null && v !== undefined && typeof v !== "object")
    .map(([k, v]) => `${k} ${v}`);
  return [d.detail, ...extra, d.client ? `client ${d.client}` : ""].filter(Boolean).join(" · ");
}

/** "SET k · requests[0] match {...} fail {...} · client 127.0.0.1:5123 · 3 ms" */
function describeRequest(d) {
  return [d.request || "(request)", d.rule, d.client ? `client ${d.client}` : "", typeof d.ms === "number" ? `${Math.round(d.ms)} ms` : ""].filter(Boolean).join(" · ");
}

function onEvent(n) {
  const d = n.data ?? {};
  if (n.topic === "stats") return void cards.get(n.proxy)?.pushStats(d);
  if (n.topic === "faults") {
    const isRequest = "request" in d || "rule" in d || "method" in d;
    return feedAdd(isRequest ? "fault request" : "fault", String(d.kind ?? "fault"), n.proxy, describeFault(d));
  }
  if (n.topic === "requests") return feedAdd(d.rule ? "fault request" : "request", String(d.outcome ?? "request"), n.proxy, describeRequest(d));
  if (n.topic === "connections") {
    if (d.type === "open") return feedAdd("conn", "open", n.proxy, `${d.client}`);
    const parts = [`${d.client}`, `after ${Math.round((d.durationMs ?? 0) / 100) / 10} s`];
    if (d.faults && d.faults.length) parts.push(`faults ${d.faults.join(", ")}`);
    if (d.error) parts.push(d.error);
    return feedAdd("conn", "close", n.proxy, parts.join(" · "));
  }
  // topics added later show as they come
  feedAdd("agent", n.topic, n.proxy, JSON.stringify(d).slice(0, 200));
}

async function run(button, action) {
  if (!channel) return say("not connected", true);
  button.disabled = true;
  try {
    say(await action(channel));
    await poll();
  } catch (err) {
    say(err.message, true);
  } finally {
    button.disabled = !channel;
  }
}

ui.apply.addEventListener("click", () =>
  run(ui.apply, async (ch) => {
    const proxy = ui.proxySelect.value;
    const profile = ui.profileSelect.value;
    const ttl = ui.duration.value.trim();
    await ch.call("impair.apply", { proxy, profile, ...(ttl ? { ttl } : {}) });
    return `Applied ${profile} to ${proxy === "*" ? "all proxies" : proxy}${ttl ? ` for ${ttl}` : " until cleared"}.`;
  }),
);
ui.clear.addEventListener("click", () =>
  run(ui.clear, async (ch) => {
    const proxy = ui.proxySelect.value;
    await ch.call("impair.clear", { proxy });
    return `Cleared ${proxy === "*" ? "all proxies" : proxy}.`;
  }),
);
ui.reset.addEventListener("click", () =>
  run(ui.reset, async (ch) => {
    const proxy = ui.proxySelect.value;
    const r = await ch.call("conn.reset", { proxy });
    return `Reset ${r.reset} connection${r.reset === 1 ? "" : "s"} on ${proxy === "*" ? "all proxies" : proxy}.`;
  }),
);
ui.panic.addEventListener("click", () =>
  run(ui.panic, async (ch) => {
    const r = await ch.call("agent.panic");
    return r.cleared.length ? `Panic: cleared ${r.cleared.join(", ")}.` : "Panic: every proxy was already clean.";
  }),
);
ui.proxySelect.addEventListener("change", () => selectProxy(ui.proxySelect.value));
ui.loginForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const given = ui.tokenInput.value.trim();
  ui.tokenInput.value = "";
  if (!given) return;
  token = given;
  ui.loginError.textContent = "";
  void connect();
});
setInterval(() => {
  const now = Date.now();
  for (const c of cards.values()) c.tick(now);
}, 500);
window.addEventListener("resize", () => {
  for (const c of cards.values()) c.draw();
});

setControlsEnabled(false);
void connect();
