// `netimpair agent --profiles DIR`: a folder that is not there is refused at start (exit 2 naming
// the flag and the path); a profile file that fails to load is skipped, and asking for it later
// says it failed to load and why, not just "not found". Real agent and CLI processes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCliAgent } from "../support/cli-agent.js";
import { runCli } from "../support/cli.js";
import { echoServer } from "../support/net.js";

test("a missing --profiles folder (flag or config) is refused at start: exit 2 naming it and the path", async () => {
  const dir = await mkdtemp(join(tmpdir(), "netimpair-profiles-dir-"));
  try {
    const missing = join(dir, "no-such-profiles");
    const r = await runCli(["agent", "--control", "127.0.0.1:0", "--profiles", missing], { timeoutMs: 10_000 });
    assert.equal(r.code, 2, `${r.stderr} (a missing folder must not start an agent)`);
    assert.ok(r.stderr.includes(`--profiles ${JSON.stringify(missing)}: no such directory ${missing}`), r.stderr);

    await writeFile(join(dir, "agent.yaml"), "profiles: ./nothere\n");
    const c = await runCli(["agent", "--control", "127.0.0.1:0", "--config", join(dir, "agent.yaml")], { timeoutMs: 10_000 });
    assert.equal(c.code, 2, c.stderr);
    assert.ok(c.stderr.includes(`profiles: "./nothere": no such directory ${join(dir, "nothere")}`), c.stderr);

    await writeFile(join(dir, "a-file"), "not a folder\n");
    const f = await runCli(["agent", "--control", "127.0.0.1:0", "--profiles", join(dir, "a-file")], { timeoutMs: 10_000 });
    assert.equal(f.code, 2, f.stderr);
    assert.match(f.stderr, /--profiles ".*a-file": .*a-file is not a directory/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a profile file that failed to load: the agent says so at start, and apply/show say why it is not found", async () => {
  const dir = await mkdtemp(join(tmpdir(), "netimpair-profiles-dir-"));
  const echo = await echoServer();
  const profiles = join(dir, "profiles");
  await mkdir(profiles);
  await writeFile(join(profiles, "bad.yaml"), "description: broken\ndown:\n  delay: soon\n");
  await writeFile(join(profiles, "fine.yaml"), "down: {delay: 5ms}\n");
  const agent = await startCliAgent(["--profiles", profiles, "--proxy", `pg=127.0.0.1:0,${echo.address}`]);
  try {
    const at = ["--agent", agent.url];
    const problem = `${join(profiles, "bad.yaml")}:3: down.delay: `;
    // the start says so on stderr, where a person running it looks (not only in the JSON log)
    for (let waited = 0; !agent.stderr().includes("profile skipped") && waited < 3000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    assert.ok(agent.stderr().includes(`profile skipped: ${problem}`), agent.stderr());

    const ap = await runCli([...at, "apply", "bad", "--proxy", "pg"]);
    assert.equal(ap.code, 1, ap.stderr);
    assert.ok(ap.stderr.includes(`profile "bad" not found: its file failed to load: ${problem}`), ap.stderr);
    assert.match(ap.stderr, /"soon"/);

    const show = await runCli([...at, "profiles", "show", "bad"]);
    assert.equal(show.code, 1, show.stderr);
    assert.ok(show.stderr.includes(`its file failed to load: ${problem}`), show.stderr);

    // the good file of the same folder loaded; a name that never had a file still lists the known ones
    const ok = await runCli([...at, "apply", "fine", "--proxy", "pg"]);
    assert.equal(ok.code, 0, ok.stderr);
    const nf = await runCli([...at, "apply", "nosuch", "--proxy", "pg"]);
    assert.equal(nf.code, 1);
    assert.match(nf.stderr, /profile "nosuch" not found \(known: .*\bfine\b/);
  } finally {
    await agent.stop();
    await echo.close();
    await rm(dir, { recursive: true, force: true });
  }
});

/** A "billion laughs": 10 aliases of 10 aliases..., 10^6 items once expanded. */
const ALIAS_BOMB = [
  'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
  ...["b", "c", "d", "e", "f"].map((k, i) => `${k}: &${k} [${Array(10).fill(`*${"abcdef"[i]}`).join(",")}]`),
  "",
].join("\n");

test("a YAML alias bomb in --profiles is skipped naming the file (the agent starts); apply FILE refuses it without a stack trace", async () => {
  const dir = await mkdtemp(join(tmpdir(), "netimpair-profiles-dir-"));
  const echo = await echoServer();
  const profiles = join(dir, "profiles");
  await mkdir(profiles);
  const bomb = join(profiles, "laughs.yaml");
  await writeFile(bomb, ALIAS_BOMB);
  await writeFile(join(profiles, "fine.yaml"), "down: {delay: 5ms}\n");
  const agent = await startCliAgent(["--profiles", profiles, "--proxy", `pg=127.0.0.1:0,${echo.address}`]);
  try {
    for (let waited = 0; !agent.stderr().includes("profile skipped") && waited < 3000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    assert.ok(agent.stderr().includes(`profile skipped: ${bomb}: refused: its aliases expand past 100`), agent.stderr());
    const at = ["--agent", agent.url];
    const ok = await runCli([...at, "apply", "fine", "--proxy", "pg"]);
    assert.equal(ok.code, 0, ok.stderr);
    const file = await runCli([...at, "apply", bomb, "--proxy", "pg"]);
    assert.equal(file.code, 2, file.stderr);
    assert.ok(file.stderr.includes(`${bomb}: refused: its aliases expand past 100 (an alias bomb`), file.stderr);
    assert.doesNotMatch(file.stderr, /\n\s+at /, "no stack trace");
  } finally {
    await agent.stop();
    await echo.close();
    await rm(dir, { recursive: true, force: true });
  }
});
