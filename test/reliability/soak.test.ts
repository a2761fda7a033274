// The 2-minute soak, as part of the suite: the soak program (test/soak/main.ts) run as a child,
// its report checked: traffic flowed, no errors beyond the injected ones, the agent's fds and
// timers back at their start, its RSS bounded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { SoakReport } from "../soak/main.js";

const SOAK = fileURLToPath(new URL("../soak/main.js", import.meta.url));
const MINUTES = Number(process.env.SOAK_MINUTES ?? 2);

test(`soak: ${MINUTES} minutes of mixed traffic and random profile changes`, { timeout: (MINUTES * 60 + 90) * 1000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "netimpair-soak-"));
  try {
    const json = join(dir, "report.json");
    const child = spawn(process.execPath, [SOAK, "--minutes", String(MINUTES), "--json", json], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.on("error", () => {});
    const [code] = (await once(child, "exit")) as [number | null];
    const report = JSON.parse(readFileSync(json, "utf8")) as SoakReport;
    console.log(out.split("\n").filter((l) => l.startsWith("soak ")).join("\n"));
    assert.equal(code, 0, `the soak held:\n${out}`);
    assert.ok(report.ok, report.problems.join("; "));
    assert.ok(report.connections > 1000, `traffic flowed (${report.connections} connections)`);
    assert.ok(report.profileChanges >= MINUTES * 10, `profiles changed along the way (${report.profileChanges})`);
    assert.equal(report.unexpectedErrors, 0, report.unexpected.join("; "));
    assert.ok(report.end.fds <= report.start.fds, `fds back to the start (${report.start.fds} -> ${report.end.fds})`);
    assert.ok(report.end.timers <= report.start.timers, `timers back to the start (${report.start.timers} -> ${report.end.timers})`);
    assert.ok(report.peakRssMiB - report.start.rssMiB < 96, `RSS bounded (${report.start.rssMiB} -> peak ${report.peakRssMiB} MiB)`);
    assert.ok(report.samples.length >= 6, "figures sampled over time");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
