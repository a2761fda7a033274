// Fault events as log lines, aggregated so a busy impaired proxy cannot flood the log:
// - loss, corrupt and stall (they fire per segment or chunk) are summed per connection and
//   fault, and logged once a second while they go on ("faults injected", with count and
//   windowMs), and once more, for what is left, when the connection closes;
// - reset, half_open, refuse and limit (once per connection each) are logged as they happen,
//   up to MAX_ONE_SHOT_LINES_PER_SECOND per proxy; past that they are counted and logged once a
//   second as one "faults suppressed" line per proxy and fault.
// Every fault still counts in /metrics and reaches events.subscribe subscribers one by one.
import type { FaultKind } from "../control/protocol.js";
import type { FaultEvent } from "../relay/proxy.js";
import type { Logger } from "./log.js";

export const FAULT_LOG_INTERVAL_MS = 1000;
export const MAX_ONE_SHOT_LINES_PER_SECOND = 20;

const SUMMED: ReadonlySet<FaultKind> = new Set<FaultKind>(["loss", "corrupt", "stall"]);

interface Summed {
  proxy: string;
  conn: string;
  client: string;
  fault: FaultKind;
  count: number;
  events: number;
  detail: string;
  since: number;
}

export class FaultLog {
  /** `${proxy}\0${conn}\0${fault}` -> what is summed since the last line */
  private readonly summed = new Map<string, Summed>();
  /** proxy -> one-shot lines written this second, and what was suppressed */
  private readonly oneShot = new Map<string, { lines: number; suppressed: Map<FaultKind, number> }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly log: Logger) {}

  record(proxy: string, ev: FaultEvent): void {
    const count = ev.count ?? 1;
    if (SUMMED.has(ev.kind)) {
      const key = `${proxy}\0${ev.conn}\0${ev.kind}`;
      const s = this.summed.get(key);
      if (s) {
        s.count += count;
        s.events++;
        s.detail = ev.detail;
      } else {
        this.summed.set(key, { proxy, conn: ev.conn, client: ev.client, fault: ev.kind, count, events: 1, detail: ev.detail, since: performance.now() });
      }
    } else {
      let o = this.oneShot.get(proxy);
      if (!o) this.oneShot.set(proxy, (o = { lines: 0, suppressed: new Map() }));
      if (o.lines < MAX_ONE_SHOT_LINES_PER_SECOND) {
        o.lines++;
        this.log.info({ event: "fault", proxy, conn: ev.conn, client: ev.client, fault: ev.kind, count, detail: ev.detail }, "fault injected");
      } else {
        o.suppressed.set(ev.kind, (o.suppressed.get(ev.kind) ?? 0) + count);
      }
    }
    this.arm();
  }

  /** The connection closed: what is summed for it is logged now. */
  connectionClosed(proxy: string, conn: string): void {
    for (const fault of SUMMED) {
      const key = `${proxy}\0${conn}\0${fault}`;
      const s = this.summed.get(key);
      if (s) {
        this.write(s);
        this.summed.delete(key);
      }
    }
  }

  /** Logs everything pending and stops the timer (agent shutdown). */
  close(): void {
    this.flush();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.flush(), FAULT_LOG_INTERVAL_MS);
    this.timer.unref();
  }

  private flush(): void {
    for (const s of this.summed.values()) this.write(s);
    this.summed.clear();
    for (const [proxy, o] of this.oneShot) {
      for (const [fault, count] of o.suppressed) {
        this.log.info({ event: "fault.suppressed", proxy, fault, count, windowMs: FAULT_LOG_INTERVAL_MS }, `faults suppressed: more than ${MAX_ONE_SHOT_LINES_PER_SECOND} lines a second`);
      }
    }
    this.oneShot.clear();
    // idle: no timer left behind
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private write(s: Summed): void {
    const windowMs = Math.round(performance.now() - s.since);
    this.log.info({ event: "fault", proxy: s.proxy, conn: s.conn, client: s.client, fault: s.fault, count: s.count, events: s.events, windowMs, detail: s.detail }, "faults injected");
  }
}
