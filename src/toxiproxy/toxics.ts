// Toxiproxy toxics -> netimpair's one resolved ImpairmentSpec. Each toxic type has attributes
// (Toxiproxy's names and units: ms, KB/s with KB = 1000 bytes, bytes, microseconds for the
// slicer's delay) with defaults; `composeToxics` adds the toxics a connection drew onto the
// proxy's applied profile spec. netimpair's other faults are offered as further toxic types.
import { cleanSpec, DEFAULT_HALF_OPEN_HOLD_MS, DEFAULT_RTO_MS, type DirectionSpec, type ImpairmentSpec, type LimitDirection, type ResetSpec } from "../profiles/types.js";

export type ToxicStream = "upstream" | "downstream";
export const TOXIC_STREAMS: readonly ToxicStream[] = ["upstream", "downstream"];

/** Attribute values are numbers, except the few enumerations (half_open's mode). */
export type ToxicAttributes = Record<string, number | string>;

/** A toxic as the Toxiproxy API shows it. */
export interface ToxicJson {
  name: string;
  type: string;
  stream: ToxicStream;
  toxicity: number;
  attributes: ToxicAttributes;
}

type AttributeKind =
  | { kind: "int"; min: number } // Toxiproxy's int64 fields: whole numbers
  | { kind: "number"; min: number; max?: number }
  | { kind: "enum"; values: readonly string[] };

interface AttributeDef {
  default: number | string;
  type: AttributeKind;
  /** what the unit is, for error messages */
  unit: string;
}

interface ToxicDef {
  attributes: Record<string, AttributeDef>;
  /** cross-field checks after each field passed; returns an error message */
  check?(a: ToxicAttributes): string | null;
  /** adds this toxic to a spec (already a private copy); `dir` is the toxic's stream */
  apply(spec: ImpairmentSpec, dir: DirectionSpec, a: Readonly<Record<string, number | string>>, stream: ToxicStream): void;
}

const MS = "milliseconds";
const int = (min = 0): AttributeKind => ({ kind: "int", min });
/** Node timers cannot wait longer than this (about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;
const ms = (def = 0): AttributeDef => ({ default: def, type: { kind: "int", min: 0 }, unit: MS });

/** The earliest of two resets; a profile's reset that may not fire never hides a toxic's. */
function earlierReset(current: ResetSpec | null, next: ResetSpec): ResetSpec {
  if (current === null || current.probability < 1 || current.after === null) return next;
  return next.after !== null && next.after < current.after ? next : current;
}

function num(a: Readonly<Record<string, number | string>>, key: string): number {
  return a[key] as number;
}

const DEFS: Record<string, ToxicDef> = {
  // ---- Toxiproxy's toxics --------------------------------------------------------------------
  latency: {
    attributes: { latency: ms(), jitter: ms() },
    // Toxiproxy: each chunk waits latency +/- jitter (uniform, clipped at 0). netimpair's uniform
    // jitter J adds [0, 2J], so: delay latency - jitter plus jitter J; when jitter > latency the
    // range is [0, latency + jitter], as Toxiproxy's clipped one.
    apply(_spec, dir, a) {
      const latency = num(a, "latency");
      const jitter = num(a, "jitter");
      if (jitter <= latency) {
        dir.delay += latency - jitter;
        dir.jitter += jitter;
      } else {
        dir.jitter += (latency + jitter) / 2;
      }
    },
  },
  bandwidth: {
    attributes: { rate: { default: 0, type: int(), unit: "KB/s (1 KB = 1000 bytes)" } },
    // rate 0 passes nothing: the direction is held (bytes queue, then the sender is paused, as a
    // full window) until the toxic is removed or updated; Toxiproxy's rate 0 spins forever.
    // Toxiproxy's rate is per connection, so the connection gets a link of its own (share
    // connection), also for the other direction of a profile it is added to.
    apply(spec, dir, a) {
      spec.share = "connection";
      const bps = num(a, "rate") * 8000;
      dir.bandwidth = dir.bandwidth === null ? bps : Math.min(dir.bandwidth, bps);
    },
  },
  slow_close: {
    attributes: { delay: ms() },
    apply(spec, _dir, a) {
      const delay = Math.max(spec.slowClose?.delay ?? 0, num(a, "delay"));
      spec.slowClose = { delay, probability: 1 };
    },
  },
  timeout: {
    attributes: { timeout: ms() },
    // Nothing gets through the stream (held, so nothing is lost if the toxic is removed); after
    // `timeout` ms (0 = never) the connection is reset.
    apply(spec, dir, a) {
      spec.share = "connection"; // one connection's stream is held, not its neighbours'
      dir.bandwidth = 0;
      const timeout = num(a, "timeout");
      if (timeout > 0) spec.reset = earlierReset(spec.reset, { probability: 1, after: timeout, afterBytes: null });
    },
  },
  reset_peer: {
    attributes: { timeout: ms() },
    // A real RST both ways after `timeout` ms, on new connections and on those already open.
    apply(spec, _dir, a) {
      spec.reset = earlierReset(spec.reset, { probability: 1, after: num(a, "timeout"), afterBytes: null });
    },
  },
  slicer: {
    attributes: {
      average_size: { default: 0, type: int(1), unit: "bytes" },
      size_variation: { default: 0, type: int(), unit: "bytes" },
      delay: { default: 0, type: int(), unit: "microseconds" },
    },
    // Pieces that vary around average_size by up to size_variation, cut as Toxiproxy cuts them
    // (link/slicer.ts), with `delay` between them. Any size_variation is accepted, as Toxiproxy
    // does (its clients' own tests send 1000 with average_size 1000); 0 = equal pieces.
    apply(_spec, dir, a) {
      const variation = num(a, "size_variation");
      dir.slice = { size: num(a, "average_size"), delay: num(a, "delay") / 1000, ...(variation > 0 ? { variation } : {}) };
    },
  },
  limit_data: {
    attributes: { bytes: { default: 0, type: int(), unit: "bytes" } },
    // Closes both sides gracefully (FIN) once `bytes` have passed in the toxic's stream.
    apply(spec, _dir, a, stream) {
      const direction: LimitDirection = stream === "upstream" ? "up" : "down";
      const bytes = num(a, "bytes");
      const current = spec.limit;
      if (current === null || current.probability < 1) spec.limit = { bytes, direction, probability: 1 };
      else spec.limit = { bytes: Math.min(current.bytes, bytes), direction: current.direction === direction ? direction : "both", probability: 1 };
    },
  },
  // ---- netimpair's further faults as toxic types ---------------------------------------------
  loss: {
    attributes: {
      probability: { default: 0, type: { kind: "number", min: 0, max: 1 }, unit: "probability 0..1 per segment" },
      rto: ms(DEFAULT_RTO_MS),
    },
    // A lost segment is delivered one rto late, holding what follows (as TCP shows loss).
    apply(_spec, dir, a) {
      dir.loss = 1 - (1 - dir.loss) * (1 - num(a, "probability"));
      dir.rto = num(a, "rto");
    },
  },
  stall: {
    attributes: { every: { default: 0, type: int(1), unit: MS }, duration: ms() },
    check: (a) =>
      (a.duration as number) >= (a.every as number) ? `duration must be shorter than every, got duration ${a.duration} with every ${a.every}` : null,
    // Both directions deliver nothing for `duration` ms every `every` ms (bytes held, not lost).
    apply(spec, _dir, a) {
      spec.stall = { every: num(a, "every"), duration: num(a, "duration"), probability: 1 };
    },
  },
  half_open: {
    attributes: {
      after: ms(),
      mode: { default: "drop", type: { kind: "enum", values: ["drop", "freeze"] }, unit: "drop | freeze" },
      hold: ms(DEFAULT_HALF_OPEN_HOLD_MS),
    },
    // The upstream side is closed and forgotten; the client gets nothing, not even a FIN.
    apply(spec, _dir, a) {
      spec.halfOpen = { probability: 1, after: num(a, "after"), afterBytes: null, mode: a.mode === "freeze" ? "freeze" : "drop", hold: num(a, "hold") };
    },
  },
  corrupt: {
    attributes: { probability: { default: 0, type: { kind: "number", min: 0, max: 1 }, unit: "probability 0..1 per byte" } },
    apply(spec, _dir, a) {
      const p = num(a, "probability");
      spec.corrupt = { probability: 1 - (1 - (spec.corrupt?.probability ?? 0)) * (1 - p) };
    },
  },
  connect: {
    attributes: { delay: ms(), refuse: { default: 0, type: { kind: "number", min: 0, max: 1 }, unit: "share 0..1 of new connections" } },
    // New connections only: the upstream dial waits `delay` ms; a share is reset at once.
    apply(spec, _dir, a) {
      const current = spec.connect ?? { delay: 0, refuse: 0 };
      spec.connect = { delay: current.delay + num(a, "delay"), refuse: 1 - (1 - current.refuse) * (1 - num(a, "refuse")) };
    },
  },
};

/** Toxiproxy's own toxic types, then netimpair's. */
export const TOXIC_TYPES: readonly string[] = Object.keys(DEFS);

export function isToxicType(type: unknown): type is string {
  return typeof type === "string" && Object.hasOwn(DEFS, type);
}

/** The attribute names a type takes, in order. */
export function attributeNames(type: string): string[] {
  return Object.keys(DEFS[type]?.attributes ?? {});
}

function checkValue(name: string, def: AttributeDef, value: unknown): string | null {
  const t = def.type;
  if (t.kind === "enum") {
    return typeof value === "string" && t.values.includes(value) ? null : `attributes.${name} must be one of ${t.values.join(", ")}, got ${JSON.stringify(value)}`;
  }
  if (typeof value !== "number" || !Number.isFinite(value)) return `attributes.${name} must be a number (${def.unit}), got ${JSON.stringify(value)}`;
  if (t.kind === "int" && !Number.isInteger(value)) return `attributes.${name} must be a whole number (${def.unit}), got ${value}`;
  if (value < t.min) return `attributes.${name} must be at least ${t.min} (${def.unit}), got ${value}`;
  if (t.kind === "number" && t.max !== undefined && value > t.max) return `attributes.${name} must be at most ${t.max} (${def.unit}), got ${value}`;
  if (def.unit === MS && value > MAX_TIMER_MS) return `attributes.${name} must be at most ${MAX_TIMER_MS} ms (about 24.8 days), got ${value}`;
  return null;
}

/**
 * Checks a toxic's attributes, filling defaults; `base` (an update) supplies the values a
 * partial body leaves out. Returns the full attributes, or an error message naming the field.
 */
export function parseAttributes(type: string, raw: unknown, base?: ToxicAttributes): ToxicAttributes | string {
  const def = DEFS[type];
  if (!def) return `invalid toxic type: ${JSON.stringify(type)} (known: ${TOXIC_TYPES.join(", ")})`;
  if (raw !== undefined && raw !== null && (typeof raw !== "object" || Array.isArray(raw))) return `attributes must be an object, got ${JSON.stringify(raw)}`;
  const known = Object.keys(def.attributes);
  // names match case-insensitively, as Go's decoder (Toxiproxy's) matches them
  const given: Record<string, unknown> = {};
  for (const [key, value] of Object.entries((raw ?? {}) as Record<string, unknown>)) {
    const name = known.find((k) => k === key) ?? known.find((k) => k.toLowerCase() === key.toLowerCase());
    if (name === undefined) return `unknown attribute ${JSON.stringify(key)} for toxic type ${type} (known: ${known.join(", ") || "none"})`;
    if (Object.hasOwn(given, name)) return `attribute ${JSON.stringify(name)} given twice for toxic type ${type}`;
    given[name] = value;
  }
  const out: ToxicAttributes = {};
  for (const [name, attr] of Object.entries(def.attributes)) {
    const value = Object.hasOwn(given, name) ? given[name] : (base?.[name] ?? attr.default);
    const problem = checkValue(name, attr, value);
    if (problem) return problem;
    out[name] = value as number | string;
  }
  return def.check?.(out) ?? out;
}

/** Adds one toxic to `spec` (mutated: pass a private copy). */
export function applyToxic(spec: ImpairmentSpec, toxic: Pick<ToxicJson, "type" | "stream" | "attributes">): void {
  const def = DEFS[toxic.type];
  if (!def) return;
  const dir = toxic.stream === "upstream" ? spec.up : spec.down;
  def.apply(spec, dir, toxic.attributes, toxic.stream);
}

/** The spec of a connection: `base` (the applied profile, or null) with these toxics added in order. */
export function composeToxics(base: ImpairmentSpec | null, toxics: readonly Pick<ToxicJson, "type" | "stream" | "attributes">[]): ImpairmentSpec | null {
  if (toxics.length === 0) return base;
  const spec = structuredClone(base ?? cleanSpec());
  for (const t of toxics) applyToxic(spec, t);
  return spec;
}
