// events.subscribe: a control session's live feed. `stats` each interval (stats plus throughput
// in bytes/s since the last tick), `connections` on every open/close, `faults` on every fault,
// `impairments` on every impairment change (apply, clear, ttl, panic, Toxiproxy toxics),
// `requests` on every request fault (or, with requests: "all", every request a protocol proxy frames).
import type { EventNotification, EventTopic, ImpairmentEventData, ProxyStats, RequestEventData, RequestsSampling } from "../control/protocol.js";
import type { RequestEvent } from "../requests/events.js";
import type { ConnInfo } from "../control/protocol.js";
import type { ConnCloseInfo, FaultEvent } from "../relay/proxy.js";
import type { Agent } from "./agent.js";

export const DEFAULT_STATS_INTERVAL_MS = 1000;
export const MIN_STATS_INTERVAL_MS = 100;

export interface StatsEventData extends ProxyStats {
  /** bytes/s delivered client -> upstream since the last tick */
  throughputUp: number;
  throughputDown: number;
  intervalMs: number;
}

export type ConnectionsEventData = ({ type: "open" } & ConnInfo) | ({ type: "close" } & ConnCloseInfo);

export class EventFeed {
  private topics = new Set<EventTopic>();
  private timer: NodeJS.Timeout | null = null;
  private readonly last = new Map<string, { bytesUp: number; bytesDown: number; at: number }>();
  private readonly onOpen = (proxy: string, info: ConnInfo) => this.topics.has("connections") && this.send({ topic: "connections", proxy, data: { type: "open", ...info } });
  private readonly onClose = (proxy: string, info: ConnCloseInfo) => this.topics.has("connections") && this.send({ topic: "connections", proxy, data: { type: "close", ...info } });
  private readonly onFault = (proxy: string, ev: FaultEvent) => this.topics.has("faults") && this.send({ topic: "faults", proxy, data: ev });
  private readonly onImpairment = (proxy: string, data: ImpairmentEventData) => this.topics.has("impairments") && this.send({ topic: "impairments", proxy, data });
  private readonly onRequest = (proxy: string, ev: RequestEvent) => {
    const data: RequestEventData = ev;
    if (this.topics.has("requests") && (this.allRequests || data.rule !== undefined)) this.send({ topic: "requests", proxy, data });
  };
  private listening = false;
  /** this session watches every request (counted by the agent while it does) */
  private allRequests = false;

  constructor(
    private readonly agent: Agent,
    private readonly send: (n: EventNotification) => void,
  ) {}

  /** Replaces the session's subscription. */
  subscribe(topics: EventTopic[], intervalMs = DEFAULT_STATS_INTERVAL_MS, requests: RequestsSampling = "faults"): EventTopic[] {
    this.topics = new Set(topics);
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (!this.listening && (this.topics.has("connections") || this.topics.has("faults") || this.topics.has("impairments") || this.topics.has("requests"))) {
      this.agent.on("conn-open", this.onOpen);
      this.agent.on("conn-close", this.onClose);
      this.agent.on("fault", this.onFault);
      this.agent.on("impairment", this.onImpairment);
      this.agent.on("request", this.onRequest);
      this.listening = true;
    }
    this.watchAll(this.topics.has("requests") && requests === "all");
    if (this.topics.has("stats")) {
      this.last.clear();
      this.baseline();
      this.timer = setInterval(() => this.tick(intervalMs), intervalMs);
      this.timer.unref();
    }
    return [...this.topics];
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.topics.clear();
    this.watchAll(false);
    if (this.listening) {
      this.agent.off("conn-open", this.onOpen);
      this.agent.off("conn-close", this.onClose);
      this.agent.off("fault", this.onFault);
      this.agent.off("impairment", this.onImpairment);
      this.agent.off("request", this.onRequest);
      this.listening = false;
    }
  }

  private watchAll(on: boolean): void {
    if (on === this.allRequests) return;
    this.allRequests = on;
    this.agent.watchAllRequests(on);
  }

  private baseline(): void {
    const now = performance.now();
    for (const p of this.agent.listProxies()) this.last.set(p.name, { bytesUp: p.stats.bytesUp, bytesDown: p.stats.bytesDown, at: now });
  }

  private tick(intervalMs: number): void {
    const now = performance.now();
    const seen = new Set<string>();
    for (const p of this.agent.listProxies()) {
      seen.add(p.name);
      const prev = this.last.get(p.name) ?? { bytesUp: 0, bytesDown: 0, at: now - intervalMs };
      const seconds = Math.max((now - prev.at) / 1000, 1e-3);
      const data: StatsEventData = {
        ...p.stats,
        throughputUp: Math.max(0, Math.round((p.stats.bytesUp - prev.bytesUp) / seconds)),
        throughputDown: Math.max(0, Math.round((p.stats.bytesDown - prev.bytesDown) / seconds)),
        intervalMs,
      };
      this.last.set(p.name, { bytesUp: p.stats.bytesUp, bytesDown: p.stats.bytesDown, at: now });
      this.send({ topic: "stats", proxy: p.name, data });
    }
    for (const name of this.last.keys()) if (!seen.has(name)) this.last.delete(name);
  }
}
