// A process's CPU time and resident memory as the kernel counts them (/proc/PID/stat, status):
// the same source for every relay, whatever runs inside it.
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";

let ticksPerSecond: number | null = null;

function clockTicks(): number {
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

export interface ProcUsage {
  /** user + system CPU time, microseconds */
  cpuUs: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  /** resident set size, bytes */
  rss: number;
}

/** CPU time (all threads: main, GC helpers, libuv) and RSS of process `pid` now. */
export function procUsage(pid: number): ProcUsage {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // fields after the command name (which may hold spaces) start at state (field 3)
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const perTick = 1e6 / clockTicks();
  const user = Number(fields[11]) * perTick; // utime, field 14
  const system = Number(fields[12]) * perTick; // stime, field 15
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuUs: user + system, cpuUserUs: user, cpuSystemUs: system, rss: rssKb * 1024 };
}
