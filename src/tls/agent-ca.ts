// The agent's CA: made on first need under the state folder (key mode 0600) and reused across
// restarts, or given as files (--ca-cert/--ca-key). It signs short-lived leaf certificates for
// the names clients ask for (SNI) and for listen addresses, cached per name. The key never
// leaves the agent: only the certificate is served (agent.ca, `netimpair ca`).
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { homedir } from "node:os";
import { join } from "node:path";
import { createCa, issue, newKey, type KeyedCertificate } from "./certificates.js";

/** How long a leaf lives, and how long before its end it is replaced. */
export const LEAF_LIFETIME_MS = 24 * 3600_000;
const LEAF_RENEW_BEFORE_MS = 3600_000;
/** clocks a little behind ours still accept a new leaf */
const BACKDATE_MS = 3600_000;
const CA_LIFETIME_MS = 10 * 365 * 24 * 3600_000;
/** names kept at most (a client may send any SNI name: memory stays bounded) */
const LEAF_CACHE = 256;

export const CA_CERT_FILE = "ca.pem";
export const CA_KEY_FILE = "ca-key.pem";

export class CaError extends Error {}

/** Where the CA lives by default: $XDG_STATE_HOME/netimpair, else ~/.local/state/netimpair. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_STATE_HOME;
  return xdg !== undefined && xdg !== "" ? join(xdg, "netimpair") : join(homedir(), ".local", "state", "netimpair");
}

export type CaSource = { stateDir: string } | { certFile: string; keyFile: string };

export class AgentCa {
  private readonly leaves = new Map<string, { leaf: KeyedCertificate; renewAt: number }>();
  /** one key for every leaf (a leaf is made per name; its key need not be) */
  private readonly leafKey = newKey();

  private constructor(
    readonly ca: KeyedCertificate,
    /** where it came from, for the log */
    readonly origin: string,
    /** true when this start made it */
    readonly created: boolean,
  ) {}

  get certificate(): string {
    return this.ca.cert;
  }

  /** Loads the CA, or makes and saves one under the state folder the first time. */
  static async open(source: CaSource): Promise<AgentCa> {
    if ("certFile" in source) {
      const cert = await readText(source.certFile, "--ca-cert");
      const key = await readText(source.keyFile, "--ca-key");
      return new AgentCa(checkCa({ cert, key }, `--ca-cert ${source.certFile} / --ca-key ${source.keyFile}`), source.certFile, false);
    }
    const certPath = join(source.stateDir, CA_CERT_FILE);
    const keyPath = join(source.stateDir, CA_KEY_FILE);
    let cert: string | null = null;
    let key: string | null = null;
    try {
      cert = await readFile(certPath, "utf8");
      key = await readFile(keyPath, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new CaError(`agent CA in ${source.stateDir}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    if (cert !== null && key !== null) return new AgentCa(checkCa({ cert, key }, `agent CA in ${source.stateDir}`), certPath, false);
    const now = Date.now();
    const made = createCa(`netimpair agent CA (${new Date(now).toISOString().slice(0, 10)})`, new Date(now - BACKDATE_MS), new Date(now + CA_LIFETIME_MS));
    try {
      await mkdir(source.stateDir, { recursive: true, mode: 0o700 });
      // the key first, created 0600 (and made so if a umask widened it)
      await writeFile(keyPath, made.key, { mode: 0o600, flag: "w" });
      await chmod(keyPath, 0o600);
      await writeFile(certPath, made.cert, { mode: 0o644 });
    } catch (err) {
      throw new CaError(`agent CA: cannot save it in ${source.stateDir} (${(err as NodeJS.ErrnoException).code ?? String(err)}); give another --state-dir or --ca-cert/--ca-key`);
    }
    return new AgentCa(made, certPath, true);
  }

  /** A leaf for `name` (a DNS name or an IP address; more names may ride along), cached until near its end. */
  leaf(names: readonly string[]): KeyedCertificate {
    const key = names.join(",");
    const now = Date.now();
    const hit = this.leaves.get(key);
    if (hit !== undefined && hit.renewAt > now) {
      // most recently used last: the oldest is evicted first
      this.leaves.delete(key);
      this.leaves.set(key, hit);
      return hit.leaf;
    }
    const leaf = issue(this.ca, { names, notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(now + LEAF_LIFETIME_MS), key: this.leafKey });
    this.leaves.delete(key);
    this.leaves.set(key, { leaf, renewAt: now + LEAF_LIFETIME_MS - LEAF_RENEW_BEFORE_MS });
    while (this.leaves.size > LEAF_CACHE) this.leaves.delete(this.leaves.keys().next().value as string);
    return leaf;
  }
}

async function readText(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new CaError(`${flag} ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

function checkCa(ca: KeyedCertificate, where: string): KeyedCertificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(ca.cert);
  } catch (err) {
    throw new CaError(`${where}: the certificate is not a PEM certificate (${(err as Error).message})`);
  }
  let ok: boolean;
  try {
    ok = cert.checkPrivateKey(createPrivateKey(ca.key));
  } catch (err) {
    throw new CaError(`${where}: the key is not a PEM private key (${(err as Error).message})`);
  }
  if (!ok) throw new CaError(`${where}: the key does not belong to the certificate`);
  if (!cert.ca) throw new CaError(`${where}: the certificate is not a CA (basicConstraints CA:true is missing)`);
  return ca;
}
