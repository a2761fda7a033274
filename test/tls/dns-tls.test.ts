// DNS over TLS on a dns proxy's TCP side (tls.client auto, the CLI agent in front of a real
// dnsmasq): dig +tls verifying the agent's CA gets the server's answer and feels a SERVFAIL rule,
// UDP on the same port stays plain; a udp proxy refuses tls, a dns proxy refuses tls.upstream
// (its UDP queries cannot go over TLS), each naming the side and why.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dig, startDnsmasq, type Dnsmasq } from "../support/dns-peers.js";
import { startCliAgent, type CliAgent } from "../support/protocol-agent.js";
import { runCli } from "../support/cli.js";

describe("dns over TLS (tls.client auto on a dns proxy, CLI agent)", () => {
  let dir: string;
  let dnsmasq: Dnsmasq;
  let agent: CliAgent;
  let caFile: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "netimpair-tls-dns-"));
    dnsmasq = await startDnsmasq();
    agent = await startCliAgent([`ns=127.0.0.1:0,127.0.0.1:${dnsmasq.port},dns`], ["--proxy-tls", "ns=client:auto", "--state-dir", join(dir, "state"), "--log-level", "info"]);
    caFile = join(dir, "ca.pem");
    const out = await runCli(["ca", "--out", caFile, "--agent", agent.url]);
    assert.equal(out.code, 0, out.stderr);
  });

  after(async () => {
    await agent?.close();
    await dnsmasq?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("dig +tls verifying the agent's CA gets the server's answer and feels a rule; UDP stays plain", async () => {
    const port = agent.port("ns");
    const tls = ["+tls", `+tls-ca=${caFile}`];
    const clean = await dig(port, "a.x.test", "A", tls);
    assert.equal(clean.status, "NOERROR", clean.stdout);
    assert.match(clean.answers.join(";"), /^(A )?127\.0\.0\.5$/);
    await agent.ctl.apply("ns", undefined, { spec: { requests: [{ match: { name: "fail.x.test" }, fail: "SERVFAIL" }] } });
    try {
      const failed = await dig(port, "fail.x.test", "A", tls);
      assert.equal(failed.status, "SERVFAIL", failed.stdout);
      assert.match((await dig(port, "b.x.test", "A", tls)).answers.join(";"), /^(A )?127\.0\.0\.5$/);
      const udp = await dig(port, "fail.x.test");
      assert.equal(udp.status, "SERVFAIL", "the rule acts on UDP too");
      assert.match((await dig(port, "c.x.test")).answers.join(";"), /^(A )?127\.0\.0\.5$/);
    } finally {
      await agent.ctl.clear("ns");
    }
    // a client that does not trust the agent's CA gets no answer over TLS
    const untrusted = await dig(port, "a.x.test", "A", ["+tls", "+tls-ca"]);
    assert.notEqual(untrusted.status, "NOERROR", untrusted.stdout);
  });

  test("tls on a udp proxy, and tls.upstream on a dns proxy, are refused naming the side and why", async () => {
    const udp = await runCli(["proxy", "add", "u", "--listen", "127.0.0.1:0", "--upstream", `127.0.0.1:${dnsmasq.port}`, "--protocol", "udp", "--tls-client", "auto", "--agent", agent.url]);
    assert.notEqual(udp.code, 0);
    assert.match(udp.stderr, /proxy u: client side: a udp proxy carries datagrams and TLS needs a stream/);
    const up = await runCli(["proxy", "add", "d2", "--listen", "127.0.0.1:0", "--upstream", `127.0.0.1:${dnsmasq.port}`, "--protocol", "dns", "--tls-upstream", "verify", "--agent", agent.url]);
    assert.notEqual(up.code, 0);
    assert.match(up.stderr, /proxy d2: upstream side: a dns proxy sends its clients' UDP queries/);
    assert.deepEqual((await agent.proxies()).map((p) => p.name), ["ns"], "nothing was made");
  });
});
