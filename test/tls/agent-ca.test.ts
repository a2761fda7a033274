// The agent's CA: made on first need under --state-dir with its key 0600, the same CA after a
// restart, only the certificate served (agent.ca, `netimpair ca`), or given with --ca-cert/--ca-key;
// TLS set from a config file (paths relative to it) and changed with `proxy update --tls-client`.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import tls from "node:tls";
import net from "node:net";
import { once } from "node:events";
import { startCliAgent } from "../support/protocol-agent.js";
import { runCli } from "../support/cli.js";
import { createCa, issue } from "../../src/tls/certificates.js";

const HOUR = 3600_000;

/** The certificate a TLS client gets from a proxy port (verified with `ca`). */
async function served(port: number, ca: string, servername?: string): Promise<X509Certificate> {
  const s = tls.connect({ host: "127.0.0.1", port, ca, ...(servername !== undefined ? { servername } : {}) });
  await once(s, "secureConnect");
  const der = s.getPeerCertificate().raw;
  s.destroy();
  return new X509Certificate(der);
}

describe("the agent CA", () => {
  const dirs: string[] = [];
  // an upstream that takes connections and holds them (a refused dial would reset the client
  // before it reads the certificate)
  const held = new Set<net.Socket>();
  const upstream = net.createServer((s) => {
    held.add(s);
    s.on("error", () => {});
    s.on("close", () => held.delete(s));
  });
  let upstreamAddr = "";
  before(async () => {
    upstream.listen(0, "127.0.0.1");
    await once(upstream, "listening");
    upstreamAddr = `127.0.0.1:${(upstream.address() as net.AddressInfo).port}`;
  });
  after(async () => {
    for (const s of held) s.destroy();
    upstream.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test("made once under --state-dir (key 0600), reused after a restart; leaves for the listen address and for SNI names; only the certificate is served", async () => {
    const dir = await mkdtemp(join(tmpdir(), "netimpair-ca-"));
    dirs.push(dir);
    const state = join(dir, "state");
    const args = ["--proxy", `echo=127.0.0.1:0,${upstreamAddr},tcp`, "--proxy-tls", "echo=client:auto", "--state-dir", state];
    const first = await startCliAgent([], args);
    let pem: string;
    try {
      const key = await stat(join(state, "ca-key.pem"));
      assert.equal(key.mode & 0o777, 0o600);
      pem = (await first.ctl.caCertificate()).certificate;
      assert.equal(pem, await readFile(join(state, "ca.pem"), "utf8"));
      assert.ok(!pem.includes("PRIVATE KEY"));
      const byAddress = await served(first.port("echo"), pem);
      assert.match(byAddress.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
      const byName = await served(first.port("echo"), pem, "db.staging.internal");
      assert.match(byName.subjectAltName ?? "", /DNS:db\.staging\.internal/);
      // short lived: a day, not years
      assert.ok(new Date(byName.validTo).getTime() - Date.now() <= 25 * HOUR);
    } finally {
      await first.close();
    }
    const second = await startCliAgent([], args);
    try {
      assert.equal((await second.ctl.caCertificate()).certificate, pem);
      const out = await runCli(["ca", "--agent", second.url]);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout.trim(), pem.trim());
      assert.match(second.stderr(), /agent CA loaded/);
    } finally {
      await second.close();
    }
  });

  test("--ca-cert/--ca-key: leaves are signed by the given CA; a YAML proxy's tls paths are relative to the file; proxy update --tls-client changes it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "netimpair-ca-"));
    dirs.push(dir);
    const now = Date.now();
    const ca = createCa("given CA", new Date(now - HOUR), new Date(now + 24 * HOUR));
    await writeFile(join(dir, "ca.pem"), ca.cert);
    await writeFile(join(dir, "ca-key.pem"), ca.key, { mode: 0o600 });
    const own = issue(ca, { names: ["own.example"], notBefore: new Date(now - HOUR), notAfter: new Date(now + 24 * HOUR) });
    await writeFile(join(dir, "own.pem"), own.cert);
    await writeFile(join(dir, "own-key.pem"), own.key, { mode: 0o600 });
    await writeFile(
      join(dir, "agent.yaml"),
      ["proxies:", "  - name: given", "    listen: 127.0.0.1:0", `    upstream: ${upstreamAddr}`, "    tls:", "      client: {cert: own.pem, key: own-key.pem}", "  - name: auto", "    listen: 127.0.0.1:0", `    upstream: ${upstreamAddr}`, "    tls: {client: auto}", ""].join("\n"),
    );
    const agent = await startCliAgent([], ["--config", join(dir, "agent.yaml"), "--ca-cert", join(dir, "ca.pem"), "--ca-key", join(dir, "ca-key.pem"), "--state-dir", join(dir, "unused")]);
    try {
      assert.match((await served(agent.port("given"), ca.cert, "own.example")).subject, /CN=own\.example/);
      const leaf = await served(agent.port("auto"), ca.cert);
      assert.ok(leaf.checkIssued(new X509Certificate(ca.cert)));
      await stat(join(dir, "unused")).then(
        () => assert.fail("no CA is made under --state-dir when --ca-cert is given"),
        () => undefined,
      );
      const upd = await runCli(["proxy", "update", "given", "--tls-client", "auto", "--agent", agent.url]);
      assert.equal(upd.code, 0, upd.stderr);
      assert.match(upd.stdout, /tls\(client auto\)/);
      assert.match((await served(agent.port("given"), ca.cert)).subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
      const bad = await runCli(["proxy", "update", "given", "--tls-client", `cert=${join(dir, "own.pem")},key=${join(dir, "ca-key.pem")}`, "--agent", agent.url]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /proxy given: client side: the key does not belong to the certificate/);
    } finally {
      await agent.close();
    }
  });
});
