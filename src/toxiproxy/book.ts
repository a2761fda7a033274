// The toxics of every proxy, and the overlay that puts them on the engine. Toxicity is decided
// once per connection per toxic (a sticky draw keyed by the toxic's identity), so adding,
// updating or removing one toxic never re-rolls whether another one applies to a connection.
import type { SpecOverlay } from "../relay/proxy.js";
import { composeToxics, isToxicType, parseAttributes, TOXIC_STREAMS, TOXIC_TYPES, type ToxicJson, type ToxicStream } from "./toxics.js";
import { knownFields, TOXIC_FIELDS } from "./fields.js";
import { badRequest, invalidStream, ToxiproxyApiError, toxicExists, toxicNotFound } from "./errors.js";

interface StoredToxic extends ToxicJson {
  /** identity of this toxic's per-connection draw: a re-created toxic of the same name draws anew */
  key: string;
}

/** Where a proxy's overlay goes (the engine proxy, if it exists). */
export type InstallOverlay = (proxy: string, overlay: SpecOverlay | null) => void;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseToxicity(value: unknown, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > 1)
    throw badRequest(`toxicity must be a number from 0 to 1 (share of connections), got ${JSON.stringify(value)}`);
  return value;
}

/** The overlay for these toxics: each applies to a connection when its sticky draw < toxicity. */
export function toxicOverlay(toxics: readonly StoredToxic[]): SpecOverlay | null {
  if (toxics.length === 0) return null;
  const snapshot = toxics.map((t) => ({ ...t, attributes: { ...t.attributes } }));
  return (base, draw) => composeToxics(base, snapshot.filter((t) => t.toxicity >= 1 || (t.toxicity > 0 && draw(t.key) < t.toxicity)));
}

export class ToxicBook {
  private readonly byProxy = new Map<string, StoredToxic[]>();
  private seq = 0;

  constructor(private readonly install: InstallOverlay) {}

  /** As Toxiproxy lists them: upstream toxics first, then downstream, each in creation order. */
  list(proxy: string): ToxicJson[] {
    const all = this.byProxy.get(proxy) ?? [];
    return TOXIC_STREAMS.flatMap((s) => all.filter((t) => t.stream === s)).map(publicToxic);
  }

  get(proxy: string, name: string): ToxicJson {
    return publicToxic(this.find(proxy, name));
  }

  /** POST /proxies/{proxy}/toxics */
  add(proxy: string, body: unknown): ToxicJson {
    if (!isObject(body)) throw badRequest(`expected a JSON object {name, type, stream, toxicity, attributes}, got ${JSON.stringify(body)}`);
    const fields = knownFields(body, TOXIC_FIELDS);
    const type = fields.type;
    if (!isToxicType(type)) throw new ToxiproxyApiError(`invalid toxic type: ${JSON.stringify(type)} (known: ${TOXIC_TYPES.join(", ")})`, 400);
    const stream = parseStream(fields.stream);
    if (fields.name !== undefined && fields.name !== null && (typeof fields.name !== "string" || fields.name.includes("/")))
      throw badRequest(`name must be a string without "/", got ${JSON.stringify(fields.name)}`);
    const name = typeof fields.name === "string" && fields.name !== "" ? fields.name : `${type}_${stream}`;
    const toxicity = parseToxicity(fields.toxicity, 1);
    const list = this.byProxy.get(proxy) ?? [];
    if (list.some((t) => t.name === name)) throw toxicExists(name);
    const attributes = parseAttributes(type, fields.attributes);
    if (typeof attributes === "string") throw badRequest(attributes);
    const toxic: StoredToxic = { name, type, stream, toxicity, attributes, key: `${name}#${++this.seq}` };
    this.commit(proxy, [...list, toxic]);
    return publicToxic(toxic);
  }

  /** POST/PATCH /proxies/{proxy}/toxics/{name}: attributes and toxicity, partially. */
  update(proxy: string, name: string, body: unknown): ToxicJson {
    const current = this.find(proxy, name);
    if (!isObject(body)) throw badRequest(`expected a JSON object {attributes, toxicity}, got ${JSON.stringify(body)}`);
    const fields = knownFields(body, TOXIC_FIELDS);
    // a client may send the whole toxic back (toxiproxy-node-client's toJson()): name, type and
    // stream are accepted when they are the toxic's own, refused when they ask for a change the
    // update would not make (Toxiproxy ignores them silently)
    if (fields.name !== undefined && fields.name !== null && fields.name !== current.name)
      throw badRequest(`name cannot be changed by an update (toxic ${JSON.stringify(current.name)}, got ${JSON.stringify(fields.name)}); delete it and add it under the new name`);
    if (fields.type !== undefined && fields.type !== null && fields.type !== current.type)
      throw badRequest(`type cannot be changed by an update (toxic ${JSON.stringify(current.name)} is ${current.type}, got ${JSON.stringify(fields.type)}); delete it and add a new one`);
    if (fields.stream !== undefined && fields.stream !== null && fields.stream !== "" && parseStream(fields.stream) !== current.stream)
      throw badRequest(`stream cannot be changed by an update (toxic ${JSON.stringify(current.name)} is ${current.stream}, got ${JSON.stringify(fields.stream)}); delete it and add a new one`);
    const toxicity = parseToxicity(fields.toxicity, current.toxicity);
    const attributes = parseAttributes(current.type, fields.attributes, current.attributes);
    if (typeof attributes === "string") throw badRequest(attributes);
    const next: StoredToxic = { ...current, toxicity, attributes };
    this.commit(
      proxy,
      (this.byProxy.get(proxy) ?? []).map((t) => (t === current ? next : t)),
    );
    return publicToxic(next);
  }

  /** Removes one toxic; returns it. */
  remove(proxy: string, name: string): ToxicJson {
    const current = this.find(proxy, name);
    this.commit(
      proxy,
      (this.byProxy.get(proxy) ?? []).filter((t) => t !== current),
    );
    return publicToxic(current);
  }

  /** Removes every toxic of the proxy; returns the ones removed. */
  clear(proxy: string): ToxicJson[] {
    const removed = this.list(proxy);
    if (this.byProxy.has(proxy)) this.commit(proxy, []);
    return removed;
  }

  /** The proxy is gone: its toxics go too (nothing to install on). */
  forget(proxy: string): void {
    this.byProxy.delete(proxy);
  }

  /** The engine proxy was re-created: put its toxics back on it. */
  reinstall(proxy: string): void {
    this.install(proxy, toxicOverlay(this.byProxy.get(proxy) ?? []));
  }

  /** The toxics, to keep across a re-creation (forget, then restore). */
  take(proxy: string): StoredToxic[] {
    return [...(this.byProxy.get(proxy) ?? [])];
  }

  restore(proxy: string, toxics: StoredToxic[]): void {
    this.commit(proxy, toxics);
  }

  private find(proxy: string, name: string): StoredToxic {
    const t = (this.byProxy.get(proxy) ?? []).find((x) => x.name === name);
    if (!t) throw toxicNotFound(name);
    return t;
  }

  private commit(proxy: string, toxics: StoredToxic[]): void {
    if (toxics.length) this.byProxy.set(proxy, toxics);
    else this.byProxy.delete(proxy);
    this.install(proxy, toxicOverlay(toxics));
  }
}

function parseStream(value: unknown): ToxicStream {
  if (value === undefined || value === null || value === "") return "downstream";
  if (typeof value === "string") {
    const lower = value.toLowerCase();
    if (lower === "upstream" || lower === "downstream") return lower;
  }
  throw invalidStream(value);
}

function publicToxic(t: StoredToxic): ToxicJson {
  return { name: t.name, type: t.type, stream: t.stream, toxicity: t.toxicity, attributes: { ...t.attributes } };
}
