// The Host allow-list against DNS rebinding (pure), and allowHosts / --allow-host in the config.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HostAllowList, hostnameOf } from "../../src/agent/host-check.js";
import { loadAgentConfig, ConfigError } from "../../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "netimpair-hosts-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("Host names: loopback names, IP literals, the bound address and allowHosts pass; other names do not", () => {
  const list = new HostAllowList(["dash.example.com", ".corp.example"], "agent.internal");
  for (const ok of ["localhost:8474", "LOCALHOST", "app.localhost:1", "127.0.0.1:8474", "127.9.9.9", "[::1]:8474", "10.1.2.3:80", "dash.example.com:8474", "Dash.Example.Com.", "corp.example", "a.b.corp.example:1", "agent.internal:8474"])
    assert.equal(list.allows(ok), true, ok);
  for (const bad of ["evil.example:8474", "dash.example.com.evil.example", "xcorp.example", "localhost.evil.example", "sub.dash.example.com", "", "[::1", "a b", "localhost:80:80", "[evil]:80"])
    assert.equal(list.allows(bad), false, JSON.stringify(bad));
  assert.equal(new HostAllowList(["*"]).allows("anything.example:1"), true);
  assert.equal(hostnameOf("[::1]:80"), "::1");
  assert.equal(hostnameOf("Example.COM.:443"), "example.com");
});

test("allowHosts and --allow-host: merged, and a bad entry is named with its field", async () => {
  const cfg = join(dir, "agent.yaml");
  writeFileSync(cfg, "allowHosts: [dash.example.com, .corp.example]\n");
  const c = await loadAgentConfig({ config: cfg, proxy: [], label: [], allowOrigin: [], allowHost: ["box.lan"] });
  assert.deepEqual(c.allowHosts, ["dash.example.com", ".corp.example", "box.lan"]);
  writeFileSync(cfg, "allowHosts: [ok.example, 'http://bad.example', 7]\n");
  await assert.rejects(
    loadAgentConfig({ config: cfg, proxy: [], label: [], allowOrigin: [], allowHost: ["has space"] }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /allowHosts\[1\]: expected a host name .*"http:\/\/bad\.example"/);
      assert.match(err.message, /allowHosts\[2\]: expected a host name .*7/);
      assert.match(err.message, /--allow-host: expected a host name .*"has space"/);
      return true;
    },
  );
  writeFileSync(cfg, "allowHosts: dash.example.com\n");
  await assert.rejects(loadAgentConfig({ config: cfg, proxy: [], label: [], allowOrigin: [] }), /allowHosts: expected a list of host names/);
});
