// `profiles show NAME` prints a profile file: saved and applied with `apply FILE`, every built-in
// profile resolves to the same spec as the profile itself (docs/shared-links.md promises it).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readProfileArg } from "../../src/cli/commands/apply.js";
import { runCli } from "../support/cli.js";
import { spawnCliAgent, type CliAgent } from "../support/cli-agent.js";
import { connect, type ControlClient } from "../../src/control/client.js";

const PROTOCOLS = ["tcp", "redis", "http", "grpc", "postgres", "mysql", "dns"];

let agent: CliAgent;
let ctl: ControlClient;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "netimpair-roundtrip-"));
  // nothing connects: the upstream is never dialled
  const proxies = PROTOCOLS.flatMap((p) => ["--proxy", `${p}=127.0.0.1:0,127.0.0.1:9,${p}`]);
  agent = await spawnCliAgent({ args: ["--control", "127.0.0.1:0", ...proxies], control: null, logLevel: "silent", captureLogs: false });
  ctl = await connect(agent.url);
});

after(async () => {
  await ctl?.close();
  await agent?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("every built-in profile's `profiles show` output applies back (apply FILE) and resolves to the same spec", async () => {
  const names = await ctl.profiles();
  assert.ok(names.length >= 20, `built-in profiles: ${names.join(", ")}`);
  for (const name of names) {
    const shown = await runCli(["--agent", agent.url, "profiles", "show", name]);
    assert.equal(shown.code, 0, `${name}: ${shown.stderr}`);
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, shown.stdout);
    const profile = await ctl.profile(name);
    // the file as `apply FILE` reads and sends it (the CLI's own reader; the second test runs the CLI)
    const read = await readProfileArg(file);
    assert.ok("spec" in read);
    // the proxy whose protocol takes its rules (request rules, dns rules; a link profile: tcp, the first)
    let proxy: string | null = null;
    for (const p of PROTOCOLS) {
      const ok = await ctl.apply(p, undefined, { spec: read.spec }).then(
        () => true,
        () => false,
      );
      await ctl.clear(p);
      if (ok) {
        proxy = p;
        break;
      }
    }
    assert.ok(proxy !== null, `${name}: no proxy takes the shown profile:\n${shown.stdout}`);
    await ctl.apply(proxy, undefined, { spec: read.spec });
    const info = (await ctl.proxies()).find((p) => p.name === proxy)!;
    if (name === "clean" && info.impairment === null) continue; // applying clean clears (as `apply clean` does)
    assert.equal(info.impairment?.profile, name);
    assert.deepEqual(info.impairment?.spec, profile.spec, `${name}: the shown profile resolves to the same spec`);
    await ctl.clear(proxy);
  }
});

test("a request rule's after and times show as counts, its delay and probability with units; the CLI applies the file", async () => {
  await ctl.defineProfile({
    name: "rt-rules",
    requests: [{ match: { command: "GET" }, delay: "250ms", after: 2, times: 3, probability: "50%" }],
  });
  const shown = await runCli(["--agent", agent.url, "profiles", "show", "rt-rules"]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /^ {4}after: 2$/m);
  assert.match(shown.stdout, /^ {4}times: 3$/m);
  assert.match(shown.stdout, /^ {4}delay: 250ms$/m);
  assert.match(shown.stdout, /^ {4}probability: 50%$/m);
  const file = join(dir, "rt-rules.yaml");
  await writeFile(file, shown.stdout);
  const applied = await runCli(["--agent", agent.url, "apply", file, "--proxy", "redis"]);
  assert.equal(applied.code, 0, applied.stderr);
  const info = (await ctl.proxies()).find((p) => p.name === "redis")!;
  assert.deepEqual(info.impairment?.spec, (await ctl.profile("rt-rules")).spec);
  await ctl.clear("redis");
});
