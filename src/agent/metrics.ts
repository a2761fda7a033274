// Prometheus metrics (SPEC "Metrics", prefix netimpair_), in a registry of the agent's own.
// The relay never calls prom-client on its hot path: counters are read from each proxy's
// stats() at scrape time, turned into deltas per proxy object, so they never go down while the
// proxy lives. A deleted proxy's series (counters and histogram too) go with it, as its
// gauges do: a proxy created again under the same name starts its counters from 0, which
// Prometheus' rate() and increase() read as a counter reset.
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { FAULT_KINDS, type ProxyStats } from "../control/protocol.js";
import { REQUEST_OUTCOMES } from "../requests/events.js";
import { DurationHistogram } from "./duration-histogram.js";

/** What the metrics read from one proxy at scrape time. */
export interface MeteredProxy {
  name: string;
  /** stable identity of the proxy instance (the engine object itself) */
  key: object;
  /** tcp | postgres | ... (label of the request metrics) */
  protocol: string;
  stats: ProxyStats;
  /** the applied profile's name, null when clean */
  profile: string | null;
  /** how many Toxiproxy toxics the proxy has */
  toxics: number;
}

/** The `profile` label of impairment_active while a proxy has Toxiproxy toxics. */
export const TOXICS_PROFILE_LABEL = "toxiproxy";

export const DELAY_BUCKETS_SECONDS = [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface Seen {
  connectionsTotal: number;
  bytesUp: number;
  bytesDown: number;
  faults: Record<string, number>;
  requests: Record<string, number>;
  /** "up|in", "down|dropped|loss", ...: datagram counters of udp and dns proxies */
  datagrams: Record<string, number>;
  tlsFailures: { client: number; upstream: number };
}

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly seen = new WeakMap<object, Seen>();

  private readonly connectionsActive = new Gauge({ name: "netimpair_connections_active", help: "Connections open now", labelNames: ["proxy"], registers: [this.registry] });
  private readonly connectionsTotal = new Counter({ name: "netimpair_connections_total", help: "Connections accepted", labelNames: ["proxy"], registers: [this.registry] });
  private readonly bytesTotal = new Counter({
    name: "netimpair_bytes_total",
    help: "Bytes delivered to the far side (up = client to upstream, down = upstream to client)",
    labelNames: ["proxy", "direction"],
    registers: [this.registry],
  });
  private readonly faultsTotal = new Counter({ name: "netimpair_faults_total", help: "Faults injected", labelNames: ["proxy", "fault"], registers: [this.registry] });
  private readonly impairmentActive = new Gauge({ name: "netimpair_impairment_active", help: "1 while an impairment is applied (profile=\"toxiproxy\" while the proxy has Toxiproxy toxics)", labelNames: ["proxy", "profile"], registers: [this.registry] });
  private readonly queueBytes = new Gauge({ name: "netimpair_queue_bytes", help: "Bytes queued inside the agent now", labelNames: ["proxy", "direction"], registers: [this.registry] });
  private readonly sharedLinks = new Gauge({ name: "netimpair_shared_links", help: "Shared links alive now (share client: one per client address and direction)", labelNames: ["proxy"], registers: [this.registry] });
  /** observed per piece a link delivers (thousands a second per connection): arrays, not prom-client's observe() */
  private readonly delaySeconds = new DurationHistogram("netimpair_delay_seconds", "Time bytes spend inside the agent", DELAY_BUCKETS_SECONDS);
  private readonly requestsTotal = new Counter({
    name: "netimpair_requests_total",
    help: "Requests seen by the request layer of protocol proxies, by outcome (forwarded, failed, delayed, lost, reset, truncated, malformed, throttled, limited)",
    labelNames: ["proxy", "protocol", "outcome"],
    registers: [this.registry],
  });
  /** observed per request on the request path: counted into arrays, not prom-client's observe() */
  private readonly requestDuration = new DurationHistogram(
    "netimpair_request_duration_seconds",
    "The server's answer time of forwarded requests as the agent sees it (protocol proxies)",
    DELAY_BUCKETS_SECONDS,
  );
  private readonly datagramsTotal = new Counter({
    name: "netimpair_datagrams_total",
    help: "Datagrams of udp and dns proxies by direction and outcome (in: received from the sender's side, out: sent on, duplicated: copies made by duplicate)",
    labelNames: ["proxy", "direction", "outcome"],
    registers: [this.registry],
  });
  private readonly datagramsDropped = new Counter({
    name: "netimpair_datagrams_dropped_total",
    help: "Datagrams of udp and dns proxies dropped inside the agent, by cause (loss, queue: tail drop over the bound, lose: a dns rule's answer, error, evicted: its flow closed)",
    labelNames: ["proxy", "direction", "cause"],
    registers: [this.registry],
  });
  private readonly tlsFailuresTotal = new Counter({
    name: "netimpair_tls_failures_total",
    help: "TLS failures of proxy connections, by side (client: a handshake with the agent; upstream: the agent's to the server)",
    labelNames: ["proxy", "side"],
    registers: [this.registry],
  });
  private readonly controlRequests = new Counter({ name: "netimpair_control_requests_total", help: "Control requests handled", labelNames: ["method", "outcome"], registers: [this.registry] });

  constructor(
    private readonly source: () => Iterable<MeteredProxy>,
    segmentsPerWrite: () => number = () => 1,
  ) {
    new Gauge({
      name: "netimpair_link_segments_per_write",
      help: "Segments a slow link may merge into one write now: 1 while the links are within the agent's linkWriteBudget (docs/profiles.md#write-moderation)",
      registers: [this.registry],
      collect() {
        this.set(segmentsPerWrite());
      },
    });
    // prom-client's registry reads any object with its metric shape (name, help, type, get)
    this.registry.registerMetric(this.requestDuration as unknown as Parameters<Registry["registerMetric"]>[0]);
    this.registry.registerMetric(this.delaySeconds as unknown as Parameters<Registry["registerMetric"]>[0]);
    collectDefaultMetrics({ register: this.registry, prefix: "" });
  }

  /** The delay histogram of one proxy and direction, bound once: observe(seconds). */
  delayObserver(proxy: string, direction: "up" | "down"): (seconds: number) => void {
    return this.delaySeconds.bind({ proxy, direction });
  }

  /** The duration histogram of one proxy, bound once: (seconds, count = 1) observes `count` requests. */
  requestTimer(proxy: string, protocol: string): (seconds: number, count?: number) => void {
    return this.requestDuration.bind({ proxy, protocol });
  }

  countRequest(method: string, outcome: string): void {
    this.controlRequests.inc({ method, outcome });
  }

  /** Folds every proxy's counters into the metrics. Call before a proxy is dropped, too. */
  sync(): void {
    this.connectionsActive.reset();
    this.impairmentActive.reset();
    this.queueBytes.reset();
    this.sharedLinks.reset();
    for (const p of this.source()) {
      const s = p.stats;
      const last = this.seen.get(p.key) ?? { connectionsTotal: 0, bytesUp: 0, bytesDown: 0, faults: {}, requests: {}, datagrams: {}, tlsFailures: { client: 0, upstream: 0 } };
      const grow = (now: number, before: number) => Math.max(0, now - before);
      this.connectionsTotal.inc({ proxy: p.name }, grow(s.connectionsTotal, last.connectionsTotal));
      this.bytesTotal.inc({ proxy: p.name, direction: "up" }, grow(s.bytesUp, last.bytesUp));
      this.bytesTotal.inc({ proxy: p.name, direction: "down" }, grow(s.bytesDown, last.bytesDown));
      const faults: Record<string, number> = {};
      for (const kind of FAULT_KINDS) {
        const n = s.faults[kind] ?? 0;
        this.faultsTotal.inc({ proxy: p.name, fault: kind }, grow(n, last.faults[kind] ?? 0));
        faults[kind] = Math.max(n, last.faults[kind] ?? 0);
      }
      const requests: Record<string, number> = {};
      if (p.protocol !== "tcp") {
        for (const outcome of REQUEST_OUTCOMES) {
          const n = s.requests[outcome] ?? 0;
          this.requestsTotal.inc({ proxy: p.name, protocol: p.protocol, outcome }, grow(n, last.requests[outcome] ?? 0));
          requests[outcome] = Math.max(n, last.requests[outcome] ?? 0);
        }
      }
      const datagrams: Record<string, number> = {};
      const d = s.datagrams;
      if (d !== undefined) {
        const count = (key: string, n: number, add: (delta: number) => void): void => {
          add(grow(n, last.datagrams[key] ?? 0));
          datagrams[key] = Math.max(n, last.datagrams[key] ?? 0);
        };
        for (const direction of ["up", "down"] as const) {
          for (const outcome of ["in", "out", "duplicated"] as const) {
            count(`${direction}|${outcome}`, d[direction][outcome], (delta) => this.datagramsTotal.inc({ proxy: p.name, direction, outcome }, delta));
          }
          for (const [cause, n] of Object.entries(d[direction].dropped)) {
            count(`${direction}|dropped|${cause}`, n, (delta) => this.datagramsDropped.inc({ proxy: p.name, direction, cause }, delta));
          }
        }
      }
      const tls = s.tlsFailures ?? { client: 0, upstream: 0 };
      const tlsFailures = { client: Math.max(tls.client, last.tlsFailures.client), upstream: Math.max(tls.upstream, last.tlsFailures.upstream) };
      // only once one happened: a proxy without TLS failures gets no series
      for (const side of ["client", "upstream"] as const) if (tls[side] > 0) this.tlsFailuresTotal.inc({ proxy: p.name, side }, grow(tls[side], last.tlsFailures[side]));
      this.seen.set(p.key, {
        datagrams,
        requests,
        tlsFailures,
        connectionsTotal: Math.max(s.connectionsTotal, last.connectionsTotal),
        bytesUp: Math.max(s.bytesUp, last.bytesUp),
        bytesDown: Math.max(s.bytesDown, last.bytesDown),
        faults,
      });
      this.connectionsActive.set({ proxy: p.name }, s.connectionsActive);
      this.queueBytes.set({ proxy: p.name, direction: "up" }, s.queueUp);
      this.queueBytes.set({ proxy: p.name, direction: "down" }, s.queueDown);
      this.sharedLinks.set({ proxy: p.name }, s.sharedLinks ?? 0);
      if (p.profile !== null) this.impairmentActive.set({ proxy: p.name, profile: p.profile }, 1);
      if (p.toxics > 0) this.impairmentActive.set({ proxy: p.name, profile: TOXICS_PROFILE_LABEL }, 1);
    }
  }

  /** The proxy was deleted: every series labelled with it is dropped. */
  forget(proxy: string): void {
    this.connectionsActive.remove({ proxy });
    this.connectionsTotal.remove({ proxy });
    for (const direction of ["up", "down"]) {
      this.bytesTotal.remove({ proxy, direction });
      this.queueBytes.remove({ proxy, direction });
    }
    for (const fault of FAULT_KINDS) this.faultsTotal.remove({ proxy, fault });
    for (const direction of ["up", "down"]) {
      for (const outcome of ["in", "out", "duplicated"]) this.datagramsTotal.remove({ proxy, direction, outcome });
      for (const cause of ["loss", "queue", "lose", "error", "evicted"]) this.datagramsDropped.remove({ proxy, direction, cause });
    }
    for (const side of ["client", "upstream"]) this.tlsFailuresTotal.remove({ proxy, side });
    this.requestDuration.remove({ proxy });
    this.delaySeconds.remove({ proxy });
  }

  /** The Prometheus text exposition, counters brought up to date first. */
  async render(): Promise<{ contentType: string; body: string }> {
    this.sync();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
