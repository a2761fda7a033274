// Runs every compiled test file (dist/test/**/*.test.js, benchmarks and soak excluded)
// with node's built-in runner. Node 20 expands no globs, so the list is built here.
// Usage: node scripts/run-tests.mjs [substring ...]   (filters files by substring)
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";

const root = "dist/test";
const skipDirs = new Set(["bench", "soak", "support"]);
function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (!skipDirs.has(name)) out.push(...walk(p));
    } else if (name.endsWith(".test.js")) out.push(p);
  }
  return out;
}
const filters = process.argv.slice(2);
const files = walk(root).sort().filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error("run-tests: no test files found under " + root);
  process.exit(1);
}
// An agent that makes its CA without --state-dir keeps it under $XDG_STATE_HOME/netimpair: the
// suite's agents get a state directory of their own, so no test writes into the user's home.
const state = mkdtempSync(join(tmpdir(), "netimpair-test-state-"));
const env = { ...process.env, XDG_STATE_HOME: state };
const child = spawn(process.execPath, ["--test", "--test-reporter=spec", ...files], { stdio: "inherit", env });
child.on("exit", (code, signal) => {
  rmSync(state, { recursive: true, force: true });
  process.exit(code ?? (signal ? 1 : 0));
});
