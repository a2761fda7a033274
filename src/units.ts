// Units as users write them (YAML, CLI, control messages) and as netimpair prints them.
// Canonical units: durations in ms, bandwidth in bits/s (null = unlimited), sizes in bytes,
// probabilities 0..1. Unit words are case-sensitive. Every parser accepts a canonical number too,
// so a resolved spec is valid input again.

/** A value that is not a valid duration, bandwidth, size, probability or percent. */
export class UnitError extends Error {
  override name = "UnitError";
  constructor(
    message: string,
    /** the value that was given */
    readonly value: unknown,
  ) {
    super(message);
  }
}

/** Longest duration accepted: Node's timers hold at most 2^31-1 ms (~24.8 days). */
export const MAX_DURATION_MS = 24 * 24 * 60 * 60 * 1000;

/** Echo a value in an error message: strings quoted, numbers plain, anything else as short JSON. */
export function showValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 80 ? v.slice(0, 77) + "..." : v);
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (v === undefined) return "nothing";
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = Object.prototype.toString.call(v);
  }
  return text.length > 80 ? text.slice(0, 77) + "..." : text;
}

// A decimal number: 12, 1.5, .5, 1e-6 (no sign: negatives are caught separately for a clear message).
const NUMBER = String.raw`(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?`;
const NEGATIVE = new RegExp(String.raw`^\s*-\s*${NUMBER}`);

function splitNumberUnit(text: string): { num: number; unit: string } | undefined {
  const m = new RegExp(String.raw`^\s*(${NUMBER})\s*([A-Za-z/%]*)\s*$`).exec(text);
  if (!m) return undefined;
  return { num: Number(m[1]), unit: m[2] ?? "" };
}

// ---------------------------------------------------------------- durations

const DURATION_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_EXPECTED = "a duration like 250us, 20ms, 1.5s, 2m, 1h (a bare number is ms)";

/** Parses a duration into milliseconds: `250us`, `20ms`, `1.5s`, `2m`, `1h`, or a bare number (ms). */
export function parseDuration(v: unknown): number {
  const ms = parseScaled(v, DURATION_UNITS, DURATION_EXPECTED, "duration");
  if (ms > MAX_DURATION_MS) {
    throw new UnitError(`a duration may be at most 24 days (Node's timers cannot hold more), got ${showValue(v)}`, v);
  }
  return ms;
}

// ---------------------------------------------------------------- bandwidth

const BANDWIDTH_UNITS: Record<string, number> = {
  bps: 1,
  kbps: 1e3,
  Mbps: 1e6,
  Gbps: 1e9,
  "B/s": 8,
  "KB/s": 8e3,
  "MB/s": 8e6,
  "GB/s": 8e9,
  "KiB/s": 8 * 1024,
  "MiB/s": 8 * 1024 ** 2,
  "GiB/s": 8 * 1024 ** 3,
};
const BANDWIDTH_EXPECTED =
  "a bandwidth like 400kbps, 1.5Mbps, 1Gbps, 64KiB/s, 2MB/s or unlimited (a bare number is bits/s)";

/** Parses a bandwidth into bits per second; `unlimited` (or null) gives null. Zero is an error. */
export function parseBandwidth(v: unknown): number | null {
  if (v === null || (typeof v === "string" && v.trim() === "unlimited")) return null;
  const bps = parseScaled(v, BANDWIDTH_UNITS, BANDWIDTH_EXPECTED, "bandwidth");
  if (bps === 0) {
    throw new UnitError(`a bandwidth must be above 0 (write unlimited for no limit), got ${showValue(v)}`, v);
  }
  return bps;
}

// ---------------------------------------------------------------- sizes

const SIZE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
};
const SIZE_EXPECTED = "a size like 64B, 1500, 16KiB, 1MB, 2GiB (a bare number is bytes)";

/** Parses a size into a whole number of bytes: `64B`, `16KiB`, `1MB`, or a bare number (bytes). */
export function parseSize(v: unknown): number {
  const bytes = parseScaled(v, SIZE_UNITS, SIZE_EXPECTED, "size");
  // Products like 1.1 * 1e3 carry float noise; accept what is a whole number up to that noise.
  const whole = Math.round(bytes);
  if (Math.abs(bytes - whole) > 1e-9 * Math.max(1, bytes)) {
    throw new UnitError(`a size must be a whole number of bytes, got ${showValue(v)} (${bytes} bytes)`, v);
  }
  if (!Number.isSafeInteger(whole)) throw new UnitError(`a size is too large, got ${showValue(v)}`, v);
  return whole;
}

// ---------------------------------------------------------------- probabilities and percents

const PROBABILITY_EXPECTED = "a probability like 0.05, 5% or 1e-6 (0 to 1, or 0% to 100%)";

/** Parses a probability into 0..1: `0.05`, `5%`, `1e-6`. */
export function parseProbability(v: unknown): number {
  const parsed = parseNumberOrPercent(v, PROBABILITY_EXPECTED);
  if (parsed.percent) {
    if (parsed.num > 100) throw new UnitError(`expected ${PROBABILITY_EXPECTED}, got ${showValue(v)} (above 100%)`, v);
    return parsed.num / 100;
  }
  if (parsed.num > 1) {
    const hint = parsed.num <= 100 ? ` (did you mean ${parsed.num}%?)` : "";
    throw new UnitError(`expected ${PROBABILITY_EXPECTED}, got ${showValue(v)}: above 1${hint}`, v);
  }
  return parsed.num;
}

const PERCENT_EXPECTED = "a percent from 0 to 100 like 50 or 50%";

/** Parses a percent 0..100 (targeting): `50` or `50%`. */
export function parsePercent(v: unknown): number {
  const parsed = parseNumberOrPercent(v, PERCENT_EXPECTED);
  if (parsed.num > 100) throw new UnitError(`expected ${PERCENT_EXPECTED}, got ${showValue(v)}: above 100`, v);
  return parsed.num;
}

function parseNumberOrPercent(v: unknown, expected: string): { num: number; percent: boolean } {
  if (typeof v === "number") return { num: checkNumber(v, v, expected), percent: false };
  if (typeof v !== "string") throw new UnitError(`expected ${expected}, got ${showValue(v)}`, v);
  if (NEGATIVE.test(v)) throw new UnitError(`expected ${expected}, got ${showValue(v)}: negative`, v);
  const split = splitNumberUnit(v);
  if (!split || (split.unit !== "" && split.unit !== "%")) {
    throw new UnitError(`expected ${expected}, got ${showValue(v)}`, v);
  }
  return { num: checkNumber(split.num, v, expected), percent: split.unit === "%" };
}

// ---------------------------------------------------------------- shared parsing

function checkNumber(n: number, original: unknown, expected: string): number {
  if (Number.isNaN(n)) throw new UnitError(`expected ${expected}, got ${showValue(original)}: not a number`, original);
  if (!Number.isFinite(n)) throw new UnitError(`expected ${expected}, got ${showValue(original)}: not finite`, original);
  if (n < 0) throw new UnitError(`expected ${expected}, got ${showValue(original)}: negative`, original);
  return n;
}

function parseScaled(
  v: unknown,
  units: Record<string, number>,
  expected: string,
  kind: string,
): number {
  if (typeof v === "number") return checkNumber(v, v, expected);
  if (typeof v !== "string") throw new UnitError(`expected ${expected}, got ${showValue(v)}`, v);
  if (NEGATIVE.test(v)) throw new UnitError(`expected ${expected}, got ${showValue(v)}: negative`, v);
  const split = splitNumberUnit(v);
  if (!split) throw new UnitError(`expected ${expected}, got ${showValue(v)}`, v);
  const unit = split.unit;
  const scale = unit === "" ? 1 : Object.hasOwn(units, unit) ? units[unit] : undefined;
  if (scale === undefined) {
    const known = Object.keys(units);
    const sameLetters = known.find((k) => k.toLowerCase() === unit.toLowerCase());
    const hint = sameLetters ? ` (units are case-sensitive: did you mean ${sameLetters}?)` : "";
    throw new UnitError(`expected ${expected}, got ${showValue(v)}: unknown ${kind} unit "${unit}"${hint}`, v);
  }
  return checkNumber(split.num * scale, v, expected);
}

// ---------------------------------------------------------------- printing

/** `x` in `unit` if that is at least 1 and exact to 3 decimals; the printed text then parses back to x. */
function inUnit(x: number, scale: number): string | undefined {
  const v = x / scale;
  if (v < 1) return undefined;
  const rounded = Number(v.toFixed(3));
  if (Math.abs(rounded * scale - x) > 1e-9 * Math.max(1, Math.abs(x))) return undefined;
  return String(rounded);
}

function formatScaled(x: number, units: [string, number][], fallback: [string, number]): string {
  for (const [name, scale] of units) {
    const text = inUnit(x, scale);
    if (text !== undefined) return text + name;
  }
  return String(Number((x / fallback[1]).toFixed(3))) + fallback[0];
}

/** Milliseconds as a short duration: 0.25 -> "250us", 150 -> "150ms", 1500 -> "1.5s", 90000 -> "1.5m". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms === 0) return "0ms";
  return formatScaled(
    ms,
    [
      ["h", 3_600_000],
      ["m", 60_000],
      ["s", 1000],
      ["ms", 1],
      ["us", 0.001],
    ],
    ["ms", 1],
  );
}

/**
 * Time left on a countdown, in whole seconds rounded up, one format at every size so a value
 * redrawn each second keeps its shape: 850 -> "1s", 49000 -> "49s", 289000 -> "4m49s",
 * 300000 -> "5m00s", 3725000 -> "1h02m05s".
 */
export function formatTimeLeft(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  const pad = (n: number): string => String(n).padStart(2, "0");
  if (h > 0) return `${h}h${pad(m)}m${pad(sec)}s`;
  if (m > 0) return `${m}m${pad(sec)}s`;
  return `${sec}s`;
}

/** Bits per second as a short bandwidth: 400000 -> "400kbps", 1.6e6 -> "1.6Mbps", null -> "unlimited". */
export function formatBandwidth(bps: number | null): string {
  if (bps === null) return "unlimited";
  if (!Number.isFinite(bps)) return String(bps);
  if (bps === 0) return "0bps";
  return formatScaled(
    bps,
    [
      ["Gbps", 1e9],
      ["Mbps", 1e6],
      ["kbps", 1e3],
      ["bps", 1],
    ],
    ["bps", 1],
  );
}

/** Bytes as a short size, binary units when exact: 65536 -> "64KiB", 1e6 -> "1MB", 1460 -> "1.46KB". */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  if (bytes === 0) return "0B";
  return formatScaled(
    bytes,
    [
      ["GiB", 1024 ** 3],
      ["GB", 1e9],
      ["MiB", 1024 ** 2],
      ["MB", 1e6],
      ["KiB", 1024],
      ["KB", 1e3],
      ["B", 1],
    ],
    ["B", 1],
  );
}

/** `x` scaled to the SI unit it reaches (1000 apart), at most three significant digits: 5364 -> "5.36k". */
function threeDigits(x: number, units: readonly string[]): string {
  let v = Math.abs(x);
  let i = 0;
  while (v >= 999.5 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  const text = v >= 100 || i === 0 ? String(Math.round(v)) : String(Number(v.toPrecision(3)));
  return `${x < 0 ? "-" : ""}${text}${units[i]}`;
}

/**
 * A measured amount of bytes for people (conns, status, reports): SI units, at most three
 * significant digits: 950 -> "950B", 5364 -> "5.36kB", 10485760 -> "10.5MB". (formatSize is
 * the exact form a spec is printed in.)
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  return threeDigits(bytes, ["B", "kB", "MB", "GB", "TB"]);
}

/**
 * A measured rate in bits a second for people (status, watch, reports): at most three significant
 * digits: 110967 -> "111kbps", 1.2e6 -> "1.2Mbps". (formatBandwidth is the exact form of a spec.)
 */
export function formatBitRate(bitsPerSecond: number): string {
  if (!Number.isFinite(bitsPerSecond)) return String(bitsPerSecond);
  return threeDigits(bitsPerSecond, ["bps", "kbps", "Mbps", "Gbps", "Tbps"]);
}

/** A probability 0..1 as a percent: 0.05 -> "5%", 1e-6 -> "0.0001%". */
export function formatProbability(p: number): string {
  if (!Number.isFinite(p)) return String(p);
  const pct = p * 100;
  const rounded = Number(pct.toPrecision(6));
  return `${rounded}%`;
}
