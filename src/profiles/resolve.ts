// Resolution: profile (after `extends`, recursively) <- inline `spec` <- `set`, into one
// complete ImpairmentSpec. Layers are applied in that order onto `clean`; within one layer `rtt`
// sets both directions' delay to rtt/2 and a direction's own `delay` in the same layer wins,
// so a later layer's `rtt` (e.g. `set rtt=100ms`) overrides both directions.
import type { FieldError } from "../field-error.js";
import { formatDuration } from "../units.js";
import { parseSetOverrides, suggest, validateProfile, type DirectionPatch, type ProfileDraft, type RuleEdit, type SpecPatch } from "./schema.js";
import { parseRequestRules, type RequestRule } from "../requests/rule.js";
import {
  cleanSpec,
  DEFAULT_HALF_OPEN_HOLD_MS,
  type DirectionSpec,
  type GilbertElliottLoss,
  type ImpairmentSpec,
  type ResolvedProfile,
  type SliceSpec,
} from "./types.js";

/** A spec mid-merge: optional parts may still lack fields (filled or reported by finalizeSpec). */
interface LooseDirection extends Omit<DirectionSpec, "slice" | "gilbertElliott"> {
  slice: Partial<SliceSpec> | null;
  gilbertElliott: Partial<GilbertElliottLoss> | null;
}
type Faults = Omit<ImpairmentSpec, "up" | "down" | "share" | "queue" | "requests">;
type FaultName = keyof Faults;
type LooseFaults = { [K in FaultName]: Partial<NonNullable<Faults[K]>> | null };
interface LooseSpec extends LooseFaults, Pick<ImpairmentSpec, "share" | "queue"> {
  up: LooseDirection;
  down: LooseDirection;
  requests: ImpairmentSpec["requests"];
}

const FAULT_NAMES: readonly FaultName[] = ["stall", "reset", "halfOpen", "connect", "limit", "slowClose", "corrupt"];

function mergePart<T extends object>(base: Partial<T> | null, patch: Partial<T> | null | undefined): Partial<T> | null {
  if (patch === undefined) return base;
  if (patch === null) return null;
  return { ...(base ?? {}), ...patch };
}

function applyDirection(base: LooseDirection, patch: DirectionPatch | undefined, rttHalf: number | undefined): LooseDirection {
  const next: LooseDirection = { ...base };
  if (rttHalf !== undefined) next.delay = rttHalf;
  if (!patch) return next;
  const { slice, gilbertElliott, ...plain } = patch;
  Object.assign(next, plain);
  next.slice = mergePart(base.slice, slice);
  next.gilbertElliott = mergePart(base.gilbertElliott, gilbertElliott);
  return next;
}

/** Applies one layer onto a spec under construction. */
function applyPatch(base: LooseSpec, patch: SpecPatch): LooseSpec {
  const rttHalf = patch.rtt === undefined ? undefined : patch.rtt / 2;
  const next: LooseSpec = {
    ...base,
    up: applyDirection(base.up, patch.up, rttHalf),
    down: applyDirection(base.down, patch.down, rttHalf),
  };
  if (patch.share !== undefined) next.share = patch.share;
  if (patch.queue !== undefined) next.queue = patch.queue;
  next.stall = mergePart(base.stall, patch.stall);
  next.reset = mergePart(base.reset, patch.reset);
  next.halfOpen = mergePart(base.halfOpen, patch.halfOpen);
  next.connect = mergePart(base.connect, patch.connect);
  next.limit = mergePart(base.limit, patch.limit);
  next.slowClose = mergePart(base.slowClose, patch.slowClose);
  next.corrupt = mergePart(base.corrupt, patch.corrupt);
  // a layer's requests replace the list below it (a list does not merge item by item)
  if (patch.requests !== undefined) next.requests = patch.requests;
  return next;
}

function required<T>(value: T | undefined, path: string, what: string, errors: FieldError[]): T | undefined {
  if (value === undefined) errors.push({ path, message: `${what} is required` });
  return value;
}

function finalizeDirection(d: LooseDirection, path: string, errors: FieldError[]): DirectionSpec {
  let slice: SliceSpec | null = null;
  if (d.slice) {
    const size = required(d.slice.size, `${path}.slice.size`, "a slice's size (bytes per piece)", errors);
    slice = { size: size ?? 1, delay: d.slice.delay ?? 0, ...(d.slice.variation ? { variation: d.slice.variation } : {}) };
  }
  let ge: GilbertElliottLoss | null = null;
  if (d.gilbertElliott) {
    const g = d.gilbertElliott;
    const toBad = required(g.pGoodToBad, `${path}.lossModel.pGoodToBad`, "a Gilbert-Elliott model's pGoodToBad", errors);
    const toGood = required(g.pBadToGood, `${path}.lossModel.pBadToGood`, "a Gilbert-Elliott model's pBadToGood", errors);
    ge = { pGoodToBad: toBad ?? 0, pBadToGood: toGood ?? 0, lossInBad: g.lossInBad ?? 1, lossInGood: g.lossInGood ?? 0 };
  }
  const { duplicate, ...rest } = d;
  // duplicate is absent unless set (a spec without it reads as it did before udp proxies)
  return { ...rest, slice, gilbertElliott: ge, ...(duplicate ? { duplicate } : {}) };
}

/** Fills the defaults of a merged spec and reports what is still missing or contradictory. */
function finalizeSpec(s: LooseSpec, errors: FieldError[]): ImpairmentSpec {
  const spec: ImpairmentSpec = {
    ...cleanSpec(),
    share: s.share,
    queue: s.queue,
    up: finalizeDirection(s.up, "up", errors),
    down: finalizeDirection(s.down, "down", errors),
    requests: s.requests,
  };
  if (s.stall) {
    const every = required(s.stall.every, "stall.every", "a stall's period (every)", errors);
    const duration = required(s.stall.duration, "stall.duration", "a stall's duration", errors);
    if (every !== undefined && duration !== undefined && duration >= every) {
      errors.push({
        path: "stall.duration",
        message: `a stall's duration (${formatDuration(duration)}) must be shorter than its period every (${formatDuration(every)})`,
      });
    }
    spec.stall = { every: every ?? 0, duration: duration ?? 0, probability: s.stall.probability ?? 1 };
  }
  if (s.reset) {
    spec.reset = { probability: s.reset.probability ?? 1, after: s.reset.after ?? null, afterBytes: s.reset.afterBytes ?? null };
  }
  if (s.halfOpen) {
    const h = s.halfOpen;
    spec.halfOpen = {
      probability: h.probability ?? 1,
      after: h.after ?? null,
      afterBytes: h.afterBytes ?? null,
      mode: h.mode ?? "drop",
      hold: h.hold ?? DEFAULT_HALF_OPEN_HOLD_MS,
    };
  }
  if (s.connect) spec.connect = { delay: s.connect.delay ?? 0, refuse: s.connect.refuse ?? 0 };
  if (s.limit) {
    const bytes = required(s.limit.bytes, "limit.bytes", "a limit's bytes", errors);
    spec.limit = { bytes: bytes ?? 0, direction: s.limit.direction ?? "down", probability: s.limit.probability ?? 1 };
  }
  if (s.slowClose) {
    const delay = required(s.slowClose.delay, "slowClose.delay", "a slow close's delay", errors);
    spec.slowClose = { delay: delay ?? 0, probability: s.slowClose.probability ?? 1 };
  }
  if (s.corrupt) {
    const p = required(s.corrupt.probability, "corrupt.probability", "corruption's probability (per byte)", errors);
    spec.corrupt = { probability: p ?? 0 };
  }
  return spec;
}

/** Merges layers (first = base) onto `clean` into a complete spec, or errors. */
export function mergeLayers(layers: readonly SpecPatch[]): { ok: true; spec: ImpairmentSpec } | { ok: false; errors: FieldError[] } {
  let loose: LooseSpec = cleanSpec();
  for (const layer of layers) loose = applyPatch(loose, layer);
  const errors: FieldError[] = [];
  const spec = finalizeSpec(loose, errors);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, spec };
}

/** Looks a draft up by name (the registry's drafts). */
export type DraftLookup = (name: string) => ProfileDraft | undefined;

export type ChainResult =
  | { ok: true; chain: string[]; drafts: ProfileDraft[] }
  | { ok: false; errors: FieldError[]; notFound?: string };

/**
 * The chain of a profile: itself, then what it extends, and so on. `chain` is nearest first;
 * `drafts` is base first (the order to merge). `path` names the field an error is reported on.
 */
export function extendsChain(lookup: DraftLookup, name: string, path = "extends"): ChainResult {
  const chain: string[] = [];
  const drafts: ProfileDraft[] = [];
  let current: string | undefined = name;
  while (current !== undefined) {
    if (chain.includes(current)) {
      return {
        ok: false,
        errors: [{ path, message: `profiles extend each other in a cycle: ${[...chain, current].join(" -> ")}` }],
      };
    }
    const draft = lookup(current);
    if (!draft) {
      const via = chain.length > 0 ? ` (extended by ${JSON.stringify(chain[chain.length - 1])})` : "";
      return {
        ok: false,
        errors: [{ path, message: `no profile named ${JSON.stringify(current)}${via}` }],
        notFound: current,
      };
    }
    chain.push(current);
    drafts.unshift(draft);
    current = draft.extends;
  }
  return { ok: true, chain, drafts };
}

/** Resolves a named profile of `lookup` (extends applied). */
export function resolveProfile(
  lookup: DraftLookup,
  name: string,
): { ok: true; profile: ResolvedProfile } | { ok: false; errors: FieldError[]; notFound?: string } {
  const chain = extendsChain(lookup, name);
  if (!chain.ok) return chain;
  const merged = mergeLayers(chain.drafts.map((d) => d.spec));
  if (!merged.ok) return merged;
  const own = chain.drafts[chain.drafts.length - 1]!;
  // description and source are inherited when a profile does not give its own
  const inherited = (key: "description" | "source"): string => {
    for (let i = chain.drafts.length - 1; i >= 0; i--) {
      const v = chain.drafts[i]![key];
      if (v !== undefined) return v;
    }
    return "";
  };
  return {
    ok: true,
    profile: {
      name,
      description: own.description ?? inherited("description"),
      source: own.source ?? inherited("source"),
      extends: chain.chain.slice(1),
      spec: merged.spec,
    },
  };
}

/** What resolveImpairment needs of a registry. */
export interface ProfileLookup {
  draft(name: string): ProfileDraft | undefined;
  /** known names, for a "did you mean" when a profile is not found */
  names?(): string[];
}

export interface ImpairmentRequest {
  profile?: string;
  spec?: unknown;
  set?: Record<string, unknown>;
}

export type ImpairmentResolution =
  | { ok: true; profile: string; spec: ImpairmentSpec }
  | { ok: false; errors: FieldError[]; notFound?: string };

/**
 * Resolves what an apply asks for: profile (default "clean", or the inline spec's `extends`)
 * <- inline `spec` <- `set`. Error paths: `profile`, `spec.<field>`, `set.<dotted.path>`.
 * The profile name reported is the named profile, else the spec's `name`, else "custom".
 */
export function resolveImpairment(registry: ProfileLookup, req: ImpairmentRequest): ImpairmentResolution {
  const errors: FieldError[] = [];
  if (req.profile !== undefined && (typeof req.profile !== "string" || req.profile === "")) {
    errors.push({ path: "profile", message: `expected a profile name, got ${JSON.stringify(req.profile) ?? String(req.profile)}` });
  }
  let specDraft: ProfileDraft | undefined;
  if (req.spec !== undefined && req.spec !== null) {
    const validated = validateProfile(req.spec, { prefix: "spec" });
    errors.push(...validated.errors);
    specDraft = validated.draft;
  }
  const set = parseSetOverrides(req.set);
  errors.push(...set.errors);
  if (errors.length > 0) return { ok: false, errors };

  const profileName = typeof req.profile === "string" ? req.profile : undefined;
  if (profileName !== undefined && specDraft?.extends !== undefined && specDraft.extends !== profileName) {
    return {
      ok: false,
      errors: [
        {
          path: "spec.extends",
          message: `the inline spec extends ${JSON.stringify(specDraft.extends)} but profile ${JSON.stringify(profileName)} was also given; give one`,
        },
      ],
    };
  }
  const base = profileName ?? specDraft?.extends ?? "clean";
  const chain = extendsChain((n) => registry.draft(n), base, profileName !== undefined || specDraft?.extends === undefined ? "profile" : "spec.extends");
  if (!chain.ok) {
    const close = chain.notFound !== undefined && registry.names ? suggest(chain.notFound, registry.names()) : undefined;
    if (close !== undefined && close !== chain.notFound) {
      chain.errors = chain.errors.map((e) => ({ ...e, message: `${e.message} (did you mean ${close}?)` }));
    }
    return chain;
  }
  const layers = chain.drafts.map((d) => d.spec);
  if (specDraft) layers.push(specDraft.spec);
  layers.push(set.patch);
  const merged = mergeLayers(layers);
  if (!merged.ok) return merged;
  if (set.ruleEdits !== undefined) {
    const edited = editRules(merged.spec.requests, set.ruleEdits);
    if (!edited.ok) return edited;
    merged.spec.requests = edited.rules;
  }
  const name = profileName ?? specDraft?.name ?? (specDraft ? "custom" : "clean");
  return { ok: true, profile: name, spec: merged.spec };
}

/** Applies `set requests[N].FIELD=VALUE` to the resolved rules: each edited rule is checked again. */
function editRules(rules: readonly RequestRule[], edits: readonly RuleEdit[]): { ok: true; rules: RequestRule[] } | { ok: false; errors: FieldError[] } {
  const raw: Record<string, unknown>[] = rules.map((r) => structuredClone(r) as unknown as Record<string, unknown>);
  const errors: FieldError[] = [];
  for (const e of edits) {
    const rule = raw[e.index];
    if (rule === undefined) {
      errors.push({ path: `set.${e.key}`, message: `the profile has ${rules.length} request rule${rules.length === 1 ? "" : "s"} (requests[0]..[${rules.length - 1}]), not requests[${e.index}]` });
      continue;
    }
    let node: Record<string, unknown> = rule;
    for (const part of e.path.slice(0, -1)) {
      const next = node[part];
      if (typeof next !== "object" || next === null || Array.isArray(next)) node[part] = {};
      node = node[part] as Record<string, unknown>;
    }
    node[e.path[e.path.length - 1]!] = e.value;
  }
  if (errors.length > 0) return { ok: false, errors };
  const parsed = parseRequestRules(raw, "set.requests", errors);
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, rules: parsed };
}
