// Which agents a command runs on (--agent, NETIMPAIR_AGENT, --agents inventory, --select,
// dns:// expansion) and the parallel fan-out over them with a concurrency limit and a timeout.
import { readFile } from "node:fs/promises";
import { dirname, resolve as resolvePath } from "node:path";
import { lookup } from "node:dns/promises";
import { parse as parseYaml } from "yaml";
import { connect, ConnectionError, RpcError, UNTRUSTED_CERT_CODES, type ControlClient } from "../control/client.js";
import { ErrorCode, type FieldError } from "../control/protocol.js";
import { formatHostPort } from "../relay/address.js";
import { UsageError, type AgentOutcome, type FailedOutcome } from "./output.js";

export const DEFAULT_AGENT_URL = "ws://127.0.0.1:8474/control";
export const DEFAULT_CONCURRENCY = 16;
export const DEFAULT_TIMEOUT_MS = 10_000;

/** One agent a command runs on. */
export interface AgentTarget {
  /** inventory name, else the URL */
  name: string;
  url: string;
  token?: string;
  labels: Record<string, string>;
  /** PEM CA certificate(s) trusted for wss:// (--ca) */
  ca?: Buffer;
  /** why this agent cannot be reached before even trying (a dns:// name that resolves to nothing) */
  unreachable?: string;
}

/** One entry of an --agents inventory file, as written. */
export interface InventoryAgent {
  name?: string;
  url: string;
  labels: Record<string, string>;
  /** absolute path (relative paths are resolved against the inventory file's folder) */
  tokenFile?: string;
}

export interface TargetOptions {
  /** --agent values (each may be comma-separated) */
  agent: string[];
  /** --agents FILE */
  agents?: string;
  /** --select key=value,... (repeats add up: all pairs must match) */
  select: string[];
  /** --token or NETIMPAIR_TOKEN */
  token?: string;
  /** --ca FILE's content: CA certificate(s) trusted for wss:// */
  ca?: Buffer;
  env?: NodeJS.ProcessEnv;
  /** resolves dns:// names; defaults to dns.lookup(name, {all: true}) */
  resolveName?: (name: string) => Promise<string[]>;
}

export async function lookupAll(name: string): Promise<string[]> {
  const found = await lookup(name, { all: true });
  return [...new Set(found.map((a) => a.address))];
}

/** Splits comma-separated --agent values and drops empties. */
export function splitAgentList(values: string[]): string[] {
  return values.flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");
}

export type AgentAddress = { kind: "url"; url: string } | { kind: "dns"; name: string; port: number };

/**
 * Reads one --agent value: ws://... or wss://... as is, http(s):// turned into ws(s)://,
 * a bare HOST:PORT becomes ws://HOST:PORT/control, dns://NAME:PORT is expanded later.
 */
export function parseAgentAddress(text: string, what = "--agent"): AgentAddress {
  const bad = (why: string): UsageError => new UsageError(`${what} ${JSON.stringify(text)}: ${why}`);
  if (text.startsWith("dns://")) {
    const rest = text.slice("dns://".length).replace(/\/+$/, "");
    const m = /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(rest);
    if (!m) throw bad("expected dns://NAME:PORT");
    const port = Number(m[2]);
    if (port < 1 || port > 65535) throw bad("port must be 1-65535");
    return { kind: "dns", name: m[1]!, port };
  }
  let urlText = text;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) urlText = `ws://${text}/control`;
  let url: URL;
  try {
    url = new URL(urlText);
  } catch {
    throw bad("expected ws://HOST:PORT/control, HOST:PORT or dns://NAME:PORT");
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  if (url.protocol !== "ws:" && url.protocol !== "wss:") throw bad(`unsupported scheme ${url.protocol} (expected ws:, wss: or dns:)`);
  if (url.hostname === "") throw bad("missing host");
  if (url.pathname === "/" || url.pathname === "") url.pathname = "/control";
  return { kind: "url", url: url.toString() };
}

/**
 * dns://NAME:PORT -> ws://ADDR:PORT/control for every address NAME resolves to (IPv6 bracketed).
 * A name that resolves to nothing is not a usage error but an agent not reached (a headless
 * Service with no ready pod has no address): it comes back as a failure message.
 */
export async function expandDns(
  name: string,
  port: number,
  resolveName: (name: string) => Promise<string[]> = lookupAll,
): Promise<{ urls: string[] } | { unreachable: string }> {
  const none = "no agent to reach (a headless Service with no ready pods has no address)";
  let addrs: string[];
  try {
    addrs = await resolveName(name);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return { unreachable: `cannot resolve ${JSON.stringify(name)} (${code}): ${none}` };
  }
  if (addrs.length === 0) return { unreachable: `${JSON.stringify(name)} resolves to no address: ${none}` };
  return { urls: addrs.map((a) => `ws://${formatHostPort(a, port)}/control`) };
}

/** Parses --select values into required label pairs. */
export function parseSelector(values: string[]): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const value of values) {
    for (const part of value.split(",")) {
      const p = part.trim();
      if (p === "") continue;
      const eq = p.indexOf("=");
      if (eq <= 0) throw new UsageError(`--select ${JSON.stringify(value)}: expected key=value,... (got ${JSON.stringify(p)})`);
      const key = p.slice(0, eq).trim();
      const val = p.slice(eq + 1).trim();
      if (key in pairs && pairs[key] !== val) {
        throw new UsageError(`--select ${JSON.stringify(value)}: label ${JSON.stringify(key)} asked to be both ${JSON.stringify(pairs[key])} and ${JSON.stringify(val)}`);
      }
      pairs[key] = val;
    }
  }
  return pairs;
}

export function matchesSelector(labels: Record<string, string>, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function describe(v: unknown): string {
  return v === undefined ? "nothing" : JSON.stringify(v);
}

/** Validates an inventory document (already parsed YAML). `file` names it in errors. */
export function parseInventory(doc: unknown, file: string): InventoryAgent[] {
  const base = dirname(resolvePath(file));
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new UsageError(`--agents ${file}: expected a mapping with an "agents" list, got ${describe(doc)}`);
  }
  const list = (doc as { agents?: unknown }).agents;
  if (!Array.isArray(list)) throw new UsageError(`--agents ${file}: agents: expected a list, got ${describe(list)}`);
  const out: InventoryAgent[] = [];
  const names = new Set<string>();
  list.forEach((entry: unknown, i) => {
    const at = `--agents ${file}: agents[${i}]`;
    if (!entry || typeof entry !== "object" || Array.isArray(entry)) throw new UsageError(`${at}: expected a mapping {name, url, labels, tokenFile}, got ${describe(entry)}`);
    const e = entry as Record<string, unknown>;
    for (const key of Object.keys(e)) {
      if (!["name", "url", "labels", "tokenFile"].includes(key)) throw new UsageError(`${at}.${key}: unknown field (expected name, url, labels, tokenFile)`);
    }
    if (typeof e.url !== "string" || e.url.trim() === "") throw new UsageError(`${at}.url: expected a URL string, got ${describe(e.url)}`);
    const agent: InventoryAgent = { url: e.url.trim(), labels: {} };
    if (e.name !== undefined) {
      if (typeof e.name !== "string" || e.name.trim() === "") throw new UsageError(`${at}.name: expected a string, got ${describe(e.name)}`);
      if (names.has(e.name)) throw new UsageError(`${at}.name: ${JSON.stringify(e.name)} is used twice`);
      names.add(e.name);
      agent.name = e.name;
    }
    if (e.labels !== undefined && e.labels !== null) {
      if (typeof e.labels !== "object" || Array.isArray(e.labels)) throw new UsageError(`${at}.labels: expected a mapping key: value, got ${describe(e.labels)}`);
      for (const [k, v] of Object.entries(e.labels as Record<string, unknown>)) {
        if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") {
          throw new UsageError(`${at}.labels.${k}: expected a string, got ${describe(v)}`);
        }
        agent.labels[k] = String(v);
      }
    }
    if (e.tokenFile !== undefined) {
      if (typeof e.tokenFile !== "string" || e.tokenFile === "") throw new UsageError(`${at}.tokenFile: expected a file path, got ${describe(e.tokenFile)}`);
      agent.tokenFile = resolvePath(base, e.tokenFile);
    }
    out.push(agent);
  });
  return out;
}

export async function loadInventory(file: string): Promise<InventoryAgent[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new UsageError(`--agents ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UsageError(`--agents ${file}: not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  return parseInventory(doc, file);
}

async function readToken(file: string, who: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new UsageError(`${who}: tokenFile ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const token = text.trim();
  if (token === "") throw new UsageError(`${who}: tokenFile ${file} is empty`);
  return token;
}

/**
 * The agents a command runs on: --agent values (else NETIMPAIR_AGENT, else the default
 * ws://127.0.0.1:8474/control when no inventory is given) plus the inventory's agents that
 * match --select. A per-agent tokenFile wins over --token. Duplicated URLs run once.
 */
export async function resolveTargets(opts: TargetOptions): Promise<AgentTarget[]> {
  const env = opts.env ?? process.env;
  const resolveName = opts.resolveName ?? lookupAll;
  const selector = parseSelector(opts.select);
  if (Object.keys(selector).length > 0 && opts.agents === undefined) {
    throw new UsageError(`--select ${opts.select.join(",")}: needs --agents FILE (labels come from the inventory)`);
  }
  let agentValues = splitAgentList(opts.agent);
  let from = "--agent";
  if (agentValues.length === 0 && opts.agents === undefined) {
    const fromEnv = splitAgentList([env.NETIMPAIR_AGENT ?? ""]);
    if (fromEnv.length > 0) {
      agentValues = fromEnv;
      from = "NETIMPAIR_AGENT";
    } else {
      agentValues = [DEFAULT_AGENT_URL];
    }
  }
  const targets: AgentTarget[] = [];
  const seen = new Set<string>();
  const add = (t: AgentTarget): void => {
    if (seen.has(t.url)) return;
    seen.add(t.url);
    targets.push(t);
  };
  const ca = opts.ca !== undefined ? { ca: opts.ca } : {};
  /** the URLs of an address, or a target that says why there is none */
  const expand = async (addr: AgentAddress, name: string | undefined, labels: Record<string, string>): Promise<string[]> => {
    if (addr.kind === "url") return [addr.url];
    const found = await expandDns(addr.name, addr.port, resolveName);
    if ("urls" in found) return found.urls;
    const url = `dns://${addr.name}:${addr.port}`;
    add({ name: name ?? url, url, labels, unreachable: found.unreachable });
    return [];
  };
  for (const value of agentValues) {
    const urls = await expand(parseAgentAddress(value, from), undefined, {});
    for (const url of urls) add({ name: url, url, labels: {}, ...(opts.token !== undefined ? { token: opts.token } : {}), ...ca });
  }
  if (opts.agents !== undefined) {
    const inventory = await loadInventory(opts.agents);
    const chosen = inventory.filter((a) => matchesSelector(a.labels, selector));
    if (chosen.length === 0) {
      const sel = Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(",");
      throw new UsageError(
        inventory.length === 0 ? `--agents ${opts.agents}: the inventory lists no agents` : `--select ${sel}: matches no agent in ${opts.agents}`,
      );
    }
    for (const a of chosen) {
      const who = `--agents ${opts.agents}: agent ${a.name ?? a.url}`;
      const token = a.tokenFile !== undefined ? await readToken(a.tokenFile, who) : opts.token;
      const urls = await expand(parseAgentAddress(a.url, `${who}: url`), a.name, a.labels);
      for (const url of urls) {
        const name = a.name === undefined ? url : urls.length > 1 ? `${a.name}[${new URL(url).hostname}]` : a.name;
        add({ name, url, labels: a.labels, ...(token !== undefined ? { token } : {}), ...ca });
      }
    }
  }
  return targets;
}

/** The cause of a failure as one short phrase (the URL is added by the error line). */
export function describeFailure(err: unknown): string {
  if (err instanceof ConnectionError) {
    if (err.code !== undefined && UNTRUSTED_CERT_CODES.has(err.code)) return `${err.reason} (trust the agent's CA with --ca FILE or env NODE_EXTRA_CA_CERTS=FILE)`;
    return err.reason;
  }
  if (err instanceof RpcError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * How a command names the flag or argument a request field came from: `params.set.down.delay`
 * -> `--set down.delay`, `params.spec.down.delay` -> `bad.yaml:5: down.delay`. Undefined when
 * the field is not one the command's user gave (it is then shown without `params.`).
 */
export type FieldLabeller = (path: string) => string | undefined;

function isFieldErrors(data: unknown): data is FieldError[] {
  return Array.isArray(data) && data.length > 0 && data.every((f) => f && typeof f === "object" && typeof (f as FieldError).path === "string" && typeof (f as FieldError).message === "string");
}

/** An invalid-params refusal as the user's own flags: "--set down.delay: expected a duration ...". */
export function describeInvalidParams(err: RpcError, label?: FieldLabeller): string {
  if (!isFieldErrors(err.data)) return err.message;
  return err.data.map((f) => `${label?.(f.path) ?? f.path.replace(/^params\./, "")}: ${f.message}`).join("; ");
}

/** A failed outcome; the agent refusing the values it was sent is a usage error. */
export function failedOutcome(target: AgentTarget, err: unknown, label?: FieldLabeller): FailedOutcome {
  if (err instanceof RpcError && err.code === ErrorCode.InvalidParams) {
    return { agent: target.name, url: target.url, ok: false, error: describeInvalidParams(err, label), usage: true };
  }
  return { agent: target.name, url: target.url, ok: false, error: describeFailure(err) };
}

export interface FanOutOptions {
  concurrency?: number;
  /** per agent: connect plus the work, ms */
  timeoutMs?: number;
  /** names request fields by the flags they came from, in invalid-params refusals */
  label?: FieldLabeller;
}

function formatTimeout(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/**
 * Runs `work` on every target in parallel (at most `concurrency` at once), each with its own
 * control connection (not bound to the session: the CLI's applies outlive it) and timeout.
 * Outcomes come back in the targets' order.
 */
export async function fanOut<R>(
  targets: AgentTarget[],
  work: (client: ControlClient, target: AgentTarget, signal: AbortSignal) => Promise<R>,
  opts: FanOutOptions = {},
): Promise<AgentOutcome<R>[]> {
  const concurrency = Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const runOne = async (target: AgentTarget): Promise<AgentOutcome<R>> => {
    if (target.unreachable !== undefined) return { agent: target.name, url: target.url, ok: false, error: target.unreachable };
    let client: ControlClient | undefined;
    // the deadline aborts everything under way (the connect, the calls, any wait of the work),
    // so nothing is left to keep the process alive past --timeout
    const giveUp = new AbortController();
    const timedOut = new ConnectionError(target.url, "timeout", `timed out after ${formatTimeout(timeoutMs)}`);
    const deadline = new Promise<never>((_, reject) => {
      giveUp.signal.addEventListener("abort", () => reject(timedOut), { once: true });
    });
    const timer = setTimeout(() => giveUp.abort(timedOut), timeoutMs);
    try {
      const result = await Promise.race([
        (async () => {
          const c = await connect(target.url, {
            // the deadline above governs (and names the timeout); calls get the same budget
            timeoutMs: timeoutMs + 1000,
            bindToSession: false,
            signal: giveUp.signal,
            ...(target.token !== undefined ? { token: target.token } : {}),
            ...(target.ca !== undefined ? { ca: target.ca } : {}),
          });
          client = c;
          if (giveUp.signal.aborted) throw timedOut;
          return work(c, target, giveUp.signal);
        })(),
        deadline,
      ]);
      return { agent: target.name, url: target.url, ok: true, result };
    } catch (err) {
      return failedOutcome(target, err, opts.label);
    } finally {
      clearTimeout(timer);
      if (client) {
        // a timed-out agent may not answer a close either: drop it rather than wait
        if (giveUp.signal.aborted) client.terminate();
        else await client.close();
      }
    }
  };
  return mapLimit(targets, concurrency, runOne);
}

/** Maps items with at most `limit` calls in flight; results keep the items' order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return out;
}
