// Config and profile fuzzing: malformed YAML, wrong units, unknown fields, cycles in extends,
// ports in use, unresolvable upstreams. Each gives a clear error naming the file (or request
// field), the field and the value; a running agent asked to take such a thing keeps its state.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import net from "node:net";
import { once } from "node:events";
import { loadAgentConfig, ProfileRegistry, startAgent, type AgentFlags } from "../../src/index.js";
import { echoServer } from "../support/net.js";
import { RawRpc } from "../support/rpc.js";
import { seededRandom } from "../support/fuzz-frames.js";

const flags = (config: string): AgentFlags => ({ config, proxy: [], label: [], allowOrigin: [] });

async function configError(dir: string, name: string, yaml: string): Promise<string> {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  try {
    await loadAgentConfig(flags(file));
  } catch (err) {
    return (err as Error).message;
  }
  return "";
}

test("agent config: every malformed file gets one clear error naming file, field and value", async () => {
  const dir = mkdtempSync(join(tmpdir(), "netimpair-cfg-"));
  try {
    const cases: [string, RegExp[]][] = [
      ["control: [unclosed\n", [/not valid YAML/]],
      ["- just\n- a list\n", [/expected a mapping/]],
      ["contrl: 127.0.0.1:8474\n", [/contrl: unknown setting/, /127\.0\.0\.1:8474/]],
      ["control: 127.0.0.1:99999\n", [/control:/, /99999/]],
      ["proxies:\n  - {name: pg, listen: 127.0.0.1:0, upstream: 127.0.0.1:5432, maxConnections: -1}\n", [/proxies\[0\]\.maxConnections/, /-1/]],
      ["proxies:\n  - {name: 'p g', listen: 127.0.0.1:0, upstream: x:1}\n", [/proxies\[0\]\.name/, /p g/]],
      ["proxies:\n  - {name: pg, listen: nowhere, upstream: x:1}\n", [/proxies\[0\]\.listen/, /nowhere/]],
      ["proxies:\n  - {name: pg, listen: 127.0.0.1:0, upstream: x:1, colour: red}\n", [/proxies\[0\]\.colour: unknown field/, /red/]],
      ["logLevel: loud\n", [/logLevel/, /loud/]],
      ["maxControlConnections: 0\n", [/maxControlConnections/, /0/]],
      ["tokenFile: ./missing-token\n", [/token file .*missing-token/, /ENOENT/]],
      ["labels: {a: [1]}\n", [/labels\.a/]],
    ];
    for (const [i, [yaml, patterns]] of cases.entries()) {
      const message = await configError(dir, `c${i}.yaml`, yaml);
      assert.ok(message.includes(join(dir, `c${i}.yaml`)) || /--|token file/.test(message), `names the file: ${message}`);
      for (const p of patterns) assert.match(message, p, `${JSON.stringify(yaml)} -> ${message}`);
    }
    // random damage to a good file never throws anything but a ConfigError with the file name
    const good = "control: 127.0.0.1:0\nlabels: {env: test}\nproxies:\n  - {name: pg, listen: 127.0.0.1:0, upstream: 127.0.0.1:5432, maxConnections: 10}\n";
    const rnd = seededRandom(7);
    const junk = ["{", "}", "[", ":", "- ", "\t", "'", '"', "&a", "*a", "!!binary ", "\u0000", "%", "@", "`", "\n  ", "99999", "-1", "~", "<<: *a"];
    for (let i = 0; i < 500; i++) {
      let text = good;
      for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) {
        const at = Math.floor(rnd() * text.length);
        text = text.slice(0, at) + junk[Math.floor(rnd() * junk.length)] + text.slice(at + (rnd() < 0.5 ? 1 : 0));
      }
      const file = join(dir, `r${i}.yaml`);
      writeFileSync(file, text);
      try {
        await loadAgentConfig(flags(file));
      } catch (err) {
        assert.equal((err as Error).name, "ConfigError", `${JSON.stringify(text)}: ${(err as Error).stack}`);
        assert.ok((err as Error).message.includes(file), `names the file: ${(err as Error).message}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("profiles: bad units, unknown fields, malformed YAML and extends cycles are reported by file, line, field and value; good ones still load", async () => {
  const dir = mkdtempSync(join(tmpdir(), "netimpair-prof-"));
  try {
    writeFileSync(join(dir, "units.yaml"), "down:\n  delay: 5 parsecs\n");
    writeFileSync(join(dir, "bw.yaml"), "up:\n  bandwidth: 10 mbps\n");
    writeFileSync(join(dir, "unknown.yaml"), "down:\n  delai: 5ms\n");
    writeFileSync(join(dir, "broken.yaml"), "down: {delay: 5ms\n");
    writeFileSync(join(dir, "loop-a.yaml"), "extends: loop-b\nrtt: 10ms\n");
    writeFileSync(join(dir, "loop-b.yaml"), "extends: loop-a\nrtt: 20ms\n");
    writeFileSync(join(dir, "self.yaml"), "extends: self\n");
    writeFileSync(join(dir, "fine.yaml"), "extends: 3g\nrtt: 123ms\n");
    const registry = await ProfileRegistry.load([dir]);
    const errors = registry.loadErrors.join("\n");
    const expect: [string, RegExp][] = [
      ["units.yaml:2", /down\.delay.*5 parsecs/],
      ["bw.yaml:2", /up\.bandwidth.*10 mbps/],
      ["unknown.yaml:2", /down\.delai/],
      ["broken.yaml", /.+/],
      ["loop-a.yaml", /loop|cycle/i],
      ["loop-b.yaml", /loop|cycle/i],
      ["self.yaml", /self|cycle|loop/i],
    ];
    for (const [where, what] of expect) {
      const line = registry.loadErrors.find((e) => e.includes(join(dir, where)));
      assert.ok(line, `an error for ${where} in:\n${errors}`);
      assert.match(line, what, line);
    }
    for (const bad of ["units", "bw", "unknown", "broken", "loop-a", "loop-b", "self"]) assert.equal(registry.has(bad), false, `${bad} is not loaded`);
    assert.equal(registry.get("fine")?.spec.down.delay, 61.5, "a good file beside bad ones loads");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a running agent asked to take bad input keeps its state: port in use, profile cycles, bad units, unresolvable upstream", async () => {
  const echo = await echoServer();
  const blocker = net.createServer();
  blocker.on("error", () => {});
  blocker.listen(0, "127.0.0.1");
  await once(blocker, "listening");
  const busy = `127.0.0.1:${(blocker.address() as net.AddressInfo).port}`;
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      logs.push(chunk.toString("utf8"));
      cb();
    },
  });
  // at start: a port in use names the proxy and the address
  await assert.rejects(startAgent({ proxies: [{ name: "pg", listen: busy, upstream: echo.address }] }), (err: Error) => {
    assert.match(err.message, /proxies\[0\] \(pg\)/);
    assert.ok(err.message.includes(busy), err.message);
    return true;
  });
  const agent = await startAgent({ logLevel: "info", logDestination: sink, proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address, profile: "4g" }] });
  try {
    const rpc = await RawRpc.open(agent.url);
    const state = async () => JSON.stringify({ proxies: ((await rpc.ok("proxy.list")) as { name: string; listen: string; upstream: string; impairment: unknown }[]).map((p) => [p.name, p.listen, p.upstream, p.impairment]), profiles: await rpc.ok("profile.list") });
    const before = await state();
    const refusals: [string, unknown, number, RegExp][] = [
      ["proxy.create", { name: "other", listen: busy, upstream: echo.address }, -32009, new RegExp(busy.replace(/\./g, "\\."))],
      ["proxy.create", { name: "pg", listen: "127.0.0.1:0", upstream: echo.address }, -32009, /pg.*already exists/],
      ["profile.define", { spec: { name: "loop", extends: "loop" } }, -32602, /loop/],
      ["profile.define", { spec: { name: "clean" } }, -32602, /clean/],
      ["profile.define", { spec: { name: "x", down: { delay: "5 parsecs" } } }, -32602, /5 parsecs/],
      ["impair.apply", { proxy: "pg", profile: "3g", set: { "down.bandwidth": "10 mbps" } }, -32602, /10 mbps/],
      ["impair.apply", { proxy: "pg", spec: { stall: { every: "1s", duration: "2s" } } }, -32602, /stall/],
      ["impair.apply", { proxy: "pg", profile: "3g", ttl: "25d" }, -32602, /ttl/],
      ["proxy.update", { name: "pg", upstream: "nowhere" }, -32602, /nowhere/],
    ];
    for (const [method, params, code, pattern] of refusals) {
      const r = await rpc.call(method, params);
      assert.equal(r.error?.code, code, `${method} ${JSON.stringify(params)}: ${JSON.stringify(r)}`);
      assert.match(JSON.stringify(r.error), pattern);
      assert.equal(await state(), before, `${method} ${JSON.stringify(params)} left the state as it was`);
    }
    // an upstream that does not resolve: the proxy is created (names may resolve later), each
    // client is reset, and the log says why
    await rpc.ok("proxy.create", { name: "ghost", listen: "127.0.0.1:0", upstream: "no-such-host.invalid:5432" });
    const ghost = ((await rpc.ok("proxy.list")) as { name: string; listen: string }[]).find((p) => p.name === "ghost")!;
    const s = net.connect({ host: "127.0.0.1", port: Number(ghost.listen.split(":")[1]) });
    const outcome = await new Promise<string>((resolve) => {
      s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
      s.on("close", () => resolve("closed"));
    });
    assert.ok(outcome === "ECONNRESET" || outcome === "closed", outcome);
    await new Promise((r) => setTimeout(r, 100));
    const closeLine = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === "connection.close" && l.proxy === "ghost");
    assert.ok(closeLine, "the failed connection is logged");
    assert.match(String(closeLine.error), /ENOTFOUND|EAI_AGAIN/, JSON.stringify(closeLine));
    assert.equal(((await rpc.ok("agent.info")) as { proxies: unknown[] }).proxies.length, 2);
    await rpc.close();
  } finally {
    await agent.close();
    await echo.close();
    blocker.close();
  }
});
