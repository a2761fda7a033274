// A second Ctrl-C quits `netimpair run` at once, and takes with it a command that ignores
// SIGINT and SIGTERM: its process group is killed (SIGKILL) before the runner exits.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { alive, runLab, startRun, waitFor } from "./run-lab.js";

test("a second SIGINT kills a command that ignores SIGINT and SIGTERM (and its child) before the runner exits", async () => {
  const l = await runLab();
  const pids: number[] = [];
  try {
    const scenario = await l.file("proxies: [pg]\nsteps:\n  - {at: 0s, apply: 3g}\n  - {at: 60s, apply: 2g}\n");
    const pidFile = join(l.dir, "stubborn.pid");
    // the command and a child of its own both ignore the polite signals
    const stubborn = `process.on('SIGINT',()=>{}); process.on('SIGTERM',()=>{}); setInterval(()=>{},1000);`;
    const script = await l.file(
      [
        `import { spawn } from "node:child_process";`,
        `import { writeFileSync } from "node:fs";`,
        `${stubborn}`,
        `const kid = spawn(process.execPath, ["-e", ${JSON.stringify(stubborn)}], { stdio: "ignore" });`,
        `kid.on("spawn", () => writeFileSync(${JSON.stringify(pidFile)}, process.pid + " " + kid.pid));`,
      ].join("\n"),
      "mjs",
    );
    const r = startRun([scenario, "--agent", l.agent.url, "--", process.execPath, script]);
    await waitFor("the command's pid file", () => existsSync(pidFile), 10_000);
    pids.push(...(await readFile(pidFile, "utf8")).trim().split(" ").map(Number));
    assert.equal(pids.length, 2);
    assert.ok(pids.every(alive));
    r.child.kill("SIGINT");
    await waitFor("the runner stopping the command", () => /stopping .* \(SIGINT\)/.test(r.stderr()), 5000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(pids.every(alive), "the command ignores SIGINT: it is still there after the first Ctrl-C");
    r.child.kill("SIGINT");
    await r.exited;
    // checked as soon as the runner is gone: nothing of the command may outlive it
    const survivors = pids.filter(alive);
    const res = await r.done;
    assert.equal(res.code, 130, res.stderr);
    assert.deepEqual(survivors, [], `still running after the runner exited: ${survivors.join(", ")}`);
    assert.match(res.stderr, /second SIGINT: killing .* \(SIGKILL\) and quitting/);
    await waitFor("the revert", async () => (await l.impairment()) === null, 5000);
  } finally {
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone, as it should be
      }
    }
    await l.close();
  }
});
