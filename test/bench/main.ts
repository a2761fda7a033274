// Runs the benchmarks: all, or those named. `npm run bench -- [names...] [--quick] [--out FILE]
// [--profile]`. Prints a table per benchmark and writes every figure to bench-results.json.
// --profile writes a CPU profile of every relay process (workers and `netimpair agent`) into
// .scratch/prof/ (node --cpu-prof). --load runs a busy loop per core beside (at normal priority,
// in child processes) for the whole run: fidelity under CPU contention.
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Benchmark } from "./lib/context.js";
import { Results } from "./lib/report.js";
import { workerFlags } from "./lib/ipc.js";
import { throughput } from "./throughput.js";
import { rtt } from "./rtt.js";
import { scale } from "./scale.js";
import { shaping } from "./shaping.js";
import { fidelity } from "./fidelity.js";
import { control } from "./control.js";
import { sharing } from "./sharing.js";
import { shaped } from "./shaped.js";
import { startCpuLoad, type CpuLoad } from "./lib/cpu-load.js";
import { requests, requestsDb, requestsGrpc, requestsHttp } from "./requests.js";
import { udp } from "./udp.js";
import { tlsBench } from "./tls.js";

const BENCHMARKS: Record<string, Benchmark> = {
  throughput,
  rtt,
  scale,
  shaping,
  fidelity,
  control,
  sharing,
  shaped,
  requests,
  "requests-db": requestsDb,
  "requests-http": requestsHttp,
  "requests-grpc": requestsGrpc,
  udp,
  tls: tlsBench,
};
/** parts of another benchmark, run only when named */
const PARTS = new Set(["requests-db", "requests-http", "requests-grpc"]);

function usage(problem: string): never {
  console.error(`bench: ${problem}`);
  console.error(`usage: npm run bench -- [${Object.keys(BENCHMARKS).join(" | ")}]... [--quick] [--load] [--rounds N] [--out FILE] [--profile]`);
  process.exit(2);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let quick = false;
  let load = false;
  let rounds: number | undefined;
  let out = "bench-results.json";
  const names: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--quick") quick = true;
    else if (a === "--load") load = true;
    else if (a === "--rounds") {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v < 1) usage(`--rounds needs a whole number of rounds of at least 1, got ${JSON.stringify(args[i] ?? "")}`);
      rounds = v;
    }
    else if (a === "--profile") {
      const dir = resolve(".scratch/prof");
      mkdirSync(dir, { recursive: true });
      workerFlags.push("--cpu-prof", `--cpu-prof-dir=${dir}`);
    } else if (a === "--out") {
      const v = args[++i];
      if (!v) usage("--out needs a file name");
      out = v;
    } else if (a.startsWith("-")) usage(`unknown option ${JSON.stringify(a)}`);
    else if (!(a in BENCHMARKS)) usage(`unknown benchmark ${JSON.stringify(a)}`);
    else names.push(a);
  }
  const selected = names.length ? names : Object.keys(BENCHMARKS).filter((n) => !PARTS.has(n));
  const results = new Results(quick);
  const cpuLoad: CpuLoad | null = load ? startCpuLoad() : null;
  console.log(`netimpair benchmarks: ${selected.join(", ")}${quick ? " (quick)" : ""}${cpuLoad ? ` (competing load: ${cpuLoad.processes} busy loops)` : ""}`);
  let failed = 0;
  for (const name of selected) {
    const t0 = performance.now();
    try {
      await BENCHMARKS[name]!({ results, quick, load, ...(rounds !== undefined ? { rounds } : {}) });
    } catch (err) {
      failed++;
      const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
      console.error(`\n## ${name}: FAILED\n${msg}`);
      results.failed(name, msg);
    }
    results.timed(name, Math.round((performance.now() - t0) / 100) / 10);
    results.write(out); // after each, so a later crash keeps what was measured
  }
  cpuLoad?.stop();
  console.log(`\nwrote ${out}`);
  process.exit(failed ? 1 : 0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
