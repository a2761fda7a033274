// The control channel's contract: every JSON-RPC method with its params and result.
// The agent's server and the client (CLI, library) both import this module, so they cannot drift.
import type { ImpairmentSpec, ResolvedProfile } from "../profiles/types.js";
import type { FieldError } from "../field-error.js";

export type { FieldError } from "../field-error.js";

export const PROTOCOL_VERSION = 1;

/** JSON-RPC 2.0 error codes used by the agent. */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  NotFound: -32004,
  Conflict: -32009,
  RateLimited: -32029,
  /** the session's run was cancelled by a panic or clear: its bound applies are refused */
  Cancelled: -32010,
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];


export interface RpcErrorObject {
  code: number;
  message: string;
  data?: FieldError[] | unknown;
}

/** Overrides: dotted path -> value, e.g. {"down.delay": "300ms", "reset.after": "2s"}. */
export type SetOverrides = Record<string, string | number | boolean | null>;

/** What a proxy currently has applied; null when clean. */
export interface ImpairmentState {
  profile: string;
  spec: ImpairmentSpec;
  /** ISO time the ttl ends, or null */
  expiresAt: string | null;
  /** 0..100 */
  percent: number;
  /** CIDRs; empty = every client */
  clients: string[];
  /** the `set` overrides given with the apply (already part of `spec`), when there were any */
  set?: SetOverrides;
}

export type FaultKind = "reset" | "stall" | "half_open" | "refuse" | "limit" | "corrupt" | "loss";
export const FAULT_KINDS: readonly FaultKind[] = ["reset", "stall", "half_open", "refuse", "limit", "corrupt", "loss"];

export interface ProxyStats {
  connectionsActive: number;
  connectionsTotal: number;
  /** bytes delivered client -> upstream */
  bytesUp: number;
  /** bytes delivered upstream -> client */
  bytesDown: number;
  /** bytes queued inside the agent now */
  queueUp: number;
  queueDown: number;
  /** shared links alive now (per client address and direction with share client, ...) */
  sharedLinks: number;
  faults: Record<FaultKind, number>;
  /** requests seen by the request layer, by outcome (all 0 on a tcp proxy) */
  requests: Record<"forwarded" | "failed" | "delayed" | "lost" | "reset" | "truncated" | "malformed" | "throttled" | "limited", number>;
  /** TLS failures by side (0 without tls) */
  tlsFailures: TlsStats;
  /** udp and dns proxies: flows and datagrams (flows also count in connectionsActive/Total) */
  datagrams?: DatagramStats;
}

/** A Toxiproxy toxic on a proxy (added through the Toxiproxy HTTP API). */
export interface ToxicInfo {
  name: string;
  type: string;
  stream: "upstream" | "downstream";
  toxicity: number;
  attributes: Record<string, unknown>;
}

/**
 * TLS on either side of a protocol proxy (docs/tls.md). File fields are paths on the agent's
 * host; a value that begins with -----BEGIN is PEM text.
 */
export interface ProxyTlsSpec {
  /** clients speak TLS to the agent: a certificate from the agent's CA (auto) or given */
  client?: "auto" | { cert: string; key: string };
  /** the agent speaks TLS to the upstream: system roots (verify), none (insecure), or given */
  upstream?: "verify" | "insecure" | { ca?: string; servername?: string; cert?: string; key?: string };
}

/** TLS failures of a proxy's connections, by side (a handshake that failed, a refused upgrade). */
export interface TlsStats {
  client: number;
  upstream: number;
}

export interface ProxyInfo {
  name: string;
  /** bound address HOST:PORT (a port 0 request shows the port picked) */
  listen: string;
  upstream: string;
  /** tcp | http | grpc | postgres | mysql | redis | udp | dns */
  protocol: string;
  enabled: boolean;
  impairment: ImpairmentState | null;
  /** Toxiproxy toxics, which act on top of `impairment` */
  toxics: ToxicInfo[];
  stats: ProxyStats;
  /** TLS on either side (PEM text shown as "(PEM)"); absent = bytes pass as they come */
  tls?: ProxyTlsSpec;
}

/** What a clear or panic took off one proxy: its applied profile (null if none) and its toxics' names. */
export interface RemovedImpairment {
  proxy: string;
  profile: string | null;
  toxics: string[];
}

/** Why a datagram was dropped inside the agent: the loss model, tail drop over the queue bound, a dns `lose` rule, a send error, its flow closed (idle, evicted). */
export type DatagramDropCause = "loss" | "queue" | "lose" | "error" | "evicted";

/** Datagrams of one direction of a udp or dns proxy. */
export interface DatagramCounts {
  /** datagrams received from the sender's side */
  in: number;
  /** datagrams sent on (copies made by `duplicate` included) */
  out: number;
  /** copies made by `duplicate` */
  duplicated: number;
  dropped: Record<DatagramDropCause, number>;
}

export interface DatagramStats {
  flowsActive: number;
  flowsTotal: number;
  /** flows closed to make room (over udpMaxFlows, idle the longest first) */
  flowsEvicted: number;
  up: DatagramCounts;
  down: DatagramCounts;
}

export interface ConnInfo {
  id: string;
  /** client address HOST:PORT */
  client: string;
  openedAt: string;
  bytesUp: number;
  bytesDown: number;
  impaired: boolean;
  /** request faults injected on it (protocol proxies; absent when none and requests are on) */
  requestFaults?: string[];
  /** why request faults are off for it (TLS, a stream the agent cannot follow); null = on */
  requestsOff?: string | null;
  /** "udp" for a UDP flow (a client address:port on a udp or dns proxy); absent for TCP */
  transport?: "udp";
  datagramsUp?: number;
  datagramsDown?: number;
}

export interface AgentInfo {
  id: string;
  version: string;
  uptimeSeconds: number;
  labels: Record<string, string>;
  proxies: ProxyInfo[];
}

export interface ApplyParams {
  /** proxy name, or "*" for all */
  proxy: string;
  profile?: string;
  spec?: Record<string, unknown>;
  set?: SetOverrides;
  /** duration (e.g. "30s" or ms) */
  ttl?: string | number;
  /** 0..100 */
  percent?: number;
  clients?: string[];
  bindToSession?: boolean;
}

export interface ApplyResult {
  proxy: string;
  profile: string;
  spec: ImpairmentSpec;
  expiresAt: string | null;
  /** the `set` overrides given, when there were any */
  set?: SetOverrides;
}

/** impair.clear's answer per proxy: what was removed (profile and toxics). */
export interface ClearResult {
  proxy: string;
  removed: { profile: string | null; toxics: string[] };
}

export type EventTopic = "stats" | "connections" | "faults" | "impairments" | "requests";
export const EVENT_TOPICS: readonly EventTopic[] = ["stats", "connections", "faults", "impairments", "requests"];

/** Which requests topic `requests` carries: "faults" (default) only those a rule acted on, "all" every one framed. */
export type RequestsSampling = "faults" | "all";
export const REQUESTS_SAMPLING: readonly RequestsSampling[] = ["faults", "all"];

/**
 * `requests` event data: one request a protocol proxy framed (a fault a rule injected, or with
 * `requests: "all"` any request). Open to more optional fields later.
 */
export interface RequestEventData {
  /** connection id as conns shows it */
  conn: string;
  /** client address:port */
  client: string;
  /** postgres | mysql | redis | http | grpc */
  protocol: string;
  /** short label: "GET /x", "SET k", "select 1", "/pkg.Svc/Method" */
  request: string;
  /** forwarded | failed | delayed | lost | reset (more may come) */
  outcome: string;
  /** the rule that acted, as describeRule gives it; absent when none acted */
  rule?: string;
  /** epoch ms when the request arrived at the agent */
  at: number;
  /** ms from the request's arrival to its answer's start, when known (abandoned: to when the client gave up) */
  ms?: number;
  /** with requests: "all": a short hash of what makes a retry the same request (http method, path, query, body; grpc method and message; SQL text and parameters; redis command and arguments) */
  identity?: string;
  /** with requests: "all": the answer's class: "error" for http 5xx/429, grpc non-OK, an SQL error, a redis error reply */
  answer?: "ok" | "error";
  /** with requests: "all": the client went away before the answer (closed, reset the stream, cancelled); ms = when */
  abandoned?: boolean;
}

/** `impairments` event data: a proxy's impairment or toxics changed (who did what). */
export interface ImpairmentEventData {
  who: string;
  /** apply, clear, ttl, session, panic; toxic.add, toxic.update, toxic.remove, toxiproxy.reset */
  cause: string;
  impairment: ImpairmentState | null;
  toxics: ToxicInfo[];
  /** the toxic added, updated or removed (toxic.* causes) */
  toxic?: ToxicInfo;
}

/**
 * Params of the `session.cancelled` notification: a panic or clear from another controller took
 * away this session's bound applies; its further bound applies are refused (-32010).
 */
export interface SessionCancelledNotification {
  cause: "panic" | "clear";
  /** who asked (peer HOST:PORT) */
  by: string;
  proxies: string[];
  message: string;
}

export interface EventNotification {
  topic: EventTopic;
  proxy: string;
  data: unknown;
}

export interface SubscribeParams {
  topics: EventTopic[];
  /** the stats topic's interval, ms */
  intervalMs?: number;
  /** topic requests: "faults" (default) only requests a rule acted on, "all" every request */
  requests?: RequestsSampling;
}

/** Method name -> params and result. `proxy: "*"` methods return an array (one per proxy). */
export interface Methods {
  "agent.info": { params: Record<string, never> | undefined; result: AgentInfo };
  "proxy.list": { params: Record<string, never> | undefined; result: ProxyInfo[] };
  "proxy.create": { params: { name: string; listen: string; upstream: string; enabled?: boolean; protocol?: string; tls?: ProxyTlsSpec; udpIdle?: string | number; udpMaxFlows?: number }; result: ProxyInfo };
  /** tls: null removes it */
  "proxy.update": { params: { name: string; upstream?: string; enabled?: boolean; protocol?: string; tls?: ProxyTlsSpec | null }; result: ProxyInfo };
  /** the agent CA's certificate (PEM); its key never leaves the agent */
  "agent.ca": { params: Record<string, never> | undefined; result: { certificate: string } };
  "proxy.delete": { params: { name: string }; result: { deleted: true } };
  "impair.apply": { params: ApplyParams; result: ApplyResult | ApplyResult[] };
  "impair.clear": { params: { proxy: string }; result: ClearResult | ClearResult[] };
  "conn.list": { params: { proxy: string }; result: ConnInfo[] };
  "conn.reset": { params: { proxy: string; id?: string }; result: { reset: number } };
  "profile.list": { params: Record<string, never> | undefined; result: string[] };
  "profile.get": { params: { name: string }; result: ResolvedProfile };
  "profile.define": { params: { spec: Record<string, unknown> }; result: ResolvedProfile };
  "events.subscribe": { params: SubscribeParams; result: { subscribed: EventTopic[] } };
  /** netimpair extension: clear every proxy and cancel pending ttls (the kill switch) */
  "agent.panic": { params: Record<string, never> | undefined; result: { cleared: string[]; removed: RemovedImpairment[] } };
}

export type MethodName = keyof Methods;
export const METHOD_NAMES: readonly MethodName[] = [
  "agent.info",
  "agent.ca",
  "proxy.list",
  "proxy.create",
  "proxy.update",
  "proxy.delete",
  "impair.apply",
  "impair.clear",
  "conn.list",
  "conn.reset",
  "profile.list",
  "profile.get",
  "profile.define",
  "events.subscribe",
  "agent.panic",
];

/** Limits of the control channel. */
export const MAX_FRAME_BYTES = 1024 * 1024;
export const MAX_JSON_DEPTH = 32;
export const PING_INTERVAL_MS = 10_000;
export const SILENT_CLOSE_MS = 30_000;
