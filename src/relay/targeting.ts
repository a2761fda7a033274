// Which connections an impairment reaches: a sticky share of them (`percent`) and/or clients
// whose address lies in one of a list of CIDRs (IPv4 and IPv6; IPv4-mapped IPv6 matches IPv4).
import { isIP } from "node:net";

export interface Cidr {
  text: string;
  family: 4 | 6;
  /** the network address as a 128-bit (v6) or 32-bit (v4) number */
  network: bigint;
  prefix: number;
}

/** Parses "10.0.0.0/8", "::1/128" or a bare address (a /32 or /128). Returns an error string when bad. */
export function parseCidr(text: string): Cidr | string {
  if (typeof text !== "string") return `expected a CIDR like 10.0.0.0/8 or ::1/128, got ${JSON.stringify(text)}`;
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return `expected a CIDR like 10.0.0.0/8 or ::1/128, got ${JSON.stringify(text)}`;
  const bits = family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits) return `CIDR prefix must be 0-${bits}, got ${JSON.stringify(text)}`;
    prefix = Number(p);
  }
  const value = family === 4 ? ipv4ToBigInt(addr) : ipv6ToBigInt(addr);
  return { text, family: family as 4 | 6, network: value & mask(bits, prefix), prefix };
}

function mask(bits: number, prefix: number): bigint {
  if (prefix === 0) return 0n;
  return ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
}

function ipv4ToBigInt(addr: string): bigint {
  return addr.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function ipv6ToBigInt(addr: string): bigint {
  let text = addr;
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  // an embedded IPv4 tail (::ffff:1.2.3.4)
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  if (tail.includes(".")) {
    const v4 = ipv4ToBigInt(tail);
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [left, right] = text.includes("::") ? text.split("::") : [text, undefined];
  const l = left ? left.split(":") : [];
  const r = right ? right.split(":") : [];
  const groups = right === undefined ? l : [...l, ...Array<string>(8 - l.length - r.length).fill("0"), ...r];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || "0", 16)), 0n);
}

/** True when `address` (as a socket reports it) lies in the CIDR. */
export function cidrContains(cidr: Cidr, address: string): boolean {
  let addr = address;
  let family = isIP(addr);
  if (family === 6 && cidr.family === 4 && /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(addr)) {
    addr = addr.slice(7);
    family = 4;
  }
  if (family !== cidr.family) return false;
  const bits = family === 4 ? 32 : 128;
  const value = family === 4 ? ipv4ToBigInt(addr) : ipv6ToBigInt(addr);
  return (value & mask(bits, cidr.prefix)) === cidr.network;
}

/**
 * Whether a connection is impaired: its sticky draw `share` (uniform in [0,1), drawn once at
 * accept) falls under `percent`, and its address is in one of `clients` (when any are given).
 */
export function isTargeted(share: number, address: string, percent: number, clients: readonly Cidr[]): boolean {
  if (share * 100 >= percent) return false;
  if (clients.length === 0) return true;
  return clients.some((c) => cidrContains(c, address));
}
