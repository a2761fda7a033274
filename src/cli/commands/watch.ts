// `netimpair watch`: the status table refreshed each second (screen cleared on a TTY), until Ctrl-C.
// One control connection per agent stays open; a lost agent is retried at the next refresh.
import type { Command } from "commander";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type ControlClient } from "../../control/client.js";
import type { ProxyInfo } from "../../control/protocol.js";
import { describeFailure, mapLimit, type AgentTarget } from "../fleet.js";
import { durationFlag, positiveIntFlag } from "../flags.js";
import { fleetContext } from "../globals.js";
import { ExitCode, failureLine, jsonDocument, type AgentOutcome } from "../output.js";
import { renderStatusTable, withThroughput, type ProxyStatus } from "../status-view.js";
import { ClientWindow } from "../../experiment/client-window.js";

interface WatchFlags {
  interval: string;
  count?: string;
  requests?: boolean;
}

/** With --requests: every request of each proxy, folded as `expect:` folds them, and the counts at the last refresh. */
interface RequestWatch {
  windows: Map<string, ClientWindow>;
  last: Map<string, { requests: number; retries: number; failed: number }>;
}

interface Session {
  target: AgentTarget;
  client: ControlClient | null;
  last: { at: number; proxies: ProxyInfo[] } | null;
  requests: RequestWatch | null;
}

async function sample(s: Session, timeoutMs: number): Promise<AgentOutcome<ProxyStatus[]>> {
  const { target } = s;
  if (target.unreachable !== undefined) return { agent: target.name, url: target.url, ok: false, error: target.unreachable };
  try {
    if (!s.client || !s.client.open) {
      s.client = await connect(target.url, {
        timeoutMs,
        bindToSession: false,
        ...(target.token !== undefined ? { token: target.token } : {}),
        ...(target.ca !== undefined ? { ca: target.ca } : {}),
      });
      if (s.requests !== null) {
        const w: RequestWatch = { windows: new Map(), last: new Map() };
        s.requests = w;
        await s.client.subscribe(["requests"], (n) => {
          if (n.topic !== "requests") return;
          let win = w.windows.get(n.proxy);
          if (win === undefined) w.windows.set(n.proxy, (win = new ClientWindow()));
          const d = n.data as Parameters<ClientWindow["add"]>[0];
          if (typeof d?.at === "number" && typeof d.client === "string") win.add(d);
        }, { requests: "all" });
      }
    }
    const proxies = await s.client.proxies();
    const at = performance.now();
    const result = withThroughput(s.last?.proxies ?? null, proxies, s.last ? at - s.last.at : 0);
    s.last = { at, proxies };
    return { agent: target.name, url: target.url, ok: true, result };
  } catch (err) {
    const c = s.client;
    s.client = null;
    s.last = null;
    if (c) await c.close();
    return { agent: target.name, url: target.url, ok: false, error: describeFailure(err) };
  }
}

/** One line per proxy with requests since the last refresh: requests, retries, failed, amplification. */
export function amplificationLines(agent: string, w: RequestWatch): string[] {
  const lines: string[] = [];
  for (const [proxy, win] of [...w.windows].sort(([a], [b]) => a.localeCompare(b))) {
    const now = win.counts;
    const before = w.last.get(proxy) ?? { requests: 0, retries: 0, failed: 0 };
    w.last.set(proxy, now);
    const requests = now.requests - before.requests;
    const retries = now.retries - before.retries;
    const failed = now.failed - before.failed;
    const amp = requests - retries > 0 ? (requests / (requests - retries)).toFixed(2) : "-";
    lines.push(`  ${agent} ${proxy}: ${requests} requests, ${failed} failed, ${retries} retries, amplification ${amp}x`);
  }
  return lines;
}

export function registerWatch(program: Command): void {
  program
    .command("watch")
    .description("status, refreshed each second until Ctrl-C")
    .option("--interval <duration>", "time between refreshes", "1s")
    .option("--count <n>", "stop after this many refreshes")
    .option("--requests", "also watch every request of the protocol proxies: live retry amplification per proxy (see docs/client-verdicts.md)")
    .action(async (flags: WatchFlags, cmd: Command) => {
      const intervalMs = durationFlag("--interval", flags.interval);
      const count = flags.count !== undefined ? positiveIntFlag("--count", flags.count) : Infinity;
      const ctx = await fleetContext(cmd);
      const watchRequests = flags.requests === true;
      const sessions: Session[] = ctx.targets.map((target) => ({ target, client: null, last: null, requests: watchRequests ? { windows: new Map(), last: new Map() } : null }));
      const tty = process.stdout.isTTY === true && !ctx.json;
      let stopped = false;
      const stop = (): void => {
        stopped = true;
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      let exit: number = ExitCode.Ok;
      try {
        for (let i = 0; i < count && !stopped; i++) {
          const started = performance.now();
          const outcomes = await mapLimit(sessions, ctx.concurrency, (s) => sample(s, ctx.timeoutMs));
          exit = outcomes.some((o) => !o.ok) ? ExitCode.Failed : ExitCode.Ok;
          if (ctx.json) {
            const doc = jsonDocument(outcomes);
            if (doc !== undefined) process.stdout.write(JSON.stringify(doc) + "\n");
            else for (const o of outcomes) if (!o.ok) process.stderr.write(failureLine(o) + "\n");
          } else {
            const ok = outcomes.flatMap((o) => (o.ok ? [{ agent: o.agent, proxies: o.result }] : []));
            const lines = [new Date().toISOString().replace("T", " ").slice(0, 19) + "  (Ctrl-C to stop)", renderStatusTable(ok)];
            for (const o of outcomes) if (!o.ok) lines.push(failureLine(o));
            if (watchRequests) {
              const amp = sessions.flatMap((s) => (s.requests !== null && s.client !== null ? amplificationLines(s.target.name, s.requests) : []));
              lines.push("retries since the last refresh:", ...(amp.length > 0 ? amp : ["  (no request on a protocol proxy)"]));
            }
            process.stdout.write((tty ? "\x1b[2J\x1b[H" : i > 0 ? "\n" : "") + lines.join("\n") + "\n");
          }
          if (i + 1 >= count) break;
          const wait = intervalMs - (performance.now() - started);
          const ac = new AbortController();
          const onStop = (): void => ac.abort();
          process.once("SIGINT", onStop);
          process.once("SIGTERM", onStop);
          await sleep(Math.max(0, wait), undefined, { signal: ac.signal }).catch(() => undefined);
          process.off("SIGINT", onStop);
          process.off("SIGTERM", onStop);
        }
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        await Promise.all(sessions.map((s) => s.client?.close()));
      }
      process.exitCode = stopped ? ExitCode.Ok : exit;
    });
}
