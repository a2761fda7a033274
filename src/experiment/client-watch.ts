// The runner's ear for `expect:`: it takes the `requests` events (subscribed with requests: "all")
// of the proxies the expectations name, one ClientWindow per proxy, and at the end gives the
// report's `clients` and `expectations`.
import type { EventNotification } from "../control/protocol.js";
import type { ClientExpectation, ClientStats, ExpectationResult } from "./client-types.js";
import { judgeClients } from "./client-verdicts.js";
import { ClientWindow, type SeenRequest } from "./client-window.js";

function isSeen(d: unknown): d is SeenRequest {
  if (typeof d !== "object" || d === null) return false;
  const r = d as Record<string, unknown>;
  return typeof r.client === "string" && typeof r.request === "string" && typeof r.outcome === "string" && typeof r.at === "number";
}

export class ClientWatch {
  private readonly windows = new Map<string, ClientWindow>();
  private listening = false;

  constructor(readonly expect: readonly ClientExpectation[]) {
    for (const e of expect) if (!this.windows.has(e.proxy)) this.windows.set(e.proxy, new ClientWindow());
  }

  /** The proxies whose requests are watched. */
  get proxies(): string[] {
    return [...this.windows.keys()];
  }

  /** From now on, events count (the impaired run; not the baseline). */
  begin(): void {
    this.listening = true;
  }

  /** Stops counting (the run ended). */
  end(): void {
    this.listening = false;
  }

  /** One control event; anything but a request of a watched proxy is ignored. */
  onEvent(n: EventNotification): void {
    if (!this.listening || n.topic !== "requests" || typeof n.proxy !== "string") return;
    const w = this.windows.get(n.proxy);
    if (w !== undefined && isSeen(n.data)) w.add(n.data);
  }

  /** The report's clients and expectations (call once, at the end). */
  result(): { clients: Record<string, ClientStats>; expectations: ExpectationResult[] } {
    const clients: Record<string, ClientStats> = {};
    for (const [proxy, w] of this.windows) clients[proxy] = w.stats();
    return { clients, expectations: judgeClients(this.expect, clients) };
  }
}
