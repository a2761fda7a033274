// One SIGINT to `netimpair run` without a terminal (a CI cancel): a command that traps it and
// exits leaves nothing of its process group behind when the runner exits (issue 24 item 4).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { alive, runLab, startRun, waitFor } from "./run-lab.js";

test("one SIGINT: the shell traps it and exits 7, its background sleep is gone when the runner exits 130", async () => {
  const l = await runLab();
  let sleepPid = 0;
  try {
    const scenario = await l.file("proxies: [pg]\nsteps:\n  - {at: 0s, apply: 3g}\n  - {at: 60s, apply: 2g}\n");
    const pidFile = join(l.dir, "sleep.pid");
    const r = startRun([scenario, "--agent", l.agent.url, "--", "sh", "-c", `trap "exit 7" INT; sleep 100 & echo $! > ${pidFile}; wait`]);
    await waitFor("the command's background sleep", () => existsSync(pidFile) && /^\d+\s*$/.test(textOf(pidFile)), 10_000);
    sleepPid = Number((await readFile(pidFile, "utf8")).trim());
    assert.ok(alive(sleepPid));
    r.child.kill("SIGINT");
    await r.exited;
    // checked as soon as the runner is gone
    const left = alive(sleepPid);
    const res = await r.done;
    assert.equal(res.code, 130, res.stderr);
    assert.equal(left, false, `sleep ${sleepPid} outlived the runner (reparented, still running)`);
    await waitFor("the revert", async () => (await l.impairment()) === null, 5000);
  } finally {
    if (sleepPid > 0 && alive(sleepPid)) process.kill(sleepPid, "SIGKILL");
    await l.close();
  }
});

/** The file's text, or "" while it is not written yet. */
function textOf(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}
