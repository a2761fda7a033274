// DNS rebinding protection: the names the agent answers to. A page on evil.example whose name is
// rebound to 127.0.0.1 reaches the agent with `Host: evil.example:8474` and a matching Origin, so
// "same origin" cannot be decided from the request alone: the Host must be one of ours.
// Allowed: loopback names (localhost, *.localhost) and any IP literal (an address cannot be
// rebound: a page served from it IS the agent), the bound address, and the configured allowHosts
// ("name", ".example.com" for the domain and its subdomains, "*" for anything).
import { isIP } from "node:net";

/** A Host header's hostname: lowercased, IPv6 brackets and a trailing dot removed; null when malformed. */
export function hostnameOf(hostHeader: string): string | null {
  const h = hostHeader.trim().toLowerCase();
  if (h === "") return null;
  let name: string;
  let rest: string;
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    if (end < 0) return null;
    name = h.slice(1, end);
    rest = h.slice(end + 1);
    if (isIP(name) !== 6) return null;
  } else {
    const colon = h.indexOf(":");
    name = colon < 0 ? h : h.slice(0, colon);
    rest = colon < 0 ? "" : h.slice(colon);
  }
  if (rest !== "" && !/^:\d{1,5}$/.test(rest)) return null;
  if (name.endsWith(".")) name = name.slice(0, -1);
  if (name === "" || !/^[a-z0-9._:%-]+$/.test(name)) return null;
  return name;
}

const ALLOW_HOST = /^(\*|\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)$/;

/** An allowHosts entry's problem, or null: "name", ".domain" or "*". */
export function checkAllowHost(entry: unknown): string | null {
  if (typeof entry !== "string" || !ALLOW_HOST.test(entry.toLowerCase()))
    return `expected a host name like dash.example.com, .example.com (the domain and its subdomains) or *, got ${JSON.stringify(entry) ?? String(entry)}`;
  return null;
}

export class HostAllowList {
  private readonly exact = new Set<string>(["localhost"]);
  private readonly suffixes: string[] = [".localhost"];
  private readonly any: boolean;

  /** allowHosts entries must have passed checkAllowHost. */
  constructor(allowHosts: readonly string[], boundHost?: string) {
    this.any = allowHosts.includes("*");
    for (const raw of allowHosts) {
      const e = raw.toLowerCase();
      if (e.startsWith(".")) this.suffixes.push(e), this.exact.add(e.slice(1));
      else this.exact.add(e);
    }
    if (boundHost) this.exact.add(boundHost.toLowerCase());
  }

  /** Adds the address the server bound (known after listen). */
  addBound(host: string): void {
    this.exact.add(host.toLowerCase());
  }

  /** True when a request with this Host header may be answered. */
  allows(hostHeader: string): boolean {
    if (this.any) return true;
    const name = hostnameOf(hostHeader);
    if (name === null) return false;
    if (isIP(name) !== 0) return true;
    if (this.exact.has(name)) return true;
    return this.suffixes.some((s) => name.endsWith(s));
  }
}
