// Hostile clients of a redis proxy (issue 23, item 5): commands written in the same chunk as
// SUBSCRIBE, PSUBSCRIBE or MONITOR are requests like any other: a rule on them acts, and the
// real server holds nothing they would have written.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { REDIS, requireService, serviceAddress } from "../support/services.js";
import { startProxyRig, type ProxyRig } from "../protocols/rig.js";

const prefix = `t_hostile_${process.pid}_${randomBytes(3).toString("hex")}:`;

function resp(...words: string[]): string {
  return `*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join("")}`;
}

/** Writes `bytes` in one write; resolves with what came back once `expect` is in it (or 3 s). */
async function oneWrite(port: number, bytes: string, expect: RegExp): Promise<string> {
  const s = net.connect(port, "127.0.0.1");
  await once(s, "connect");
  let got = "";
  s.setEncoding("latin1");
  s.on("error", () => undefined);
  const done = new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 3000);
    s.on("data", (d: string) => {
      got += d;
      if (expect.test(got)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  s.write(bytes);
  await done;
  s.destroy();
  return got;
}

describe("hostile clients of a redis proxy", () => {
  let rig: ProxyRig;
  let admin: Redis;

  before(async () => {
    await requireService(REDIS);
    rig = await startProxyRig("rd", serviceAddress(REDIS), "redis");
    admin = new Redis({ host: REDIS.host, port: REDIS.port });
    admin.on("error", () => undefined);
  });

  after(async () => {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    admin.disconnect();
    if (rig) await rig.close();
  });

  test("item 5: SET + SUBSCRIBE (and PSUBSCRIBE, MONITOR, inline) in one write: the SET meets its rule, the key is not set", async () => {
    await rig.apply(undefined, { spec: { requests: [{ match: { command: "SET", key: `${prefix}fail:*` }, fail: { error: "OOM" } }] } });
    try {
      const cases: Array<[string, string, RegExp]> = [
        ["SUBSCRIBE", resp("SET", `${prefix}fail:sub`, "1") + resp("SUBSCRIBE", `${prefix}ch`), /subscribe/],
        ["PSUBSCRIBE", resp("SET", `${prefix}fail:psub`, "1") + resp("PSUBSCRIBE", `${prefix}p*`), /psubscribe/],
        ["MONITOR", resp("SET", `${prefix}fail:mon`, "1") + resp("MONITOR"), /\+OK/],
        ["inline SUBSCRIBE", `SET ${prefix}fail:inline 1\r\nSUBSCRIBE ${prefix}ch\r\n`, /subscribe/],
        ["after a forwarded command", resp("SET", `${prefix}ok:a`, "1") + resp("SET", `${prefix}fail:after`, "1") + resp("SUBSCRIBE", `${prefix}ch`), /subscribe/],
      ];
      for (const [name, bytes, expect] of cases) {
        const got = await oneWrite(rig.port, bytes, expect);
        assert.match(got, /-OOM command not allowed/, `${name}: ${JSON.stringify(got)}`);
        assert.match(got, expect, `${name}: the push command still went through: ${JSON.stringify(got)}`);
      }
      assert.deepEqual(await admin.keys(`${prefix}fail:*`), [], "the server holds no key a failed SET would have written");
      assert.equal(await admin.get(`${prefix}ok:a`), "1", "the forwarded SET before it did write");
    } finally {
      await rig.clear();
    }
  });
});
