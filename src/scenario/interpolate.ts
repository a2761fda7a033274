// Ramps: the link between two resolved specs at a fraction of the way (0 = from, 1 = to).
//
// Numbers are interpolated linearly (bandwidth, delay, jitter, loss, rto, mtu, slice, and every
// fault's numbers). A bandwidth ramp between a number and `unlimited` interpolates the time per
// bit instead (unlimited = 0 s per bit), so it is continuous. A fault present on one side only is
// ramped from the same fault with probability 0 (connect: refuse 0 and delay 0). Fields that are
// not numbers (share, queue, jitter distribution, half-open mode, a trigger given on one side
// only) switch from `from` to `to` half way.
import type {
  DirectionSpec,
  GilbertElliottLoss,
  ImpairmentSpec,
  SliceSpec,
} from "../profiles/types.js";

type Faults = Omit<ImpairmentSpec, "up" | "down" | "share" | "queue">;
type FaultName = keyof Faults;

/** Fields that are whole numbers (rounded after interpolation). */
const WHOLE = new Set(["mtu", "size", "bytes", "afterBytes"]);

function lerp(a: number, b: number, f: number): number {
  return a + (b - a) * f;
}

function pick<T>(a: T, b: T, f: number): T {
  return f < 0.5 ? a : b;
}

/** Linear in seconds per bit, so `unlimited` (0 s/bit) joins a number without a jump. */
export function interpolateBandwidth(a: number | null, b: number | null, f: number): number | null {
  if (a !== null && b !== null) return lerp(a, b, f);
  if (a === null && b === null) return null;
  const perBit = lerp(a === null ? 0 : 1 / a, b === null ? 0 : 1 / b, f);
  return perBit <= 0 ? null : 1 / perBit;
}

/** Interpolates two flat records field by field (numbers lerped, anything else switched half way). */
function interpolateRecord<T extends object>(a: T, b: T, f: number): T {
  const out: Record<string, unknown> = {};
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const key of Object.keys(rb)) {
    const x = ra[key];
    const y = rb[key];
    if (typeof x === "number" && typeof y === "number") {
      const v = lerp(x, y, f);
      out[key] = WHOLE.has(key) ? Math.round(v) : v;
    } else {
      out[key] = pick(x, y, f);
    }
  }
  return out as T;
}

function interpolateSlice(a: SliceSpec | null, b: SliceSpec | null, f: number): SliceSpec | null {
  if (a === null && b === null) return null;
  const x = a ?? { size: b!.size, delay: 0 };
  const y = b ?? { size: a!.size, delay: 0 };
  return interpolateRecord(x, y, f);
}

function interpolateLossModel(a: GilbertElliottLoss | null, b: GilbertElliottLoss | null, f: number): GilbertElliottLoss | null {
  if (a !== null && b !== null) return interpolateRecord(a, b, f);
  return pick(a, b, f);
}

export function interpolateDirection(a: DirectionSpec, b: DirectionSpec, f: number): DirectionSpec {
  return {
    bandwidth: interpolateBandwidth(a.bandwidth, b.bandwidth, f),
    delay: lerp(a.delay, b.delay, f),
    jitter: lerp(a.jitter, b.jitter, f),
    jitterDistribution: pick(a.jitterDistribution, b.jitterDistribution, f),
    loss: lerp(a.loss, b.loss, f),
    gilbertElliott: interpolateLossModel(a.gilbertElliott, b.gilbertElliott, f),
    rto: lerp(a.rto, b.rto, f),
    slice: interpolateSlice(a.slice, b.slice, f),
    mtu: Math.round(lerp(a.mtu, b.mtu, f)),
  };
}

/** The same fault with nothing happening: probability (or refuse and delay) 0. */
function zeroed<K extends FaultName>(name: K, fault: NonNullable<Faults[K]>): NonNullable<Faults[K]> {
  if (name === "connect") return { ...fault, refuse: 0, delay: 0 };
  return { ...fault, probability: 0 };
}

function interpolateFault<K extends FaultName>(name: K, a: Faults[K], b: Faults[K], f: number): Faults[K] {
  if (a === null && b === null) return null as Faults[K];
  const x = (a ?? zeroed(name, b!)) as object;
  const y = (b ?? zeroed(name, a!)) as object;
  return interpolateRecord(x, y, f) as Faults[K];
}

const FAULTS: readonly FaultName[] = ["stall", "reset", "halfOpen", "connect", "limit", "slowClose", "corrupt"];

/** The spec `fraction` of the way from `from` to `to` (clamped to 0..1; the ends are exact copies). */
export function interpolateSpec(from: ImpairmentSpec, to: ImpairmentSpec, fraction: number): ImpairmentSpec {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  if (f === 0) return structuredClone(from);
  if (f === 1) return structuredClone(to);
  const out = {
    share: pick(from.share, to.share, f),
    queue: pick(from.queue, to.queue, f),
    up: interpolateDirection(from.up, to.up, f),
    down: interpolateDirection(from.down, to.down, f),
  } as ImpairmentSpec;
  for (const name of FAULTS) {
    (out as unknown as Record<FaultName, unknown>)[name] = interpolateFault(name, from[name], to[name], f);
  }
  return out;
}
