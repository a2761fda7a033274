// Toxiproxy's HTTP API (v2) on the agent's port: /proxies, /proxies/{name},
// /proxies/{name}/toxics, /proxies/{name}/toxics/{toxic}, /populate, /reset, /version, with its
// status codes, JSON shapes and error bodies. Proxies are the agent's proxies (the same ones the
// control channel shows); toxics run on the engine as an overlay on the applied profile.
import type { IncomingMessage, ServerResponse } from "node:http";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { Agent } from "../agent/agent.js";
import type { RouteHandler, RouteMatcher, RouteOptions } from "../agent/server.js";
import { formatHostPort, parseHostPort } from "../relay/address.js";
import { ToxicBook } from "./book.js";
import type { ToxicJson } from "./toxics.js";
import { knownFields, PROXY_FIELDS } from "./fields.js";
import { badRequest, fromAgentError, missingField, proxyExists, proxyNotFound, ToxiproxyApiError } from "./errors.js";

/** The Toxiproxy API level served (what clients that check /version see). */
export const TOXIPROXY_API_VERSION = "2.12.0";
/** Request bodies above this are refused (413). */
export const MAX_BODY_BYTES = 1024 * 1024;
/** A request body that has not arrived in full by then is refused (408): no call hangs. */
export const BODY_TIMEOUT_MS = 10_000;
/** Listen address of a proxy created without one. */
export const DEFAULT_LISTEN = "127.0.0.1:0";

export interface ToxiproxyProxyJson {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  toxics: ToxicJson[];
}

/** What the API needs of a running agent (RunningAgent fits). */
export interface ToxiproxyHost {
  agent: Agent;
  addRoute(match: RouteMatcher, handler: RouteHandler, options?: RouteOptions): void;
}

export interface ToxiproxyApi {
  readonly toxics: ToxicBook;
  readonly match: RouteMatcher;
  readonly handle: RouteHandler;
}

const TOP_PATHS = new Set(["/proxies", "/populate", "/reset", "/version"]);

/** True for the paths the Toxiproxy API serves. */
export function isToxiproxyPath(pathname: string): boolean {
  return TOP_PATHS.has(pathname) || pathname.startsWith("/proxies/");
}

/** Mounts the Toxiproxy API on a running agent's port (behind its token and Origin checks). */
export function mountToxiproxyApi(host: ToxiproxyHost): ToxiproxyApi {
  const api = createToxiproxyApi(host.agent);
  host.addRoute(api.match, api.handle, { auth: true });
  return api;
}

/** The API's router over an agent; mount it with addRoute(api.match, api.handle). */
export function createToxiproxyApi(agent: Agent): ToxiproxyApi {
  const toxics = new ToxicBook((proxy, overlay) => agent.getProxy(proxy)?.setOverlay(overlay));
  agent.on("proxy-removed", (name) => toxics.forget(name));
  // the agent shows the toxics with each proxy and removes them on clear and panic
  agent.useToxics({ list: (proxy) => toxics.list(proxy), clear: (proxy) => toxics.clear(proxy) });
  const routes = new Routes(agent, toxics);
  return {
    toxics,
    match: (_req, url) => isToxiproxyPath(url.pathname),
    handle: (req, res, url) => routes.handle(req, res, url),
  };
}

type Reply = { status: number; body?: unknown };

class Routes {
  constructor(
    private readonly agent: Agent,
    private readonly toxics: ToxicBook,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    // as Toxiproxy: browsers are refused, so a web page cannot drive the API
    if ((req.headers["user-agent"] ?? "").startsWith("Mozilla/")) return send(res, { status: 403, body: new ToxiproxyApiError("User agent not allowed", 403) });
    let reply: Reply;
    try {
      reply = await this.route(req, url);
    } catch (err) {
      const e = fromAgentError(err);
      reply = { status: e.status, body: e };
    }
    send(res, reply);
  }

  private async route(req: IncomingMessage, url: URL): Promise<Reply> {
    const method = req.method ?? "GET";
    const parts = url.pathname.split("/").slice(1).map(decodeSegment);
    const [top, name, sub, toxic, ...rest] = parts;
    const allow = (...methods: string[]): void => {
      if (!methods.includes(method)) throw new ToxiproxyApiError(`method ${method} not allowed on ${url.pathname} (allowed: ${methods.join(", ")})`, 405);
    };
    if (parts.length === 1) {
      if (top === "version") {
        allow("GET");
        return { status: 200, body: { version: TOXIPROXY_API_VERSION, netimpair: this.agent.version } };
      }
      if (top === "reset") {
        allow("POST");
        await this.reset(who(req));
        return { status: 204 };
      }
      if (top === "populate") {
        allow("POST");
        return this.populate(await readJson(req));
      }
      allow("GET", "POST");
      if (method === "GET") return { status: 200, body: Object.fromEntries(this.agent.proxyNames().map((n) => [n, this.proxyJson(n)])) };
      return { status: 201, body: await this.createProxy(await readJson(req)) };
    }
    if (name === undefined || name === "" || rest.length > 0 || (sub !== undefined && sub !== "toxics")) throw new ToxiproxyApiError(`no such path: ${url.pathname}`, 404);
    if (sub === undefined) {
      allow("GET", "POST", "PATCH", "DELETE");
      if (method === "GET") return { status: 200, body: this.proxyJson(this.mustExist(name)) };
      if (method === "DELETE") {
        await this.agent.deleteProxy(this.mustExist(name));
        return { status: 204 };
      }
      return { status: 200, body: await this.updateProxy(this.mustExist(name), await readJson(req)) };
    }
    if (toxic === undefined) {
      allow("GET", "POST");
      this.mustExist(name);
      if (method === "GET") return { status: 200, body: this.toxics.list(name) };
      const body = await readJson(req);
      const added = this.toxics.add(this.mustExist(name), body);
      this.agent.toxicsChanged(name, { who: who(req), cause: "toxic.add", toxic: added });
      return { status: 200, body: added };
    }
    allow("GET", "POST", "PATCH", "DELETE");
    this.mustExist(name);
    if (method === "GET") return { status: 200, body: this.toxics.get(name, toxic) };
    if (method === "DELETE") {
      const removed = this.toxics.remove(name, toxic);
      this.agent.toxicsChanged(name, { who: who(req), cause: "toxic.remove", toxic: removed });
      return { status: 204 };
    }
    const body = await readJson(req);
    const updated = this.toxics.update(this.mustExist(name), toxic, body);
    this.agent.toxicsChanged(name, { who: who(req), cause: "toxic.update", toxic: updated });
    return { status: 200, body: updated };
  }

  private mustExist(name: string): string {
    if (!this.agent.has(name)) throw proxyNotFound(name);
    return name;
  }

  private proxyJson(name: string): ToxiproxyProxyJson {
    const p = this.agent.proxyInfo(name);
    return { name: p.name, listen: p.listen, upstream: p.upstream, enabled: p.enabled, toxics: this.toxics.list(name) };
  }

  private async createProxy(body: unknown): Promise<ToxiproxyProxyJson> {
    const input = await proxyInput(body, null);
    if (this.agent.has(input.name)) throw proxyExists(input.name);
    await this.agent.createProxy({ name: input.name, listen: input.listen, upstream: input.upstream, enabled: input.enabled });
    return this.proxyJson(input.name);
  }

  private async updateProxy(name: string, body: unknown): Promise<ToxiproxyProxyJson> {
    const current = this.agent.proxyInfo(name);
    if (!isObject(body)) throw badRequest(`expected a JSON object {listen, upstream, enabled}, got ${JSON.stringify(body)}`);
    const fields = knownFields(body, PROXY_FIELDS);
    checkIgnoredToxics(fields.toxics);
    // a name may come along (the Go client sends the whole proxy back); it cannot rename
    const given = optionalString(fields, "name");
    if (given !== undefined && given !== name) throw badRequest(`name cannot be changed by an update (proxy ${JSON.stringify(name)}, got ${JSON.stringify(given)}); create a proxy under the new name instead`);
    const listen = fields.listen === undefined || fields.listen === null ? null : await normaliseListen(fields.listen);
    const upstream = optionalString(fields, "upstream");
    const enabled = optionalBoolean(fields, "enabled");
    // a new listen address moves the proxy's listener in place: its impairment (owner, ttl,
    // revert target), toxics and counters stay; an address in use leaves it where it was
    const moved = listen !== null && listen !== current.listen && !sameListen(listen, current.listen) ? { listen } : {};
    await this.agent.updateProxy({ name, ...moved, ...(upstream !== undefined ? { upstream } : {}), ...(enabled !== undefined ? { enabled } : {}) });
    return this.proxyJson(name);
  }

  private async populate(body: unknown): Promise<Reply> {
    const done: ToxiproxyProxyJson[] = [];
    try {
      if (!Array.isArray(body)) throw badRequest(`expected a JSON array of proxies [{name, listen, upstream, enabled}], got ${JSON.stringify(body)}`);
      // phase 1: the whole request is checked before anything changes
      const inputs: ProxyInput[] = [];
      const names = new Set<string>();
      for (const [i, raw] of body.entries()) {
        const input = await proxyInput(raw, i + 1);
        if (names.has(input.name)) throw badRequest(`duplicate proxy name ${JSON.stringify(input.name)} at proxy ${i + 1}`);
        names.add(input.name);
        inputs.push(input);
      }
      // phase 2: add, or replace a proxy whose listen or upstream differs (same ones: kept).
      // Whatever fails (a port in use, say), everything done so far is undone: all or nothing.
      const undo: (() => Promise<void>)[] = [];
      try {
        for (const input of inputs) {
          if (this.agent.has(input.name)) {
            const before = this.agent.proxyInfo(input.name);
            if (!(sameListen(input.listen, before.listen) && input.upstream === before.upstream)) {
              const kept = this.toxics.take(input.name);
              const impairment = this.agent.impairment(input.name);
              await this.agent.deleteProxy(input.name);
              undo.push(async () => {
                if (this.agent.has(input.name)) await this.agent.deleteProxy(input.name);
                await this.agent.createProxy({ name: before.name, listen: before.listen, upstream: before.upstream, enabled: before.enabled });
                this.toxics.restore(input.name, kept);
                if (impairment) this.agent.apply({ proxy: input.name, profile: impairment.profile, spec: impairment.spec, percent: impairment.percent, clients: impairment.clients, who: "toxiproxy api (populate undone)" });
              });
              await this.agent.createProxy(input);
            }
          } else {
            undo.push(async () => {
              if (this.agent.has(input.name)) await this.agent.deleteProxy(input.name);
            });
            await this.agent.createProxy(input);
          }
          done.push(this.proxyJson(input.name));
        }
      } catch (err) {
        done.length = 0;
        for (const step of undo.reverse()) await step().catch(() => undefined);
        throw err;
      }
      return { status: 201, body: { proxies: done } };
    } catch (err) {
      const e = fromAgentError(err);
      return { status: e.status, body: { error: e.message, status: e.status, proxies: done } };
    }
  }

  /** Every proxy enabled, every toxic removed (impairments applied over the control channel stay). */
  private async reset(by: string): Promise<void> {
    for (const name of this.agent.proxyNames()) {
      if (this.toxics.clear(name).length > 0) this.agent.toxicsChanged(name, { who: by, cause: "toxiproxy.reset" });
      if (!this.agent.proxyInfo(name).enabled) await this.agent.updateProxy({ name, enabled: true });
    }
  }
}

/** Who made a Toxiproxy API call, for the log: the peer's address. */
function who(req: IncomingMessage): string {
  const s = req.socket;
  return `${s.remoteAddress ?? "?"}:${s.remotePort ?? "?"} (toxiproxy api)`;
}

interface ProxyInput {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
}

/** Checks a proxy body (create, populate entry `index`). */
async function proxyInput(body: unknown, index: number | null): Promise<ProxyInput> {
  const at = index === null ? "" : ` at proxy ${index}`;
  if (!isObject(body)) throw badRequest(`expected a JSON object {name, listen, upstream, enabled}${at}, got ${JSON.stringify(body)}`);
  const fields = knownFields(body, PROXY_FIELDS, at);
  checkIgnoredToxics(fields.toxics, at);
  const name = optionalString(fields, "name", at);
  if (!name) throw missingField(`name${at}`);
  if (name.includes("/")) throw badRequest(`name must not contain "/"${at}, got ${JSON.stringify(name)}`);
  const upstream = optionalString(fields, "upstream", at);
  if (!upstream) throw missingField(`upstream${at}`);
  const up = parseHostPort(upstream);
  if (typeof up === "string") throw badRequest(`upstream${at}: ${up}`);
  const listen = fields.listen === undefined || fields.listen === null || fields.listen === "" ? DEFAULT_LISTEN : await normaliseListen(fields.listen, at);
  return { name, listen, upstream, enabled: optionalBoolean(fields, "enabled", at) ?? true };
}

/**
 * A proxy body's `toxics`: Toxiproxy's Go client sends the proxy's toxics back with every save
 * (null on create); as in Toxiproxy they are not read (toxics change through /toxics), but
 * they must at least be a list.
 */
function checkIgnoredToxics(value: unknown, at = ""): void {
  if (value !== undefined && value !== null && !Array.isArray(value))
    throw badRequest(`toxics${at} must be a list (it is not read: toxics are added through /proxies/{name}/toxics), got ${JSON.stringify(value)}`);
}

/** HOST:PORT with the host resolved to an address ("localhost:0" -> "127.0.0.1:0"), as Toxiproxy reports it. */
async function normaliseListen(value: unknown, at = ""): Promise<string> {
  if (typeof value !== "string") throw badRequest(`listen${at} must be a string HOST:PORT, got ${JSON.stringify(value)}`);
  const hp = parseHostPort(value);
  if (typeof hp === "string") throw badRequest(`listen${at}: ${hp}`);
  if (isIP(hp.host)) return formatHostPort(hp.host, hp.port);
  try {
    const { address } = await lookup(hp.host, { family: hp.host === "localhost" ? 4 : 0 });
    return formatHostPort(address, hp.port);
  } catch {
    throw badRequest(`listen${at}: cannot resolve host ${JSON.stringify(hp.host)} in ${JSON.stringify(value)}`);
  }
}

/** Same address, where port 0 (pick one) never equals a bound port. */
function sameListen(a: string, b: string): boolean {
  const x = parseHostPort(a);
  const y = parseHostPort(b);
  if (typeof x === "string" || typeof y === "string") return a === b;
  return x.port !== 0 && x.port === y.port && x.host === y.host;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function optionalString(body: Record<string, unknown>, key: string, at = ""): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw badRequest(`${key}${at} must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function optionalBoolean(body: Record<string, unknown>, key: string, at = ""): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw badRequest(`${key}${at} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Reads a JSON body, bounded in size and time. An empty body reads as {} (as Go's decoder sees EOF: an error there, a no-op here). */
function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: ToxiproxyApiError | null, value?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.off("data", onData);
      if (err) {
        req.resume(); // drain what is left so the reply can go
        reject(err);
      } else resolve(value);
    };
    const timer = setTimeout(() => finish(new ToxiproxyApiError(`request body not received within ${BODY_TIMEOUT_MS} ms`, 408)), BODY_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) return finish(new ToxiproxyApiError(`request body larger than ${MAX_BODY_BYTES} bytes`, 413));
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.on("error", (err) => finish(badRequest(err.message)));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8").trim();
      if (text === "") return finish(null, {});
      try {
        finish(null, JSON.parse(text));
      } catch (err) {
        finish(badRequest((err as Error).message));
      }
    });
  });
}

function send(res: ServerResponse, reply: Reply): void {
  if (reply.status === 204 || reply.body === undefined) {
    res.writeHead(reply.status);
    res.end();
    return;
  }
  const text = JSON.stringify(reply.body) + "\n";
  res.writeHead(reply.status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}
