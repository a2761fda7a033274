// iperf3 (the Debian package) as the bulk load: a one-shot server as the upstream, a client
// through the relay; bytes and seconds from its JSON report.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { freePort } from "../../support/net.js";

/** True when an iperf3 binary is on the PATH. */
export function haveIperf3(): boolean {
  return spawnSync("iperf3", ["--version"], { stdio: "ignore" }).status === 0;
}

export interface IperfServer {
  port: number;
  close(): Promise<void>;
}

/** `iperf3 -s -1` on a free loopback port, once it listens (`oneShot` false: it serves test after test). */
export async function iperfServer(oneShot = true): Promise<IperfServer> {
  const port = await freePort();
  const child: ChildProcess = spawn("iperf3", ["-s", ...(oneShot ? ["-1"] : []), "--forceflush", "-B", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
  child.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`iperf3 -s did not listen: ${out}`)), 5000);
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      if (out.includes("Server listening")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => reject(new Error(`iperf3 -s exited (${code}): ${out}`)));
  });
  return {
    port,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = once(child, "exit");
      child.kill("SIGTERM");
      await gone;
    },
  };
}

export interface IperfResult {
  bytes: number;
  seconds: number;
}

/**
 * `iperf3 -c` to 127.0.0.1:port for `seconds` (reverse: the server sends); received bytes and
 * time. `bps`: the sender paced at that rate (`-b`), else flat out.
 */
export async function iperfClient(port: number, seconds: number, reverse: boolean, bps: number | null = null): Promise<IperfResult> {
  const args = ["-c", "127.0.0.1", "-p", String(port), "-t", String(seconds), "-J", ...(reverse ? ["-R"] : []), ...(bps !== null ? ["-b", String(bps)] : [])];
  const child = spawn("iperf3", args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr.resume();
  const [code] = (await once(child, "exit")) as [number | null];
  const report = JSON.parse(out) as { error?: string; end?: { sum_received?: { bytes: number; seconds: number } } };
  if (code !== 0 || report.error || !report.end?.sum_received) throw new Error(`iperf3 ${args.join(" ")}: ${report.error ?? `exit ${code}`}`);
  return { bytes: report.end.sum_received.bytes, seconds: report.end.sum_received.seconds };
}
