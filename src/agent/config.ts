// The agent's configuration: agent.yaml merged with command-line flags (flags win).
// Every problem is reported with the file, the field and the value, all at once.
import { PROTOCOLS, type ProtocolName } from "../requests/rule.js";
import { parseUdpIdle } from "../relay/udp/udp-options.js";
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { parseHostPort } from "../relay/address.js";
import { checkAllowHost } from "./host-check.js";
import { checkTlsSpec } from "../tls/settings.js";
import { WRITE_BUDGET } from "../link/moderation.js";
import type { ProxyTlsSpec } from "../control/protocol.js";

export const DEFAULT_CONTROL = "127.0.0.1:8474";
export const DEFAULT_MAX_CONTROL_CONNECTIONS = 64;
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `netimpair agent` flags, as the CLI parses them (repeatable ones as arrays). */
export interface AgentFlags {
  config?: string;
  control?: string;
  /** NAME=LISTEN,UPSTREAM */
  proxy: string[];
  profiles?: string;
  tokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** k=v */
  label: string[];
  logLevel?: string;
  insecure?: boolean;
  allowOrigin: string[];
  /** host names the agent answers to (DNS rebinding protection), besides loopback and IPs */
  allowHost?: string[];
  /** NAME=client:auto,upstream:verify,... (a proxy's TLS; docs/tls.md) */
  proxyTls?: string[];
  /** where the agent's CA is kept */
  stateDir?: string;
  caCert?: string;
  caKey?: string;
  /** writes a second the links may make before merging segments (link/moderation.ts; 0: never) */
  linkWriteBudget?: string;
}

export interface ProxyConfig {
  name: string;
  listen: string;
  upstream: string;
  /** a profile applied at start */
  profile?: string;
  enabled: boolean;
  /** 0 = unlimited */
  maxConnections: number;
  /** what it carries (default tcp) */
  protocol: ProtocolName;
  /** udp and dns proxies: ms a flow may stay silent (default 60 s) */
  udpIdleMs?: number;
  /** udp and dns proxies: flows at most (default 1024) */
  udpMaxFlows?: number;
  /** TLS on either side (file paths) */
  tls?: ProxyTlsSpec;
  /** where relative paths in tls start */
  tlsBaseDir?: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

export interface AgentConfig {
  control: string;
  /** trimmed token file content; null = no auth */
  token: string | null;
  labels: Record<string, string>;
  /** extra profile directories (the built-ins are always there) */
  profileDirs: string[];
  proxies: ProxyConfig[];
  tls: TlsMaterial | null;
  logLevel: LogLevel;
  allowOrigins: string[];
  /** host names the agent answers to besides loopback names, IP literals and its bound address */
  allowHosts: string[];
  insecure: boolean;
  maxControlConnections: number;
  /** writes a second the agent's links make before they merge segments (0: never; link/moderation.ts) */
  linkWriteBudget: number;
  /** where the agent's CA is kept (undefined: the default state folder) */
  stateDir?: string;
  /** the agent's CA as files */
  ca?: { cert: string; key: string };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0] : `invalid agent configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

const PROXY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** A proxy name as the control channel and config accept it; returns an error message or null. */
export function checkProxyName(name: unknown): string | null {
  if (typeof name !== "string") return `must be a string, got ${JSON.stringify(name) ?? String(name)}`;
  if (!PROXY_NAME.test(name)) return `must be 1-64 letters, digits, '_', '.' or '-' (starting with a letter or digit), got ${JSON.stringify(name)}`;
  return null;
}

function show(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Reads a secret token file: it must not be readable by everyone; its content is trimmed. */
export async function readTokenFile(path: string): Promise<string> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw new ConfigError([`token file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  if (process.platform !== "win32" && (info.mode & 0o004) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
    throw new ConfigError([`token file ${path} is readable by everyone (mode ${mode}); restrict it first, e.g. chmod 600 ${path}`]);
  }
  const token = (await readFile(path, "utf8")).trim();
  if (token === "") throw new ConfigError([`token file ${path} is empty`]);
  return token;
}

/** Parses NAME=LISTEN,UPSTREAM[,PROTOCOL]. */
export function parseProxyFlag(text: string): Omit<ProxyConfig, "enabled" | "maxConnections"> | string {
  const m = /^([^=]+)=([^,]+),([^,]+)(?:,([^,]*))?$/.exec(text);
  if (!m) return `--proxy expects NAME=LISTEN,UPSTREAM[,PROTOCOL] (e.g. pg=127.0.0.1:15432,127.0.0.1:5432,postgres), got ${show(text)}`;
  const [, name, listen, upstream, protocol = "tcp"] = m as unknown as [string, string, string, string, string | undefined];
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) return `--proxy ${show(text)}: protocol expected one of ${PROTOCOLS.join(" | ")}, got ${show(protocol)}`;
  const nameError = checkProxyName(name);
  if (nameError) return `--proxy ${show(text)}: name ${nameError}`;
  for (const [what, v] of [["listen", listen], ["upstream", upstream]] as const) {
    const hp = parseHostPort(v);
    if (typeof hp === "string") return `--proxy ${show(text)}: ${what} ${hp}`;
  }
  return { name, listen, upstream, protocol: protocol as ProtocolName };
}

interface RawConfig {
  where: string;
  baseDir: string;
  data: Record<string, unknown>;
}

async function readConfigFile(path: string): Promise<RawConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError([`config file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  let data: unknown;
  try {
    data = parseYaml(text, { logLevel: "error" }); // problems become ConfigErrors, not stderr warnings
  } catch (err) {
    throw new ConfigError([`config file ${path}: not valid YAML: ${(err as Error).message}`]);
  }
  if (data === null || data === undefined) data = {};
  if (!isRecord(data)) throw new ConfigError([`config file ${path}: expected a mapping of settings at the top, got ${show(data)}`]);
  return { where: path, baseDir: dirname(resolve(path)), data };
}

/** Why a profiles folder cannot be used (it is missing, not a folder, unreadable), or null. */
async function checkProfilesDir(dir: string): Promise<string | null> {
  try {
    if (!(await stat(dir)).isDirectory()) return `${dir} is not a directory`;
    await readdir(dir);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    return code === "ENOENT" ? `no such directory ${dir}` : `cannot read the profiles directory ${dir} (${code})`;
  }
}

const KNOWN_FIELDS = new Set([
  "control",
  "tokenFile",
  "labels",
  "profiles",
  "proxies",
  "tls",
  "logLevel",
  "allowOrigins",
  "allowHosts",
  "insecure",
  "maxControlConnections",
  "linkWriteBudget",
  "stateDir",
  "ca",
]);
const PROXY_FIELDS = new Set(["name", "listen", "upstream", "profile", "enabled", "maxConnections", "protocol", "tls", "udpIdle", "udpMaxFlows"]);

const TLS_FLAG_KEYS = ["client", "client.cert", "client.key", "upstream", "upstream.ca", "upstream.servername", "upstream.cert", "upstream.key"] as const;

/**
 * Parses --proxy-tls NAME=ITEM,ITEM...: client:auto, client.cert:F, client.key:F,
 * upstream:verify|insecure, upstream.ca:F, upstream.servername:N, upstream.cert:F, upstream.key:F.
 */
export function parseProxyTlsFlag(text: string): { name: string; tls: unknown } | string {
  const usage = `--proxy-tls expects NAME=client:auto,upstream:verify (items: ${TLS_FLAG_KEYS.join(", ")}; e.g. pg=client:auto,upstream.ca:ca.pem), got ${show(text)}`;
  const eq = text.indexOf("=");
  if (eq <= 0) return usage;
  const name = text.slice(0, eq);
  const items: Record<string, string> = {};
  for (const item of text.slice(eq + 1).split(",")) {
    const colon = item.indexOf(":");
    const key = colon > 0 ? item.slice(0, colon) : "";
    if (!(TLS_FLAG_KEYS as readonly string[]).includes(key) || colon === item.length - 1) return `${usage}: bad item ${show(item)}`;
    if (items[key] !== undefined) return `--proxy-tls ${show(text)}: ${key} given twice`;
    items[key] = item.slice(colon + 1);
  }
  const tls: Record<string, unknown> = {};
  if (items.client !== undefined) tls.client = items.client;
  if (items["client.cert"] !== undefined || items["client.key"] !== undefined) {
    if (items.client !== undefined) return `--proxy-tls ${show(text)}: give client:auto or client.cert/client.key, not both`;
    tls.client = { cert: items["client.cert"], key: items["client.key"] };
  }
  const up: Record<string, string> = {};
  for (const k of ["ca", "servername", "cert", "key"] as const) if (items[`upstream.${k}`] !== undefined) up[k] = resolveIfPath(k, items[`upstream.${k}`]!);
  if (items.upstream !== undefined) {
    if (Object.keys(up).length > 0) return `--proxy-tls ${show(text)}: give upstream:${items.upstream} or upstream.ca/servername/cert/key, not both`;
    tls.upstream = items.upstream;
  } else if (Object.keys(up).length > 0) tls.upstream = up;
  if (isRecord(tls.client)) tls.client = { cert: resolveIfPath("cert", tls.client.cert as string | undefined), key: resolveIfPath("key", tls.client.key as string | undefined) };
  return { name, tls };
}

function resolveIfPath<T extends string | undefined>(key: string, v: T): T {
  return (v === undefined || key === "servername" ? v : resolve(v)) as T;
}

/** Loads agent.yaml (when flags.config names one), merges the flags over it and reads secrets. */
export async function loadAgentConfig(flags: AgentFlags): Promise<AgentConfig> {
  const raw: RawConfig = flags.config ? await readConfigFile(flags.config) : { where: "(no config file)", baseDir: process.cwd(), data: {} };
  const problems: string[] = [];
  const at = (field: string, value: unknown, expected: string) => problems.push(`${raw.where}: ${field}: ${expected}, got ${show(value)}`);
  const d = raw.data;
  for (const key of Object.keys(d)) if (!KNOWN_FIELDS.has(key)) at(key, d[key], `unknown setting (known: ${[...KNOWN_FIELDS].join(", ")})`);

  const str = (field: string): string | undefined => {
    const v = d[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string" || v === "") {
      at(field, v, "expected a non-empty string");
      return undefined;
    }
    return v;
  };
  const fromFile = (p: string) => resolve(raw.baseDir, p);

  // control
  let control = flags.control ?? str("control") ?? DEFAULT_CONTROL;
  const controlHp = parseHostPort(control);
  if (typeof controlHp === "string") {
    problems.push(flags.control !== undefined ? `--control: ${controlHp}` : `${raw.where}: control: ${controlHp}`);
    control = DEFAULT_CONTROL;
  }

  // labels
  const labels: Record<string, string> = {};
  if (d.labels !== undefined && d.labels !== null) {
    if (!isRecord(d.labels)) at("labels", d.labels, "expected a mapping of key: value");
    else
      for (const [k, v] of Object.entries(d.labels)) {
        if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") labels[k] = String(v);
        else at(`labels.${k}`, v, "expected a string");
      }
  }
  for (const pair of flags.label) {
    const eq = pair.indexOf("=");
    if (eq <= 0) problems.push(`--label expects KEY=VALUE, got ${show(pair)}`);
    else labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }

  // profiles (each folder must be there: a typo would otherwise only log a warning)
  let profileDirs: string[] = [];
  /** where each folder was given, for the error naming it */
  const dirSources: string[] = [];
  if (flags.profiles !== undefined) {
    profileDirs = [resolve(flags.profiles)];
    dirSources.push(`--profiles ${show(flags.profiles)}`);
  } else if (typeof d.profiles === "string" && d.profiles !== "") {
    profileDirs = [fromFile(d.profiles)];
    dirSources.push(`${raw.where}: profiles: ${show(d.profiles)}`);
  } else if (Array.isArray(d.profiles)) {
    d.profiles.forEach((p, i) => {
      if (typeof p === "string" && p !== "") {
        profileDirs.push(fromFile(p));
        dirSources.push(`${raw.where}: profiles[${i}]: ${show(p)}`);
      } else at(`profiles[${i}]`, p, "expected a directory path");
    });
  } else if (d.profiles !== undefined && d.profiles !== null) at("profiles", d.profiles, "expected a directory or a list of directories");
  for (const [i, dir] of profileDirs.entries()) {
    const problem = await checkProfilesDir(dir);
    if (problem !== null) problems.push(`${dirSources[i]}: ${problem}`);
  }

  // proxies
  const proxies: ProxyConfig[] = [];
  if (d.proxies !== undefined && d.proxies !== null) {
    if (!Array.isArray(d.proxies)) at("proxies", d.proxies, "expected a list of {name, listen, upstream}");
    else
      d.proxies.forEach((p: unknown, i: number) => {
        const f = `proxies[${i}]`;
        if (!isRecord(p)) return void at(f, p, "expected {name, listen, upstream, profile?, enabled?, maxConnections?}");
        let ok = true;
        for (const key of Object.keys(p)) if (!PROXY_FIELDS.has(key)) (ok = false), at(`${f}.${key}`, p[key], `unknown field (known: ${[...PROXY_FIELDS].join(", ")})`);
        const nameError = checkProxyName(p.name);
        if (nameError) (ok = false), problems.push(`${raw.where}: ${f}.name: ${nameError}`);
        for (const key of ["listen", "upstream"] as const) {
          const v = p[key];
          const hp = typeof v === "string" ? parseHostPort(v) : `expected HOST:PORT, got ${show(v)}`;
          if (typeof hp === "string") (ok = false), problems.push(`${raw.where}: ${f}.${key}: ${hp}`);
        }
        if (p.profile !== undefined && (typeof p.profile !== "string" || p.profile === "")) (ok = false), at(`${f}.profile`, p.profile, "expected a profile name");
        if (p.enabled !== undefined && typeof p.enabled !== "boolean") (ok = false), at(`${f}.enabled`, p.enabled, "expected true or false");
        const mc = p.maxConnections;
        if (mc !== undefined && !(typeof mc === "number" && Number.isInteger(mc) && mc >= 0)) (ok = false), at(`${f}.maxConnections`, mc, "expected a whole number >= 0 (0 = unlimited)");
        const pr = p.protocol;
        if (pr !== undefined && !(typeof pr === "string" && (PROTOCOLS as readonly string[]).includes(pr))) (ok = false), at(`${f}.protocol`, pr, `expected one of ${PROTOCOLS.join(" | ")}`);
        const idle = p.udpIdle === undefined ? undefined : parseUdpIdle(p.udpIdle);
        if (typeof idle === "string") (ok = false), problems.push(`${raw.where}: ${f}.udpIdle: ${idle}`);
        const flows = p.udpMaxFlows;
        if (flows !== undefined && !(typeof flows === "number" && Number.isInteger(flows) && flows >= 1)) (ok = false), at(`${f}.udpMaxFlows`, flows, "expected a whole number >= 1");
        let tls: ProxyTlsSpec | undefined;
        if (p.tls !== undefined && p.tls !== null) {
          const checked = checkTlsSpec(p.tls, `${f}.tls`);
          for (const e of checked.errors) (ok = false), problems.push(`${raw.where}: ${e.path}: ${e.message}`);
          if (checked.spec !== null) tls = checked.spec;
        }
        if (!ok) return;
        if (proxies.some((q) => q.name === p.name)) return void at(`${f}.name`, p.name, "duplicate proxy name");
        proxies.push({
          name: p.name as string,
          listen: p.listen as string,
          upstream: p.upstream as string,
          ...(typeof p.profile === "string" ? { profile: p.profile } : {}),
          enabled: (p.enabled as boolean | undefined) ?? true,
          maxConnections: (mc as number | undefined) ?? 0,
          protocol: (pr as ProtocolName | undefined) ?? "tcp",
          ...(typeof idle === "number" ? { udpIdleMs: idle } : {}),
          ...(typeof flows === "number" ? { udpMaxFlows: flows } : {}),
          ...(tls !== undefined ? { tls, tlsBaseDir: raw.baseDir } : {}),
        });
      });
  }
  const flagNames = new Set<string>();
  for (const text of flags.proxy) {
    const parsed = parseProxyFlag(text);
    if (typeof parsed === "string") {
      problems.push(parsed);
      continue;
    }
    // a flag may override a config file's proxy, but two flags with one name is a mistake
    if (flagNames.has(parsed.name)) {
      problems.push(`--proxy ${JSON.stringify(text)}: duplicate proxy name ${JSON.stringify(parsed.name)} (another --proxy already defines it)`);
      continue;
    }
    flagNames.add(parsed.name);
    const i = proxies.findIndex((q) => q.name === parsed.name);
    const entry: ProxyConfig = { ...parsed, enabled: true, maxConnections: 0 };
    if (i >= 0) proxies[i] = { ...proxies[i]!, ...parsed };
    else proxies.push(entry);
  }

  for (const text of flags.proxyTls ?? []) {
    const parsed = parseProxyTlsFlag(text);
    if (typeof parsed === "string") {
      problems.push(parsed);
      continue;
    }
    const q = proxies.find((p) => p.name === parsed.name);
    if (q === undefined) {
      problems.push(`--proxy-tls ${show(text)}: no proxy named ${show(parsed.name)} (define it with --proxy or in the config file)`);
      continue;
    }
    const checked = checkTlsSpec(parsed.tls, "tls");
    if (checked.spec === null) problems.push(...checked.errors.map((e) => `--proxy-tls ${show(text)}: ${e.path}: ${e.message}`));
    else {
      q.tls = checked.spec;
      delete q.tlsBaseDir; // the flag's paths are resolved already
    }
  }

  // the agent's CA
  let stateDir: string | undefined = flags.stateDir !== undefined ? resolve(flags.stateDir) : undefined;
  if (stateDir === undefined && d.stateDir !== undefined && d.stateDir !== null) {
    if (typeof d.stateDir === "string" && d.stateDir !== "") stateDir = fromFile(d.stateDir);
    else at("stateDir", d.stateDir, "expected a directory path");
  }
  let ca: { cert: string; key: string } | undefined;
  if (flags.caCert !== undefined || flags.caKey !== undefined) {
    if (flags.caCert === undefined || flags.caKey === undefined) problems.push(`the agent CA needs both --ca-cert and --ca-key; only ${flags.caCert !== undefined ? "--ca-cert" : "--ca-key"} was given`);
    else ca = { cert: resolve(flags.caCert), key: resolve(flags.caKey) };
  } else if (d.ca !== undefined && d.ca !== null) {
    if (!isRecord(d.ca) || typeof d.ca.cert !== "string" || typeof d.ca.key !== "string" || d.ca.cert === "" || d.ca.key === "") at("ca", d.ca, "expected {cert: FILE, key: FILE}");
    else ca = { cert: fromFile(d.ca.cert), key: fromFile(d.ca.key) };
  }

  // log level
  let logLevel: LogLevel = "info";
  const lv = flags.logLevel ?? (d.logLevel as unknown);
  if (lv !== undefined && lv !== null) {
    if (typeof lv === "string" && (LOG_LEVELS as readonly string[]).includes(lv)) logLevel = lv as LogLevel;
    else problems.push(`${flags.logLevel !== undefined ? "--log-level" : `${raw.where}: logLevel`}: expected one of ${LOG_LEVELS.join(", ")}, got ${show(lv)}`);
  }

  // origins
  const allowOrigins: string[] = [];
  if (d.allowOrigins !== undefined && d.allowOrigins !== null) {
    if (!Array.isArray(d.allowOrigins)) at("allowOrigins", d.allowOrigins, "expected a list of origins (e.g. https://dash.example.com)");
    else
      d.allowOrigins.forEach((o, i) => {
        if (typeof o === "string" && o !== "") allowOrigins.push(o);
        else at(`allowOrigins[${i}]`, o, "expected an origin string");
      });
  }
  allowOrigins.push(...flags.allowOrigin);

  // host names (DNS rebinding protection)
  const allowHosts: string[] = [];
  if (d.allowHosts !== undefined && d.allowHosts !== null) {
    if (!Array.isArray(d.allowHosts)) at("allowHosts", d.allowHosts, "expected a list of host names (e.g. [dash.example.com, .corp.example])");
    else
      d.allowHosts.forEach((h, i) => {
        const problem = checkAllowHost(h);
        if (problem) problems.push(`${raw.where}: allowHosts[${i}]: ${problem}`);
        else allowHosts.push(h as string);
      });
  }
  for (const h of flags.allowHost ?? []) {
    const problem = checkAllowHost(h);
    if (problem) problems.push(`--allow-host: ${problem}`);
    else allowHosts.push(h);
  }

  // insecure, limits
  let insecure = false;
  if (d.insecure !== undefined && d.insecure !== null) {
    if (typeof d.insecure !== "boolean") at("insecure", d.insecure, "expected true or false");
    else insecure = d.insecure;
  }
  if (flags.insecure) insecure = true;
  let maxControlConnections = DEFAULT_MAX_CONTROL_CONNECTIONS;
  const mcc = d.maxControlConnections;
  if (mcc !== undefined && mcc !== null) {
    if (typeof mcc === "number" && Number.isInteger(mcc) && mcc >= 1) maxControlConnections = mcc;
    else at("maxControlConnections", mcc, "expected a whole number >= 1");
  }
  let linkWriteBudget = WRITE_BUDGET;
  if (flags.linkWriteBudget !== undefined) {
    const n = Number(flags.linkWriteBudget);
    if (flags.linkWriteBudget.trim() !== "" && Number.isInteger(n) && n >= 0) linkWriteBudget = n;
    else problems.push(`--link-write-budget: expected a whole number of writes a second >= 0 (0: never merge), got ${show(flags.linkWriteBudget)}`);
  } else if (d.linkWriteBudget !== undefined && d.linkWriteBudget !== null) {
    const b = d.linkWriteBudget;
    if (typeof b === "number" && Number.isInteger(b) && b >= 0) linkWriteBudget = b;
    else at("linkWriteBudget", b, "expected a whole number of writes a second >= 0 (0: never merge)");
  }

  // secrets: token and TLS material
  let token: string | null = null;
  const tokenFile = flags.tokenFile !== undefined ? resolve(flags.tokenFile) : str("tokenFile") !== undefined ? fromFile(d.tokenFile as string) : undefined;
  if (tokenFile !== undefined) {
    try {
      token = await readTokenFile(tokenFile);
    } catch (err) {
      problems.push(err instanceof ConfigError ? err.message : String(err));
    }
  }
  let tls: TlsMaterial | null = null;
  let certPath: string | undefined = flags.tlsCert !== undefined ? resolve(flags.tlsCert) : undefined;
  let keyPath: string | undefined = flags.tlsKey !== undefined ? resolve(flags.tlsKey) : undefined;
  if (d.tls !== undefined && d.tls !== null) {
    if (!isRecord(d.tls)) at("tls", d.tls, "expected {cert, key} file paths");
    else {
      for (const key of ["cert", "key"] as const) {
        const v = d.tls[key];
        if (typeof v !== "string" || v === "") at(`tls.${key}`, v, "expected a file path");
      }
      if (certPath === undefined && typeof d.tls.cert === "string" && d.tls.cert) certPath = fromFile(d.tls.cert);
      if (keyPath === undefined && typeof d.tls.key === "string" && d.tls.key) keyPath = fromFile(d.tls.key);
    }
  }
  if ((certPath === undefined) !== (keyPath === undefined)) problems.push(`TLS needs both a certificate and a key (--tls-cert and --tls-key, or tls: {cert, key}); only the ${certPath ? "certificate" : "key"} was given`);
  else if (certPath !== undefined && keyPath !== undefined) {
    const read = async (what: string, p: string): Promise<Buffer | null> => {
      try {
        return await readFile(p);
      } catch (err) {
        problems.push(`TLS ${what} ${p}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
        return null;
      }
    };
    const cert = await read("certificate", certPath);
    const key = await read("key", keyPath);
    if (cert && key) tls = { cert, key };
  }

  if (problems.length) throw new ConfigError(problems);
  return { control, token, labels, profileDirs, proxies, tls, logLevel, allowOrigins, allowHosts, insecure, maxControlConnections, linkWriteBudget, ...(stateDir !== undefined ? { stateDir } : {}), ...(ca !== undefined ? { ca } : {}) };
}
