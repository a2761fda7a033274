// When a connection stops being parsed (requests off: redis SUBSCRIBE puts it in push mode),
// injected answers still owed reach the client in order first: a client never takes the next
// reply for the answer to another command. Raw RESP through an agent started by the CLI, real Redis.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import type { CliAgent } from "../support/protocol-agent.js";
import { useRedisProxyRig } from "../support/redis-proxy-rig.js";

const prefix = `t_reqoff_${process.pid}_${randomBytes(3).toString("hex")}:`;
const resp = (...words: string[]): string => `*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join("")}`;

describe("requests off: injected answers still queued go first, in order (redis, CLI agent)", () => {
  const rig = useRedisProxyRig(prefix);
  let agent: CliAgent;
  let admin: Redis;
  before(() => {
    agent = rig.agent();
    admin = rig.admin();
  });

  test("BLPOP (answer pending) + a failed SET, then SUBSCRIBE: nil, the error, then the subscribe reply", async () => {
    await agent.ctl.apply("rd", undefined, { spec: { requests: [{ match: { command: "SET", key: `${prefix}bad` }, fail: { error: "OOM" } }] } });
    const s = net.connect({ host: "127.0.0.1", port: agent.port("rd") });
    await new Promise<void>((resolve, reject) => {
      s.once("connect", resolve);
      s.once("error", reject);
    });
    let heard = "";
    s.on("data", (d: Buffer) => (heard += d.toString("latin1")));
    // the server answers BLPOP after 1 s; the SET's error is owed behind it
    s.write(resp("BLPOP", `${prefix}list`, "1") + resp("SET", `${prefix}bad`, "1"));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(heard, "", "nothing yet: the error waits for BLPOP's answer");
    s.write(resp("SUBSCRIBE", `${prefix}ch`));
    const subscribed = `*3\r\n$9\r\nsubscribe\r\n$${prefix.length + 2}\r\n${prefix}ch\r\n:1\r\n`;
    const want = `*-1\r\n-OOM command not allowed when used memory > 'maxmemory'.\r\n${subscribed}`;
    for (let waited = 0; heard.length < want.length && waited < 5000; waited += 25) await new Promise((r) => setTimeout(r, 25));
    assert.equal(heard, want);
    assert.equal(await admin.exists(`${prefix}bad`), 0, "the failed SET never reached the server");
    const conn = (await agent.ctl.connections("rd"))[0]!;
    assert.match(conn.requestsOff ?? "", /SUBSCRIBE/);
    s.destroy();
    await agent.ctl.clear("rd");
  });
});
