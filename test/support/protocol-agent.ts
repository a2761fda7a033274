// An agent started the way users start it: `netimpair agent` (the CLI) in its own process, with
// proxies from --proxy flags, and a control client connected to it. Close() stops it (SIGTERM).
import { spawn, type ChildProcess } from "node:child_process";
import { connect, type ControlClient } from "../../src/control/client.js";
import type { ProxyInfo } from "../../src/control/protocol.js";
import { CLI_PATH } from "./cli.js";

export interface CliAgent {
  child: ChildProcess;
  url: string;
  ctl: ControlClient;
  /** listen port of each proxy, by name */
  port(name: string): number;
  proxies(): Promise<ProxyInfo[]>;
  /** what the agent wrote to stderr so far (its pino log with --log-level info) */
  stderr(): string;
  close(): Promise<void>;
}

/** Starts `netimpair agent --control 127.0.0.1:0 --proxy ...` (flags as given: NAME=LISTEN,UPSTREAM[,PROTOCOL]). */
export async function startCliAgent(proxyFlags: string[], extra: string[] = []): Promise<CliAgent> {
  const args = [CLI_PATH, "agent", "--control", "127.0.0.1:0", ...proxyFlags.flatMap((p) => ["--proxy", p]), ...extra];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  child.stdout!.on("data", (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no control URL within 10 s; output: ${err}`)), 10_000);
    const check = (): void => {
      const m = /control (wss?:\/\/\S+)/.exec(err) ?? /"url":"(wss?:\/\/[^"]+)"/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stderr!.on("data", check);
    child.stdout!.on("data", check);
    child.once("exit", (code) => reject(new Error(`agent exited (${code}) before serving: ${err}`)));
  });
  const ctl = await connect(url);
  let listed = await ctl.proxies();
  return {
    child,
    url,
    ctl,
    port(name) {
      const p = listed.find((x) => x.name === name);
      if (!p) throw new Error(`no proxy ${name}`);
      return Number(p.listen.slice(p.listen.lastIndexOf(":") + 1));
    },
    async proxies() {
      listed = await ctl.proxies();
      return listed;
    },
    stderr: () => err,
    async close() {
      await ctl.close().catch(() => undefined);
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}
