// Validation of a raw profile (parsed YAML or JSON, an inline `spec`, or `set` overrides) into a
// partial spec (a patch), with one FieldError per bad field. Patches are merged by resolve.ts.
// Both the YAML form (unit strings, `lossModel`) and the canonical form of a resolved
// ImpairmentSpec (numbers, `gilbertElliott`, nulls) are accepted, so a resolved spec round-trips.
import type { FieldError } from "../field-error.js";
import {
  parseBandwidth,
  parseDuration,
  parseProbability,
  parseSize,
  showValue,
  UnitError,
} from "../units.js";
import type {
  ConnectSpec,
  CorruptSpec,
  GilbertElliottLoss,
  HalfOpenSpec,
  JitterDistribution,
  LimitSpec,
  QueueDiscipline,
  ResetSpec,
  ShareScope,
  SliceSpec,
  SlowCloseSpec,
  StallSpec,
} from "./types.js";
import { QUEUE_DISCIPLINES, SHARE_SCOPES } from "./types.js";
import { parseRequestRules, type RequestRule } from "../requests/rule.js";

/** One direction's fields as given (absent = inherit). */
export interface DirectionPatch {
  bandwidth?: number | null;
  delay?: number;
  jitter?: number;
  jitterDistribution?: JitterDistribution;
  loss?: number;
  /** null = Bernoulli loss (no burst model) */
  gilbertElliott?: Partial<GilbertElliottLoss> | null;
  /** udp only: probability per datagram of a second copy */
  duplicate?: number;
  rto?: number;
  slice?: Partial<SliceSpec> | null;
  mtu?: number;
}

/** A layer of a spec: fields absent inherit, a fault set to null is removed. */
export interface SpecPatch {
  share?: ShareScope;
  queue?: QueueDiscipline;
  /** round trip, ms: each direction gets rtt/2 unless the same layer sets its delay */
  rtt?: number;
  up?: DirectionPatch;
  down?: DirectionPatch;
  stall?: Partial<StallSpec> | null;
  reset?: Partial<ResetSpec> | null;
  halfOpen?: Partial<HalfOpenSpec> | null;
  connect?: Partial<ConnectSpec> | null;
  limit?: Partial<LimitSpec> | null;
  slowClose?: Partial<SlowCloseSpec> | null;
  corrupt?: Partial<CorruptSpec> | null;
  /** request rules; replaces the list of the layers below */
  requests?: RequestRule[];
}

/** A validated, unresolved profile. */
export interface ProfileDraft {
  name?: string;
  description?: string;
  source?: string;
  extends?: string;
  spec: SpecPatch;
}

export const PROFILE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const JITTER_DISTRIBUTIONS: readonly JitterDistribution[] = ["uniform", "normal", "pareto"];
export const HALF_OPEN_MODES = ["drop", "freeze"] as const;
export const LIMIT_DIRECTIONS = ["up", "down", "both"] as const;
export const LOSS_MODEL_TYPES = ["gilbert-elliott", "bernoulli"] as const;

// ---------------------------------------------------------------- the schema as data

/** Parses one value or throws (UnitError or FieldValueError) with a message naming it. */
type LeafParser = (v: unknown) => unknown;

interface LeafField {
  kind: "leaf";
  parse: LeafParser;
}
interface ObjectField {
  kind: "object";
  fields: Record<string, Field>;
  /** null (or "off"/"none") removes it */
  nullable: boolean;
  what: string;
}
type Field = LeafField | ObjectField;

class FieldValueError extends Error {}

const leaf = (parse: LeafParser): LeafField => ({ kind: "leaf", parse });
const object = (what: string, fields: Record<string, Field>, nullable = true): ObjectField => ({
  kind: "object",
  fields,
  nullable,
  what,
});

const duration = leaf(parseDuration);
const positiveDuration = leaf((v) => {
  const ms = parseDuration(v);
  if (ms <= 0) throw new FieldValueError(`expected a duration above 0, got ${showValue(v)}`);
  return ms;
});
const durationOrNull = leaf((v) => (v === null ? null : parseDuration(v)));
const sizeOrNull = leaf((v) => (v === null ? null : parseSize(v)));
const size = leaf(parseSize);
const probability = leaf(parseProbability);
const bandwidth = leaf(parseBandwidth);
const text = leaf((v) => {
  if (typeof v !== "string") throw new FieldValueError(`expected text, got ${showValue(v)}`);
  return v;
});
const profileName = leaf((v) => {
  if (typeof v !== "string" || !PROFILE_NAME_PATTERN.test(v)) {
    throw new FieldValueError(
      `expected a profile name (letters, digits, . _ -, at most 64, starting with a letter or digit), got ${showValue(v)}`,
    );
  }
  return v;
});
function oneOf<T extends string>(choices: readonly T[]): LeafField {
  return leaf((v) => {
    if (typeof v !== "string" || !(choices as readonly string[]).includes(v)) {
      throw new FieldValueError(`expected one of ${choices.join(" | ")}, got ${showValue(v)}`);
    }
    return v;
  });
}
const mtu = leaf((v) => {
  const bytes = parseSize(v);
  if (bytes < 64 || bytes > 65535) throw new FieldValueError(`expected an mtu from 64 to 65535 bytes, got ${showValue(v)}`);
  return bytes;
});
const sliceVariation = leaf((v) => parseSize(v));
const sliceSize = leaf((v) => {
  const bytes = parseSize(v);
  if (bytes < 1) throw new FieldValueError(`expected a slice size of at least 1 byte, got ${showValue(v)}`);
  return bytes;
});

const gilbertElliottFields: Record<string, Field> = {
  pGoodToBad: probability,
  pBadToGood: probability,
  lossInBad: probability,
  lossInGood: probability,
};

const directionSchema = object(
  "a direction",
  {
    bandwidth,
    delay: duration,
    jitter: duration,
    jitterDistribution: oneOf(JITTER_DISTRIBUTIONS),
    loss: probability,
    lossModel: object("a loss model", { type: oneOf(LOSS_MODEL_TYPES), ...gilbertElliottFields }),
    gilbertElliott: object("Gilbert-Elliott loss", gilbertElliottFields),
    rto: duration,
    slice: object("a slice", { size: sliceSize, delay: duration, variation: sliceVariation }),
    mtu,
    duplicate: probability,
  },
  false,
);

const specFields: Record<string, Field> = {
  share: oneOf(SHARE_SCOPES),
  queue: oneOf(QUEUE_DISCIPLINES),
  rtt: duration,
  up: directionSchema,
  down: directionSchema,
  stall: object("a stall", { every: positiveDuration, duration: positiveDuration, probability }),
  reset: object("a reset", { probability, after: durationOrNull, afterBytes: sizeOrNull }),
  halfOpen: object("a half-open", {
    probability,
    after: durationOrNull,
    afterBytes: sizeOrNull,
    mode: oneOf(HALF_OPEN_MODES),
    hold: duration,
  }),
  connect: object("a connect fault", { delay: duration, refuse: probability }),
  limit: object("a limit", { bytes: size, direction: oneOf(LIMIT_DIRECTIONS), probability }),
  slowClose: object("a slow close", { delay: duration, probability }),
  corrupt: object("corruption", { probability }),
};

const metaFields: Record<string, Field> = {
  name: profileName,
  description: text,
  source: text,
  extends: profileName,
};

const profileSchema = object("a profile", { ...metaFields, ...specFields }, false);
const overridesSchema = object("overrides", specFields, false);

// ---------------------------------------------------------------- the walk

function join(prefix: string, key: string): string {
  return prefix === "" ? key : `${prefix}.${key}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `a list ${showValue(v)}`;
  return showValue(v);
}

/** Edit distance counting a swap of neighbours as one edit (optimal string alignment), for "did you mean". */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known name closest to `key`, if it is close enough to be a likely typo. */
export function suggest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === lower ? 0 : editDistance(lower, k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  const allowed = key.length <= 4 ? 1 : key.length <= 8 ? 2 : 3;
  return best !== undefined && bestDistance <= allowed ? best : undefined;
}

function unknownField(path: string, key: string, known: readonly string[]): FieldError {
  const close = suggest(key, known);
  const hint = close ? ` (did you mean ${close}?)` : ` (known fields: ${known.join(", ")})`;
  return { path, message: `unknown field ${JSON.stringify(key)}${hint}` };
}

function errorMessage(err: unknown): string {
  if (err instanceof UnitError || err instanceof FieldValueError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** `alsoKnown`: fields checked elsewhere (the root's requests), named in an unknown field's hint. */
function walkObject(raw: unknown, schema: ObjectField, path: string, errors: FieldError[], alsoKnown: readonly string[] = []): Record<string, unknown> | null | undefined {
  if (raw === null || raw === "off" || raw === "none") {
    if (schema.nullable) return null;
    errors.push({ path: path || "(root)", message: `expected ${schema.what} (a mapping of fields), got ${describe(raw)}` });
    return undefined;
  }
  if (!isPlainObject(raw)) {
    const alt = schema.nullable ? ", or null to turn it off" : "";
    errors.push({ path: path || "(root)", message: `expected ${schema.what} (a mapping of fields${alt}), got ${describe(raw)}` });
    return undefined;
  }
  const out: Record<string, unknown> = {};
  const known = [...Object.keys(schema.fields), ...alsoKnown];
  for (const key of Object.keys(raw)) {
    const fieldPath = join(path, key);
    if (!Object.hasOwn(schema.fields, key)) {
      errors.push(unknownField(fieldPath, key, known));
      continue;
    }
    const field = schema.fields[key]!;
    const value = raw[key];
    if (field.kind === "object") {
      const parsed = walkObject(value, field, fieldPath, errors);
      if (parsed !== undefined) out[key] = parsed;
    } else {
      try {
        out[key] = field.parse(value);
      } catch (err) {
        errors.push({ path: fieldPath, message: errorMessage(err) });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- from walked objects to typed patches

function toDirectionPatch(o: Record<string, unknown>, path: string, errors: FieldError[]): DirectionPatch {
  const { lossModel, gilbertElliott, ...rest } = o;
  const patch = rest as DirectionPatch;
  if (lossModel !== undefined && gilbertElliott !== undefined) {
    errors.push({ path: join(path, "lossModel"), message: "give either lossModel or gilbertElliott, not both" });
  } else if (lossModel === null) {
    patch.gilbertElliott = null;
  } else if (isPlainObject(lossModel)) {
    const { type, ...model } = lossModel;
    if (type === "bernoulli") {
      const extra = Object.keys(model);
      if (extra.length > 0) {
        errors.push({
          path: join(path, `lossModel.${extra[0]}`),
          message: `a bernoulli loss model takes no ${extra[0]} (it uses ${path}.loss); use type: gilbert-elliott`,
        });
      }
      patch.gilbertElliott = null;
    } else {
      patch.gilbertElliott = model as Partial<GilbertElliottLoss>;
      // a burst model alone decides which segments are lost: a loss beside it would do nothing
      if (rest.loss !== undefined) {
        errors.push({
          path: join(path, "loss"),
          message: `${join(path.split(".").pop() ?? "", "lossModel")} is set too, and only it would act (loss is ignored under a gilbert-elliott model); drop one of them (lossModel: {type: bernoulli} uses loss)`,
        });
      }
    }
  } else if (gilbertElliott !== undefined) {
    patch.gilbertElliott = gilbertElliott as Partial<GilbertElliottLoss> | null;
  }
  return patch;
}

function toSpecPatch(o: Record<string, unknown>, path: string, errors: FieldError[]): SpecPatch {
  const patch: SpecPatch = {};
  const { up, down, ...rest } = o;
  Object.assign(patch, rest);
  if (isPlainObject(up)) patch.up = toDirectionPatch(up, join(path, "up"), errors);
  if (isPlainObject(down)) patch.down = toDirectionPatch(down, join(path, "down"), errors);
  checkPatch(patch, path, errors);
  return patch;
}

/** Checks between fields of one layer (the resolved spec is checked again after merging). */
function checkPatch(patch: SpecPatch, path: string, errors: FieldError[]): void {
  const stall = patch.stall;
  if (stall && stall.every !== undefined && stall.duration !== undefined && stall.duration >= stall.every) {
    errors.push({
      path: join(path, "stall.duration"),
      message: `a stall's duration (${stall.duration} ms) must be shorter than its period every (${stall.every} ms)`,
    });
  }
}

// ---------------------------------------------------------------- public

/**
 * Validates a raw profile object. `prefix` is put before every error path (e.g. "spec").
 * With `allowMeta: false` only spec fields are accepted (no name, description, source, extends).
 */
export function validateProfile(
  raw: unknown,
  options: { prefix?: string; allowMeta?: boolean } = {},
): { draft: ProfileDraft; errors: FieldError[] } {
  const prefix = options.prefix ?? "";
  const errors: FieldError[] = [];
  const schema = options.allowMeta === false ? overridesSchema : profileSchema;
  // `requests` is a list of rules with its own checks (requests/rule.ts)
  let requests: RequestRule[] | undefined;
  let rest = raw;
  if (isPlainObject(raw) && Object.hasOwn(raw, "requests")) {
    const { requests: list, ...others } = raw;
    requests = parseRequestRules(list, join(prefix, "requests"), errors);
    rest = others;
  }
  const walked = walkObject(rest, schema, prefix, errors, ["requests"]) ?? {};
  const { name, description, source, extends: base, ...specPart } = walked;
  const draft: ProfileDraft = { spec: toSpecPatch(specPart, prefix, errors) };
  if (requests !== undefined) draft.spec.requests = requests;
  if (typeof name === "string") draft.name = name;
  if (typeof description === "string") draft.description = description;
  if (typeof source === "string") draft.source = source;
  if (typeof base === "string") draft.extends = base;
  return { draft, errors };
}

/**
 * Validates `set` overrides: `{"down.delay": "300ms", "reset.after": "2s", "rtt": "100ms"}`.
 * Errors name the path under `prefix` (default "set"), e.g. `set.down.delay`.
 */
/** A `set` of one field of one request rule: `requests[0].match.name=*.x.test`. */
export interface RuleEdit {
  index: number;
  /** the field path inside the rule, e.g. ["match", "name"] */
  path: string[];
  value: unknown;
  /** the key as given, for errors */
  key: string;
}

const RULE_EDIT = /^requests(?:\[(\d+)\]|\.(\d+))\.(.+)$/;

export function parseSetOverrides(set: unknown, prefix = "set"): { patch: SpecPatch; errors: FieldError[]; ruleEdits?: RuleEdit[] } {
  const ruleEdits: RuleEdit[] = [];
  if (set === undefined || set === null) return { patch: {}, errors: [] };
  if (!isPlainObject(set)) {
    return { patch: {}, errors: [{ path: prefix, message: `expected overrides like {"down.delay": "300ms"}, got ${describe(set)}` }] };
  }
  const errors: FieldError[] = [];
  // one field of a request rule the profile has (a profile's match made to fit: dns-nxdomain-for)
  const given = set;
  // no prototype: a key "__proto__" stays a key (and is refused below as an unknown field)
  const plain: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    const m = RULE_EDIT.exec(key);
    if (m === null) {
      plain[key] = given[key];
      continue;
    }
    const path = m[3]!.split(".");
    if (path.some((p) => p === "")) errors.push({ path: join(prefix, key), message: `expected a rule field like requests[0].match.name, got ${JSON.stringify(key)}` });
    else ruleEdits.push({ index: Number(m[1] ?? m[2]), path, value: given[key], key });
  }
  set = plain;
  if (!isPlainObject(set)) return { patch: {}, errors };
  const nested: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const setAt: Record<string, string> = Object.create(null) as Record<string, string>;
  const accepted: string[] = [];
  for (const key of Object.keys(set)) {
    const parts = key.split(".");
    if (parts.some((p) => p === "")) {
      errors.push({ path: join(prefix, key), message: `expected a dotted field path like down.delay, got ${JSON.stringify(key)}` });
      continue;
    }
    let node = nested;
    let conflict: string | undefined;
    for (let i = 0; i < parts.length - 1; i++) {
      const part = parts[i]!;
      const existing = node[part];
      if (existing === undefined) {
        const child = Object.create(null) as Record<string, unknown>;
        node[part] = child;
        setAt[parts.slice(0, i + 1).join(".")] = "";
        node = child;
      } else if (isPlainObject(existing) && setAt[parts.slice(0, i + 1).join(".")] === "") {
        node = existing;
      } else {
        conflict = parts.slice(0, i + 1).join(".");
        break;
      }
    }
    const last = parts[parts.length - 1]!;
    if (conflict === undefined && node[last] !== undefined) conflict = key;
    if (conflict !== undefined) {
      const other = accepted.find((k) => k === key || k.startsWith(key + ".") || key.startsWith(k + ".")) ?? conflict;
      errors.push({ path: join(prefix, key), message: `conflicts with ${join(prefix, other)}: set one or the other` });
      continue;
    }
    node[last] = set[key];
    setAt[key] = key;
    accepted.push(key);
  }
  const { draft, errors: fieldErrors } = validateProfile(nested, { prefix, allowMeta: false });
  return { patch: draft.spec, errors: [...errors, ...fieldErrors], ...(ruleEdits.length > 0 ? { ruleEdits } : {}) };
}
