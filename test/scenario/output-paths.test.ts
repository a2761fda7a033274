// `netimpair run` checks every output file (--report, --junit, --summary, --html) before anything
// starts: a typo in a path is exit 2 naming the flag and the path, and the command never runs;
// a folder that does not exist yet is created.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run, runLab } from "./run-lab.js";

test("an output path that cannot be written is exit 2 naming the flag and the path, before anything is applied or run", async () => {
  const l = await runLab();
  try {
    const scenario = await l.file("proxies: [pg]\nsteps:\n  - {at: 0s, apply: 3g}\n");
    const marker = join(l.dir, "ran.txt");
    const command = ["--", process.execPath, "-e", `require("fs").writeFileSync(${JSON.stringify(marker)}, "x")`];
    const plainFile = join(l.dir, "plain.txt");
    await writeFile(plainFile, "a file, not a folder\n");
    const folder = join(l.dir, "a-folder");
    await mkdir(folder);
    const cases: [string, string, RegExp][] = [
      ["--junit", join(plainFile, "junit.xml"), /is a file, not a folder/],
      ["--report", join(plainFile, "deeper", "report.json"), /is a file, not a folder/],
      ["--summary", folder, /is a folder/],
      ["--html", join(plainFile, "x.html"), /is a file, not a folder/],
    ];
    for (const [flag, path, why] of cases) {
      const res = await run([scenario, "--agent", l.agent.url, flag, path, ...command]);
      assert.equal(res.code, 2, `${flag} ${path}: ${res.stderr}`);
      assert.ok(res.stderr.includes(`${flag} ${path}: `), `${flag} and its path are named: ${res.stderr}`);
      assert.match(res.stderr, why);
      assert.equal(existsSync(marker), false, `${flag}: the command never ran`);
      assert.doesNotMatch(res.stderr, /step 1/, "no step was applied");
    }
    // nothing ever reached the agent: not one control request, no impairment
    const reached = l.agent.logs().filter((line) => line.event === "impairment.change" || line.event === "control.request");
    assert.deepEqual(reached, []);
    assert.equal(await l.impairment(), null);
    // one file named by two flags would be written twice: refused as well
    const twice = await run([scenario, "--agent", l.agent.url, "--report", join(l.dir, "same.out"), "--junit", join(l.dir, "same.out"), ...command]);
    assert.equal(twice.code, 2, twice.stderr);
    assert.match(twice.stderr, /--junit .*same\.out: the same file as --report/);
    assert.equal(existsSync(marker), false);
  } finally {
    await l.close();
  }
});

test("an output folder that does not exist yet is created, and every report lands in it", async () => {
  const l = await runLab();
  try {
    const scenario = await l.file("name: nested\nproxies: [pg]\nsteps:\n  - {at: 0s, apply: 3g}\n");
    const out = join(l.dir, "out", "ci", "run-1");
    const files = { report: join(out, "report.json"), junit: join(out, "junit.xml"), summary: join(l.dir, "summaries", "step.md"), html: join(out, "deep", "report.html") };
    const res = await run([scenario, "--agent", l.agent.url, "--report", files.report, "--junit", files.junit, "--summary", files.summary, "--html", files.html, "--", process.execPath, "-e", "setTimeout(() => {}, 200)"]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal((JSON.parse(await readFile(files.report, "utf8")) as { scenario: string }).scenario, "nested");
    assert.match(await readFile(files.junit, "utf8"), /<testsuites name="netimpair" tests="1"/);
    assert.match(await readFile(files.summary, "utf8"), /^## netimpair run: nested/);
    assert.match(await readFile(files.html, "utf8"), /<html/i);
  } finally {
    await l.close();
  }
});
