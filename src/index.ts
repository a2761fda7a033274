// netimpair as a library: start an agent in-process, drive agents with the typed control client.
export { startAgent, type StartAgentOptions, type StartAgentProxy, type RunningAgent } from "./agent/start.js";
export { runAgent } from "./agent/run.js";
export { loadAgentConfig, ConfigError, type AgentFlags, type AgentConfig, type ProxyConfig, type LogLevel } from "./agent/config.js";
export { Agent, type ApplyRequest, type CreateProxyRequest } from "./agent/agent.js";
export type { RouteHandler, RouteMatcher, RouteOptions } from "./agent/server.js";
export type { RateLimit } from "./agent/control.js";
export {
  connect,
  ControlClient,
  RpcError,
  ConnectionError,
  DEFAULT_CALL_TIMEOUT_MS,
  type ConnectOptions,
  type ConnectionErrorKind,
  type EventHandler,
  type ApplyOptions,
  type SubscribeOptions,
} from "./control/client.js";
export * from "./control/protocol.js";
export * from "./profiles/types.js";
export { ProfileRegistry } from "./profiles/registry.js";
export { resolveImpairment } from "./profiles/resolve.js";
export { parseDuration, parseBandwidth, parseSize, parseProbability, parsePercent, formatDuration, formatBandwidth, formatSize, UnitError } from "./units.js";
// verdicts on the client: fold `requests` events (requests: "all") as `netimpair run`'s expect: does
export { ClientWindow, type SeenRequest } from "./experiment/client-window.js";
export { judgeClients } from "./experiment/client-verdicts.js";
export type { ClientExpectation } from "./experiment/client-types.js";
export type { ClientStats, ExpectationResult } from "./report/clients.js";
