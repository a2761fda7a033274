// Validation of a scenario's experiment fields (probes, slo, steadyState, abortWhen, notify) into
// an Experiment, one FieldError per bad field, with dotted paths (`probes.1.http.status`) the
// scenario loader turns into file and line.
import type { FieldError } from "../control/protocol.js";
import { describe, FieldChecker, isRecord, join } from "../profiles/fields.js";
import { suggest } from "../profiles/schema.js";
import { parseDuration, parseProbability, showValue, UnitError } from "../units.js";
import { type AbortWhen, type Experiment, type NotifyDef, type ProbeCheck, type ProbeDef, type SloDef, type SteadyStateDef } from "./types.js";
import { VERDICTS, type Verdict } from "../report/figures.js";

/** The scenario's top-level fields this module reads. */
export const EXPERIMENT_FIELDS = ["probes", "slo", "steadyState", "abortWhen", "notify"] as const;

const PROBE_FIELDS = ["name", "http", "tcp", "exec", "every", "timeout"] as const;
const PROBE_KINDS = ["http", "tcp", "exec"] as const;
const HTTP_FIELDS = ["url", "method", "status", "body"] as const;
const TCP_FIELDS = ["host", "port"] as const;
const SLO_FIELDS = ["availability", "p95", "p99", "recovery"] as const;
const STEADY_FIELDS = ["before", "after"] as const;
const ABORT_FIELDS = ["probe", "availabilityBelow", "over"] as const;
const NOTIFY_FIELDS = ["webhook", "on"] as const;
const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];
const PROBE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const DEFAULT_EVERY_MS = 1000;
export const DEFAULT_TIMEOUT_MS = 2000;
export const MIN_EVERY_MS = 50;
export const MAX_PROBES = 32;

class Checker extends FieldChecker {
  duration(v: unknown, path: string, min: number): number | undefined {
    try {
      const ms = parseDuration(v);
      if (ms < min) {
        this.add(path, `expected a duration of at least ${min}ms, got ${showValue(v)}`);
        return undefined;
      }
      return ms;
    } catch (err) {
      this.add(path, err instanceof UnitError ? err.message : String(err));
      return undefined;
    }
  }

  share(v: unknown, path: string): number | undefined {
    try {
      return parseProbability(v);
    } catch (err) {
      this.add(path, err instanceof UnitError ? err.message.replace("a probability", "a share") : String(err));
      return undefined;
    }
  }
}

/** "host:port" or {host, port}: the address a tcp probe connects to. */
function parseTcp(c: Checker, v: unknown, path: string): ProbeCheck | undefined {
  let host: unknown;
  let port: unknown;
  if (typeof v === "string") {
    const at = v.lastIndexOf(":");
    host = at > 0 ? v.slice(0, at).replace(/^\[(.*)\]$/, "$1") : undefined;
    port = at > 0 ? Number(v.slice(at + 1)) : undefined;
    if (host === undefined) {
      c.add(path, `expected HOST:PORT like 127.0.0.1:6379, got ${describe(v)}`);
      return undefined;
    }
  } else if (isRecord(v)) {
    c.unknownKeys(v, TCP_FIELDS, path);
    host = v.host ?? "127.0.0.1";
    port = v.port;
  } else {
    c.add(path, `expected HOST:PORT like 127.0.0.1:6379 or {host, port}, got ${describe(v)}`);
    return undefined;
  }
  if (typeof host !== "string" || host === "") {
    c.add(join(path, "host"), `expected a host name or address, got ${describe(host)}`);
    return undefined;
  }
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    c.add(typeof v === "string" ? path : join(path, "port"), `expected a port from 1 to 65535, got ${describe(typeof v === "string" ? v : port)}`);
    return undefined;
  }
  return { kind: "tcp", host, port };
}

function parseHttp(c: Checker, v: unknown, path: string): ProbeCheck | undefined {
  const spec = typeof v === "string" ? { url: v } : v;
  if (!isRecord(spec)) {
    c.add(path, `expected {url, method, status, body} or a URL, got ${describe(v)}`);
    return undefined;
  }
  c.unknownKeys(spec, HTTP_FIELDS, path);
  let url: string | undefined;
  if (typeof spec.url !== "string") c.add(join(path, "url"), `required: the URL to ask, e.g. http://127.0.0.1:8080/health (got ${describe(spec.url)})`);
  else {
    try {
      const u = new URL(spec.url);
      if (u.protocol !== "http:" && u.protocol !== "https:") c.add(join(path, "url"), `expected an http:// or https:// URL, got ${showValue(spec.url)}`);
      else url = spec.url;
    } catch {
      c.add(join(path, "url"), `expected a URL like http://127.0.0.1:8080/health, got ${showValue(spec.url)}`);
    }
  }
  let method = "GET";
  if (spec.method !== undefined) {
    const m = typeof spec.method === "string" ? spec.method.toUpperCase() : "";
    if (METHODS.includes(m)) method = m;
    else c.add(join(path, "method"), `expected one of ${METHODS.join(", ")}, got ${describe(spec.method)}`);
  }
  let status = 200;
  if (spec.status !== undefined) {
    if (typeof spec.status === "number" && Number.isInteger(spec.status) && spec.status >= 100 && spec.status <= 599) status = spec.status;
    else c.add(join(path, "status"), `expected an HTTP status from 100 to 599, got ${describe(spec.status)}`);
  }
  let body: string | undefined;
  if (spec.body !== undefined) {
    if (typeof spec.body === "string" && spec.body !== "") body = spec.body;
    else c.add(join(path, "body"), `expected the text a healthy answer's body holds, got ${describe(spec.body)}`);
  }
  if (url === undefined) return undefined;
  return { kind: "http", url, method, status, ...(body !== undefined ? { body } : {}) };
}

/** The valid probes, and the names of every probe given (for the fields that refer to them). */
function parseProbes(c: Checker, raw: unknown): { probes: ProbeDef[]; names: string[] } {
  const names: string[] = [];
  if (!Array.isArray(raw) || raw.length === 0) {
    c.add("probes", `expected a list of probes like [{name: api, http: {url: "http://127.0.0.1:8080/health"}, every: 500ms}], got ${describe(raw)}`);
    return { probes: [], names };
  }
  if (raw.length > MAX_PROBES) c.add("probes", `at most ${MAX_PROBES} probes, got ${raw.length}`);
  const out: ProbeDef[] = [];
  raw.forEach((item: unknown, i) => {
    const p = join("probes", i);
    if (!isRecord(item)) {
      c.add(p, `expected a probe like {name: api, tcp: "127.0.0.1:6379", every: 1s}, got ${describe(item)}`);
      return;
    }
    c.unknownKeys(item, PROBE_FIELDS, p);
    let name: string | undefined;
    if (typeof item.name === "string" && PROBE_NAME.test(item.name)) {
      if (names.includes(item.name)) c.add(join(p, "name"), `probe ${JSON.stringify(item.name)} is given twice`);
      else name = item.name;
      names.push(item.name);
    } else c.add(join(p, "name"), item.name === undefined ? "required: the probe's name (letters, digits, . _ -)" : `expected a name (letters, digits, . _ -), got ${describe(item.name)}`);
    const kinds = PROBE_KINDS.filter((k) => item[k] !== undefined);
    let check: ProbeCheck | undefined;
    if (kinds.length !== 1) c.add(p, kinds.length === 0 ? `a probe needs one of ${PROBE_KINDS.join(", ")}` : `a probe has one kind; this one has ${kinds.join(" and ")}`);
    else if (kinds[0] === "http") check = parseHttp(c, item.http, join(p, "http"));
    else if (kinds[0] === "tcp") check = parseTcp(c, item.tcp, join(p, "tcp"));
    else if (typeof item.exec === "string" && item.exec.trim() !== "") check = { kind: "exec", command: item.exec };
    else c.add(join(p, "exec"), `expected a shell command (exit 0 is a success), got ${describe(item.exec)}`);
    const every = item.every === undefined ? DEFAULT_EVERY_MS : c.duration(item.every, join(p, "every"), MIN_EVERY_MS);
    const timeout = item.timeout === undefined ? DEFAULT_TIMEOUT_MS : c.duration(item.timeout, join(p, "timeout"), 1);
    if (name !== undefined && check !== undefined && every !== undefined && timeout !== undefined) out.push({ name, check, every, timeout });
  });
  return { probes: out, names };
}

function parseSlo(c: Checker, raw: unknown, names: readonly string[]): Record<string, SloDef> {
  const out: Record<string, SloDef> = {};
  if (!isRecord(raw)) {
    c.add("slo", `expected a mapping of probe name to limits like {api: {availability: 99%, p95: 300ms, recovery: 5s}}, got ${describe(raw)}`);
    return out;
  }
  for (const [probe, limits] of Object.entries(raw)) {
    const p = join("slo", probe);
    if (!names.includes(probe)) {
      const close = suggest(probe, names);
      c.add(p, `no probe is named ${JSON.stringify(probe)}${close ? ` (did you mean ${close}?)` : names.length ? ` (probes: ${names.join(", ")})` : ""}`);
      continue;
    }
    if (!isRecord(limits) || Object.keys(limits).length === 0) {
      c.add(p, `expected limits like {availability: 99%, p95: 300ms, p99: 1s, recovery: 5s}, got ${describe(limits)}`);
      continue;
    }
    c.unknownKeys(limits, SLO_FIELDS, p);
    const slo: SloDef = {};
    if (limits.availability !== undefined) {
      const a = c.share(limits.availability, join(p, "availability"));
      if (a !== undefined) slo.availability = a;
    }
    for (const k of ["p95", "p99", "recovery"] as const) {
      if (limits[k] === undefined) continue;
      const ms = c.duration(limits[k], join(p, k), 0);
      if (ms !== undefined) slo[k] = ms;
    }
    out[probe] = slo;
  }
  return out;
}

function parseSteady(c: Checker, raw: unknown, probes: readonly ProbeDef[]): SteadyStateDef | null {
  if (!isRecord(raw)) {
    c.add("steadyState", `expected {before: 10s, after: 10s}, got ${describe(raw)}`);
    return null;
  }
  c.unknownKeys(raw, STEADY_FIELDS, "steadyState");
  const before = raw.before === undefined ? 0 : c.duration(raw.before, "steadyState.before", 0);
  const after = raw.after === undefined ? 0 : c.duration(raw.after, "steadyState.after", 0);
  const slowest = Math.max(0, ...probes.map((p) => p.every));
  if (before !== undefined && before > 0 && before < slowest) c.add("steadyState.before", `expected at least the slowest probe's every (${slowest}ms), so each probe gets a sample, got ${showValue(raw.before)}`);
  if (before === undefined || after === undefined) return null;
  return { before, after };
}

function parseAbort(c: Checker, raw: unknown, names: readonly string[]): AbortWhen | null {
  if (!isRecord(raw)) {
    c.add("abortWhen", `expected a stop condition like {probe: api, availabilityBelow: 80%, over: 10s}, got ${describe(raw)}`);
    return null;
  }
  c.unknownKeys(raw, ABORT_FIELDS, "abortWhen");
  let probe: string | undefined;
  if (typeof raw.probe === "string" && names.includes(raw.probe)) probe = raw.probe;
  else c.add("abortWhen.probe", `expected the name of a probe (${names.join(", ") || "none given"}), got ${describe(raw.probe)}`);
  const below = raw.availabilityBelow === undefined ? (c.add("abortWhen.availabilityBelow", "required: the availability under which the experiment stops, e.g. 80%"), undefined) : c.share(raw.availabilityBelow, "abortWhen.availabilityBelow");
  const over = raw.over === undefined ? (c.add("abortWhen.over", "required: the window the availability is measured over, e.g. 10s"), undefined) : c.duration(raw.over, "abortWhen.over", 1);
  if (probe === undefined || below === undefined || over === undefined) return null;
  return { probe, availabilityBelow: below, over };
}

function parseNotify(c: Checker, raw: unknown): NotifyDef | null {
  if (!isRecord(raw)) {
    c.add("notify", `expected {webhook: URL, on: [failed, aborted]}, got ${describe(raw)}`);
    return null;
  }
  c.unknownKeys(raw, NOTIFY_FIELDS, "notify");
  let webhook: string | undefined;
  try {
    const u = typeof raw.webhook === "string" ? new URL(raw.webhook) : null;
    if (u && (u.protocol === "http:" || u.protocol === "https:")) webhook = raw.webhook as string;
  } catch {
    // reported below
  }
  if (webhook === undefined) c.add("notify.webhook", `expected an http:// or https:// URL (a Slack incoming webhook, say), got ${describe(raw.webhook)}`);
  let on: Verdict[] = ["failed", "aborted"];
  if (raw.on !== undefined) {
    const list = typeof raw.on === "string" ? [raw.on] : raw.on;
    if (!Array.isArray(list) || list.length === 0) c.add("notify.on", `expected a list of verdicts from ${VERDICTS.join(", ")}, got ${describe(raw.on)}`);
    else {
      on = [];
      list.forEach((v: unknown, i) => {
        if (typeof v === "string" && (VERDICTS as readonly string[]).includes(v)) {
          if (!on.includes(v as Verdict)) on.push(v as Verdict);
        } else c.add(Array.isArray(raw.on) ? join("notify.on", i) : "notify.on", `expected one of ${VERDICTS.join(", ")}, got ${describe(v)}`);
      });
    }
  }
  return webhook === undefined ? null : { webhook, on };
}

/** Validates the experiment fields of a raw scenario; null when it has none. */
export function validateExperiment(raw: Record<string, unknown>): { experiment: Experiment | null; errors: FieldError[] } {
  const c = new Checker();
  const given = EXPERIMENT_FIELDS.filter((k) => raw[k] !== undefined);
  if (given.length === 0) return { experiment: null, errors: [] };
  let probes: ProbeDef[] = [];
  let names: string[] = [];
  if (raw.probes === undefined) {
    const needs = given.filter((k) => k !== "notify");
    if (needs.length > 0) c.add(needs[0]!, `${needs.join(" and ")} ${needs.length > 1 ? "watch" : "watches"} probes: add probes: [{name: api, http: {url: ...}}]`);
  } else ({ probes, names } = parseProbes(c, raw.probes));
  const slo = raw.slo === undefined ? {} : parseSlo(c, raw.slo, names);
  const steadyState = raw.steadyState === undefined ? null : parseSteady(c, raw.steadyState, probes);
  const abortWhen = raw.abortWhen === undefined ? null : parseAbort(c, raw.abortWhen, names);
  const notify = raw.notify === undefined ? null : parseNotify(c, raw.notify);
  if (c.errors.length > 0) return { experiment: null, errors: c.errors };
  return { experiment: { probes, slo, steadyState, abortWhen, notify }, errors: [] };
}
