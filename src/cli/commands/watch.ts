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

interface WatchFlags {
  interval: string;
  count?: string;
}

interface Session {
  target: AgentTarget;
  client: ControlClient | null;
  last: { at: number; proxies: ProxyInfo[] } | null;
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

export function registerWatch(program: Command): void {
  program
    .command("watch")
    .description("status, refreshed each second until Ctrl-C")
    .option("--interval <duration>", "time between refreshes", "1s")
    .option("--count <n>", "stop after this many refreshes")
    .action(async (flags: WatchFlags, cmd: Command) => {
      const intervalMs = durationFlag("--interval", flags.interval);
      const count = flags.count !== undefined ? positiveIntFlag("--count", flags.count) : Infinity;
      const ctx = await fleetContext(cmd);
      const sessions: Session[] = ctx.targets.map((target) => ({ target, client: null, last: null }));
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
