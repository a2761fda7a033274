// The control channel's contract: every JSON-RPC method with its params and result.
// The agent's server and the client (CLI, library) both import this module, so they cannot drift.
import type { ImpairmentSpec, ResolvedProfile } from "../profiles/types.js";

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
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** One bad field of a request (`data` of an InvalidParams error). */
export interface FieldError {
  path: string;
  message: string;
}

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
  faults: Record<FaultKind, number>;
  /** requests seen by the request layer, by outcome (all 0 on a tcp proxy) */
  requests: Record<"forwarded" | "failed" | "delayed" | "lost" | "reset", number>;
}

export interface ProxyInfo {
  name: string;
  /** bound address HOST:PORT (a port 0 request shows the port picked) */
  listen: string;
  upstream: string;
  /** tcp | http | grpc | postgres | mysql | redis */
  protocol: string;
  enabled: boolean;
  impairment: ImpairmentState | null;
  stats: ProxyStats;
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
}

export type EventTopic = "stats" | "connections" | "faults";
export const EVENT_TOPICS: readonly EventTopic[] = ["stats", "connections", "faults"];

export interface EventNotification {
  topic: EventTopic;
  proxy: string;
  data: unknown;
}

/** Method name -> params and result. `proxy: "*"` methods return an array (one per proxy). */
export interface Methods {
  "agent.info": { params: Record<string, never> | undefined; result: AgentInfo };
  "proxy.list": { params: Record<string, never> | undefined; result: ProxyInfo[] };
  "proxy.create": { params: { name: string; listen: string; upstream: string; enabled?: boolean; protocol?: string }; result: ProxyInfo };
  "proxy.update": { params: { name: string; upstream?: string; enabled?: boolean; protocol?: string }; result: ProxyInfo };
  "proxy.delete": { params: { name: string }; result: { deleted: true } };
  "impair.apply": { params: ApplyParams; result: ApplyResult | ApplyResult[] };
  "impair.clear": { params: { proxy: string }; result: { proxy: string } | { proxy: string }[] };
  "conn.list": { params: { proxy: string }; result: ConnInfo[] };
  "conn.reset": { params: { proxy: string; id?: string }; result: { reset: number } };
  "profile.list": { params: Record<string, never> | undefined; result: string[] };
  "profile.get": { params: { name: string }; result: ResolvedProfile };
  "profile.define": { params: { spec: Record<string, unknown> }; result: ResolvedProfile };
  "events.subscribe": { params: { topics: EventTopic[]; intervalMs?: number }; result: { subscribed: EventTopic[] } };
  /** netimpair extension: clear every proxy and cancel pending ttls (the kill switch) */
  "agent.panic": { params: Record<string, never> | undefined; result: { cleared: string[] } };
}

export type MethodName = keyof Methods;
export const METHOD_NAMES: readonly MethodName[] = [
  "agent.info",
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
