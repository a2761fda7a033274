// Reading and checking flag values; every bad value becomes a UsageError naming the flag and the value.
import { parseDuration } from "../units.js";
import type { SetOverrides } from "../control/protocol.js";
import { parseHostPort } from "../relay/address.js";
import { parseCidr } from "../relay/targeting.js";
import { UsageError } from "./output.js";
import type { FieldLabeller } from "./fleet.js";

/** commander's collector for repeatable flags. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** A duration flag (`--for 30s`, `--timeout 10s`) in ms; must be > 0 unless allowZero. */
export function durationFlag(flag: string, value: string, allowZero = false): number {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (err) {
    throw new UsageError(`${flag} ${JSON.stringify(value)}: ${(err as Error).message}`);
  }
  if (!allowZero && ms <= 0) throw new UsageError(`${flag} ${JSON.stringify(value)}: must be more than 0`);
  return ms;
}

/** `--percent N`: a number 0-100 (a trailing % is allowed). */
export function percentFlag(flag: string, value: string): number {
  const text = value.trim().replace(/%$/, "");
  const n = /^(\d+(\.\d*)?|\.\d+)$/.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(n) || n < 0 || n > 100) throw new UsageError(`${flag} ${JSON.stringify(value)}: expected a number 0-100`);
  return n;
}

/** A positive integer flag, e.g. --count, --concurrency. */
export function positiveIntFlag(flag: string, value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1) throw new UsageError(`${flag} ${JSON.stringify(value)}: expected a whole number of at least 1`);
  return Number(value);
}

/** `--client CIDR` (a bare address is a /32 or /128). */
export function cidrFlag(flag: string, value: string): string {
  const parsed = parseCidr(value);
  if (typeof parsed === "string") throw new UsageError(`${flag} ${JSON.stringify(value)}: ${parsed}`);
  return value;
}

/** `--listen` / `--upstream` HOST:PORT. */
export function hostPortFlag(flag: string, value: string): string {
  const parsed = parseHostPort(value);
  if (typeof parsed === "string") throw new UsageError(`${flag} ${JSON.stringify(value)}: ${parsed}`);
  return value;
}

/** down.delay, or one field of a profile's request rule: requests[0].match.name */
const SET_PATH = /^(?:[A-Za-z][A-Za-z0-9]*|requests\[\d+\])(\.[A-Za-z][A-Za-z0-9]*)*$/;

/** A --set value as sent: numbers, true/false/null as such, anything else a string the agent parses. */
function setValue(text: string): string | number | boolean | null {
  if (text === "true") return true;
  if (text === "false") return false;
  if (text === "null") return null;
  if (/^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text)) return Number(text);
  return text;
}

/** `--set PATH=VALUE`... into overrides; bad syntax is a usage error (the agent checks the values). */
export function setFlags(values: string[]): SetOverrides | undefined {
  if (values.length === 0) return undefined;
  const out: SetOverrides = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq < 0) throw new UsageError(`--set ${JSON.stringify(v)}: expected PATH=VALUE, e.g. down.delay=200ms`);
    const path = v.slice(0, eq).trim();
    const value = v.slice(eq + 1).trim();
    if (!SET_PATH.test(path)) throw new UsageError(`--set ${JSON.stringify(v)}: ${JSON.stringify(path)} is not a field path (expected e.g. down.delay or requests[0].match.name)`);
    if (value === "") throw new UsageError(`--set ${JSON.stringify(v)}: missing value after "="`);
    out[path] = setValue(value);
  }
  return out;
}

/** `--proxy NAME...` or `--all` (exactly one of them unless `optional`): the proxy names to act on, "*" for all. */
export function proxySelection(proxy: string[] | undefined, all: boolean | undefined, optional = false): string[] {
  const names = (proxy ?? []).flatMap((p) => p.split(",")).map((p) => p.trim()).filter((p) => p !== "");
  if (all && names.length > 0) throw new UsageError(`--proxy ${names.join(",")} and --all: give one or the other`);
  if (all) return ["*"];
  if (names.length === 0) {
    if (optional) return ["*"];
    throw new UsageError("missing --proxy NAME (or --all)");
  }
  return [...new Set(names)];
}

/**
 * Names request fields by the flags that set them, for agent refusals: {listen: "--listen"}
 * turns `params.listen` into `--listen`. Fields of a sub-object keep their path after the flag
 * (`params.set.down.delay` with {set: "--set"} is `--set down.delay`).
 */
export function paramLabels(flags: Record<string, string>): FieldLabeller {
  return (path) => {
    const m = /^params\.([A-Za-z]+)(?:\[\d+\])?(?:\.(.+))?$/.exec(path);
    const flag = m ? flags[m[1]!] : undefined;
    if (flag === undefined) return undefined;
    return m![2] !== undefined ? `${flag} ${m![2]}` : flag;
  };
}
