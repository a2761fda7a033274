// TLS: what terminating and originating TLS costs. One bulk stream through a relay that speaks
// TLS on both sides (the client verifies the relay, the relay verifies the TLS sink): a bare node
// TLS relay (tls.createServer + tls.connect + pipe, its own process) beside `netimpair agent` as
// users start it (a tcp proxy with tls.client {cert, key} and tls.upstream {ca}), with the same
// certificate, in one run. CPU per GB of the relay process from /proc.
// Goal: the agent within 1.15x of the bare TLS relay's CPU per GB.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import tls from "node:tls";
import type { AddressInfo } from "node:net";
import type { BenchContext } from "./lib/context.js";
import { procUsage } from "./lib/proc.js";
import { bulkWriter, sleep } from "./lib/sockets.js";
import { median, round } from "./lib/stats.js";
import { spawnCliAgent } from "../support/cli-agent.js";
import { workerFlags } from "./lib/ipc.js";
import { createCa, issue } from "../../src/tls/certificates.js";
import type { Row } from "./lib/report.js";

const HOUR = 3600_000;
const CHUNK = Buffer.alloc(64 * 1024, 0x5a);
const BARE = fileURLToPath(new URL("./lib/tls-relay-main.js", import.meta.url));

type Path = "bare TLS relay" | "agent TLS both sides";

interface Relay {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

interface Sample {
  gbps: number;
  cpuSecPerGB: number;
}

async function startBare(upstream: number, files: Files): Promise<Relay> {
  const child = spawn(process.execPath, [...workerFlags, BARE, String(upstream), files.cert, files.key, files.ca], { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = (await once(child.stdout!, "data")) as [Buffer];
  return {
    port: Number(line.toString().trim()),
    pid: child.pid!,
    stop: async () => {
      child.kill("SIGTERM");
      if (child.exitCode === null) await once(child, "exit");
    },
  };
}

async function startAgent(upstream: number, files: Files): Promise<Relay> {
  const agent = await spawnCliAgent({
    nodeFlags: workerFlags,
    args: ["--proxy", `bench=127.0.0.1:0,127.0.0.1:${upstream}`, "--proxy-tls", `bench=client.cert:${files.cert},client.key:${files.key},upstream.ca:${files.ca}`, "--state-dir", files.dir],
    logLevel: "warn",
    captureLogs: false,
  });
  return { port: agent.port("bench"), pid: agent.child.pid!, stop: () => agent.stop() };
}

interface Files {
  dir: string;
  cert: string;
  key: string;
  ca: string;
}

async function measure(relay: Relay, ca: string, sinkBytes: () => number, windowMs: number): Promise<Sample> {
  const s = tls.connect({ host: "127.0.0.1", port: relay.port, ca, servername: "localhost" });
  s.on("error", () => {});
  await once(s, "secureConnect");
  const writer = bulkWriter(s, CHUNK);
  await sleep(300); // warm up: JIT, socket buffers, TCP windows, TLS records
  const b0 = sinkBytes();
  const u0 = procUsage(relay.pid);
  const t0 = performance.now();
  await sleep(windowMs);
  const b1 = sinkBytes();
  const u1 = procUsage(relay.pid);
  const seconds = (performance.now() - t0) / 1000;
  writer.stop();
  s.destroy();
  const gb = (b1 - b0) / 1e9;
  return { gbps: gb / seconds, cpuSecPerGB: (u1.cpuUs - u0.cpuUs) / 1e6 / gb };
}

export async function tlsBench(ctx: BenchContext): Promise<void> {
  const rounds = ctx.quick ? 1 : 3;
  const windowMs = ctx.quick ? 1000 : 3000;
  const dir = mkdtempSync(join(tmpdir(), "netimpair-bench-tls-"));
  const now = Date.now();
  const ca = createCa("bench CA", new Date(now - HOUR), new Date(now + 24 * HOUR));
  const leaf = issue(ca, { names: ["localhost", "127.0.0.1"], notBefore: new Date(now - HOUR), notAfter: new Date(now + 24 * HOUR) });
  const files: Files = { dir, cert: join(dir, "leaf.pem"), key: join(dir, "leaf-key.pem"), ca: join(dir, "ca.pem") };
  writeFileSync(files.cert, leaf.cert);
  writeFileSync(files.key, leaf.key, { mode: 0o600 });
  writeFileSync(files.ca, ca.cert);
  // the TLS sink: reads and discards, counting bytes (in this process, not measured)
  let total = 0;
  const sink = tls.createServer({ cert: leaf.cert, key: leaf.key }, (s) => {
    s.on("error", () => {});
    s.on("data", (c: Buffer) => (total += c.length));
  });
  sink.listen(0, "127.0.0.1");
  await once(sink, "listening");
  const sinkPort = (sink.address() as AddressInfo).port;
  const samples = new Map<Path, Sample[]>();
  const paths: [Path, (up: number, f: Files) => Promise<Relay>][] = [
    ["bare TLS relay", startBare],
    ["agent TLS both sides", startAgent],
  ];
  try {
    // every round measures both, so the baseline is always measured in the same run
    for (let r = 0; r < rounds; r++) {
      for (const [name, start] of paths) {
        const relay = await start(sinkPort, files);
        try {
          const list = samples.get(name) ?? [];
          list.push(await measure(relay, ca.cert, () => total, windowMs));
          samples.set(name, list);
        } finally {
          await relay.stop();
        }
      }
    }
  } finally {
    sink.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const med = (p: Path, f: (s: Sample) => number): number => median((samples.get(p) ?? []).map(f));
  const range = (p: Path, f: (s: Sample) => number): string => {
    const xs = (samples.get(p) ?? []).map(f);
    return xs.length > 1 ? `${round(Math.min(...xs), 3)}-${round(Math.max(...xs), 3)}` : "";
  };
  const bareCpu = med("bare TLS relay", (s) => s.cpuSecPerGB);
  const rows: Row[] = paths.map(([p]) => ({
    path: p,
    "GB/s": round(med(p, (s) => s.gbps), 3),
    "GB/s range": range(p, (s) => s.gbps),
    "CPU s/GB": round(med(p, (s) => s.cpuSecPerGB), 3),
    "CPU s/GB range": range(p, (s) => s.cpuSecPerGB),
    "CPU x bare": round(med(p, (s) => s.cpuSecPerGB) / bareCpu, 3),
  }));
  const ratio = med("agent TLS both sides", (s) => s.cpuSecPerGB) / bareCpu;
  ctx.results.table("tls", {
    title: "TLS on both sides: one bulk stream (client -> relay -> TLS sink, 64 KiB writes)",
    columns: ["path", "GB/s", "GB/s range", "CPU s/GB", "CPU s/GB range", "CPU x bare"],
    rows,
    notes: [
      `median of ${rounds} round(s) of ${windowMs} ms per path (range = min-max); GB = 1e9 bytes; both relays verify the sink's certificate and serve the same ECDSA P-256 certificate`,
      "bare TLS relay = tls.createServer + tls.connect + pipe in its own process; agent = `netimpair agent --proxy bench=... --proxy-tls bench=client.cert:...,client.key:...,upstream.ca:...` (a tcp proxy)",
      "CPU s/GB = the relay process's user + system time (/proc/PID/stat, all threads) per GB; CPU x bare = this path's CPU s/GB over the bare TLS relay's (below 1 = cheaper)",
      `goal: agent within 1.15x of the bare TLS relay's CPU per GB: ${round(ratio, 3)}x ${ratio <= 1.15 ? "MET" : "MISSED"}`,
    ],
  });
  ctx.results.figure("tls", "agentCpuOverBare", round(ratio, 4));
  ctx.results.figure("tls", "samples", Object.fromEntries(samples));
}
