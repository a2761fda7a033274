// The dns proxy in front of a real dnsmasq, asked by real resolvers: dig (UDP and +tcp), node's
// dns.Resolver (c-ares) and dnspython. Each rule action as the resolver reports it; names no rule
// takes answer byte for byte as the server answered.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import dgram from "node:dgram";
import net from "node:net";
import { Resolver } from "node:dns/promises";
import dnsPacket from "dns-packet";
import { connect, startAgent, type ControlClient, type RunningAgent } from "../../src/index.js";
import { parseHostPort } from "../../src/relay/address.js";
import { dig, dnspython, startDnsmasq, type Dnsmasq } from "../support/dns-peers.js";

const RULES = [
  { match: { name: "fail.x.test" }, fail: "SERVFAIL" },
  { match: { name: "nx.x.test" }, fail: "NXDOMAIN" },
  { match: { name: "refused.x.test" }, fail: { rcode: "REFUSED" } },
  { match: { name: "empty.x.test" }, answer: "empty" },
  { match: { name: "wrong.x.test", type: "A" }, answer: { records: [{ type: "A", data: "127.0.0.9", ttl: 5 }] } },
  { match: { name: "tc.x.test" }, truncate: true },
  { match: { name: "slow.x.test" }, delay: "400ms" },
  { match: { name: "six.x.test", type: "AAAA" }, fail: "SERVFAIL" },
  { match: { name: "*.glob.X.TEST" }, fail: "NXDOMAIN" },
];

/** One raw query over UDP to 127.0.0.1:port; resolves with the answer's bytes. */
function udpQuery(port: number, query: Buffer, timeoutMs = 2000): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const s = dgram.createSocket("udp4");
    const t = setTimeout(() => {
      s.close();
      resolve(null);
    }, timeoutMs);
    s.on("message", (m) => {
      clearTimeout(t);
      s.close();
      resolve(m);
    });
    s.send(query, port, "127.0.0.1");
  });
}

/** One raw query over TCP (length-prefixed); resolves with the answer's bytes (no prefix). */
function tcpQuery(port: number, query: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(query.length);
    s.write(Buffer.concat([prefix, query]));
    let got = Buffer.alloc(0);
    s.on("data", (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
        s.destroy();
        resolve(got.subarray(2, 2 + got.readUInt16BE(0)));
      }
    });
    s.on("error", reject);
  });
}

function query(name: string, type: "A" | "AAAA" | "TXT" = "A", id = 4242): Buffer {
  return dnsPacket.encode({ type: "query", id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] });
}

describe("dns proxy in front of dnsmasq", () => {
  let dnsmasq: Dnsmasq;
  let agent: RunningAgent;
  let ctl: ControlClient;
  let port: number;

  before(async () => {
    dnsmasq = await startDnsmasq({ hostRecords: ["host.y.test,127.0.0.7,::7"], txt: ["txt.y.test,hello world"] });
    agent = await startAgent({ control: "127.0.0.1:0", proxies: [{ name: "dns", listen: "127.0.0.1:0", upstream: `127.0.0.1:${dnsmasq.port}`, protocol: "dns" }] });
    ctl = await connect(agent.url);
    const p = (await ctl.proxies()).find((x) => x.name === "dns")!;
    const hp = parseHostPort(p.listen);
    assert.ok(typeof hp !== "string");
    port = hp.port;
  });
  after(async () => {
    await ctl?.close();
    await agent?.close();
    await dnsmasq?.close();
  });

  it("passes names no rule takes byte for byte, over UDP and TCP, with and without rules", async () => {
    for (const [name, type] of [["host.y.test", "A"], ["host.y.test", "AAAA"], ["txt.y.test", "TXT"], ["none.y.test", "A"]] as const) {
      const q = query(name, type);
      const direct = await udpQuery(dnsmasq.port, q);
      const clean = await udpQuery(port, q);
      assert.ok(direct !== null && clean !== null);
      assert.deepEqual(clean, direct, `${name} ${type} over UDP, no rules`);
      assert.deepEqual(await tcpQuery(port, q), await tcpQuery(dnsmasq.port, q), `${name} ${type} over TCP, no rules`);
    }
    await ctl.apply("dns", undefined, { spec: { requests: RULES } });
    try {
      const q = query("host.y.test", "A", 777);
      assert.deepEqual(await udpQuery(port, q), await udpQuery(dnsmasq.port, q), "no rule takes host.y.test: bytes as the server gave them");
      assert.deepEqual(await tcpQuery(port, q), await tcpQuery(dnsmasq.port, q));
    } finally {
      await ctl.clear("dns");
    }
  });

  it("dig sees each action over UDP and over TCP; a truncated answer makes it retry over TCP and get the real one", async () => {
    await ctl.apply("dns", undefined, { spec: { requests: RULES } });
    try {
      const fail = await dig(port, "fail.x.test");
      assert.equal(fail.status, "SERVFAIL");
      assert.equal((await dig(port, "fail.x.test", "A", ["+tcp"])).status, "SERVFAIL", "the same rule over TCP");
      assert.equal((await dig(port, "nx.x.test")).status, "NXDOMAIN");
      assert.equal((await dig(port, "refused.x.test")).status, "REFUSED");
      const empty = await dig(port, "empty.x.test");
      assert.equal(empty.status, "NOERROR");
      assert.deepEqual(empty.answers, []);
      const wrong = await dig(port, "wrong.x.test");
      assert.deepEqual(wrong.answers, ["A 127.0.0.9"]);
      assert.deepEqual((await dig(port, "wrong.x.test", "A", ["+tcp"])).answers, ["A 127.0.0.9"]);
      const tc = await dig(port, "tc.x.test");
      assert.ok(tc.retriedTcp, `dig retried over TCP:\n${tc.stdout}`);
      assert.deepEqual(tc.answers, ["A 127.0.0.5"], "over TCP the query passed to dnsmasq");
      const notc = await dig(port, "tc.x.test", "A", ["+ignore"]);
      assert.match(notc.flags, /\btc\b/, "over UDP the answer has TC set");
      assert.deepEqual(notc.answers, []);
      // type and glob matching: AAAA fails, A passes; the glob is case-insensitive
      assert.equal((await dig(port, "six.x.test", "AAAA")).status, "SERVFAIL");
      assert.deepEqual((await dig(port, "six.x.test", "A")).answers, ["A 127.0.0.5"]);
      assert.equal((await dig(port, "a.b.glob.x.test")).status, "NXDOMAIN");
      assert.equal((await dig(port, "A.GLOB.x.test")).status, "NXDOMAIN");
      assert.deepEqual((await dig(port, "glob.x.test")).answers, ["A 127.0.0.5"], "*.glob.x.test does not take glob.x.test");
      const t0 = Date.now();
      assert.deepEqual((await dig(port, "slow.x.test")).answers, ["A 127.0.0.5"]);
      assert.ok(Date.now() - t0 >= 380, `delay held the query ${Date.now() - t0} ms`);
    } finally {
      await ctl.clear("dns");
    }
    const stats = (await ctl.proxies()).find((p) => p.name === "dns")!.stats;
    assert.ok(stats.requests.failed >= 9, `requests failed counted: ${JSON.stringify(stats.requests)}`);
    assert.ok(stats.requests.delayed >= 1);
    assert.ok(stats.datagrams !== undefined && stats.datagrams.up.in > 0 && stats.datagrams.down.out > 0, JSON.stringify(stats.datagrams));
  });

  it("node's dns.Resolver (c-ares) reports ESERVFAIL, ENOTFOUND, ENODATA, the wrong address, and a lost answer as ETIMEOUT then its retry", async () => {
    const resolver = (tries: number) => {
      const r = new Resolver({ timeout: 700, tries });
      r.setServers([`127.0.0.1:${port}`]);
      return r;
    };
    const r = resolver(1);
    const code = (p: Promise<unknown>) => p.then(() => "ok", (e: NodeJS.ErrnoException) => e.code);
    await ctl.apply("dns", undefined, { spec: { requests: [...RULES, { match: { name: "lost.x.test" }, lose: "response" }] } });
    try {
      assert.equal(await code(r.resolve4("fail.x.test")), "ESERVFAIL");
      assert.equal(await code(r.resolve4("nx.x.test")), "ENOTFOUND");
      assert.equal(await code(r.resolve4("empty.x.test")), "ENODATA");
      assert.deepEqual(await r.resolve4("wrong.x.test"), ["127.0.0.9"]);
      assert.deepEqual(await r.resolve4("tc.x.test"), ["127.0.0.5"], "c-ares retries a truncated answer over TCP");
      assert.deepEqual(await r.resolve4("other.x.test"), ["127.0.0.5"]);
      assert.equal(await code(r.resolve4("lost.x.test")), "ETIMEOUT");
    } finally {
      await ctl.clear("dns");
    }
    // one lost answer: the resolver's retry gets the real one
    await ctl.apply("dns", undefined, { spec: { requests: [{ match: { name: "once.x.test" }, lose: "response", times: 1 }] } });
    try {
      const t0 = Date.now();
      assert.deepEqual(await resolver(3).resolve4("once.x.test"), ["127.0.0.5"]);
      assert.ok(Date.now() - t0 >= 600, `the answer came after the first try timed out (${Date.now() - t0} ms)`);
    } finally {
      await ctl.clear("dns");
    }
    const stats = (await ctl.proxies()).find((p) => p.name === "dns")!.stats;
    assert.ok((stats.datagrams?.down.dropped.lose ?? 0) >= 2, `the lost answers were dropped: ${JSON.stringify(stats.datagrams?.down)}`);
  });

  it("dnspython sees the same: NoNameservers for SERVFAIL, NXDOMAIN, NoAnswer, the wrong address, the TCP retry", async () => {
    await ctl.apply("dns", undefined, { spec: { requests: RULES } });
    try {
      const got = await dnspython(port, [
        ["fail.x.test", "A"],
        ["nx.x.test", "A"],
        ["empty.x.test", "A"],
        ["wrong.x.test", "A"],
        ["tc.x.test", "A"],
        ["host.y.test", "AAAA"],
      ]);
      assert.deepEqual(got, ["NoNameservers", "NXDOMAIN", "NoAnswer", "127.0.0.9", "127.0.0.5", "::7"]);
    } finally {
      await ctl.clear("dns");
    }
  });

  it("shows UDP flows in the connection list, and refuses bad rules and TCP-only faults naming the field", async () => {
    const s = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", () => resolve()));
    try {
      s.send(query("host.y.test"), port, "127.0.0.1");
      await new Promise<void>((resolve) => s.once("message", () => resolve()));
      const conns = await ctl.connections("dns");
      const mine = conns.find((c) => c.client === `127.0.0.1:${s.address().port}`);
      assert.ok(mine, `flow listed: ${JSON.stringify(conns)}`);
      assert.equal(mine.transport, "udp");
      assert.equal(mine.datagramsUp, 1);
      assert.equal(mine.datagramsDown, 1);
    } finally {
      s.close();
    }
    const refused = async (spec: Record<string, unknown>, path: RegExp) => {
      await assert.rejects(ctl.apply("dns", undefined, { spec }), (err: Error & { data?: unknown }) => {
        assert.match(JSON.stringify(err.data ?? err.message), path);
        return true;
      });
    };
    await refused({ requests: [{ match: { name: "a" }, fail: "BOGUS" }] }, /requests\[0\]\.fail.*SERVFAIL \| NXDOMAIN/);
    await refused({ requests: [{ match: { name: "a" }, answer: { records: [{ type: "A", data: "nope" }] } }] }, /requests\[0\]\.answer\.records\[0\]\.data/);
    await refused({ requests: [{ match: { name: "a" }, reset: true }] }, /cannot reset/);
    await refused({ requests: [{ match: { host: "a" }, fail: "SERVFAIL" }] }, /match\.host/);
    await refused({ reset: { probability: 1 } }, /"params\.reset".*only means something on a TCP connection/);
    await refused({ halfOpen: { probability: 1 } }, /halfOpen/);
    await refused({ limit: { bytes: "1kb" } }, /limit/);
    // the agent still answers
    assert.deepEqual((await dig(port, "host.y.test")).answers, ["A 127.0.0.7"]);
  });
});
